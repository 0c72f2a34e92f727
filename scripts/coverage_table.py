"""Accuracy of the exported models when the input covers less of the contract's range.

    python scripts/coverage_table.py                 # every model below -> docs/results/coverage_<model>.json
    python scripts/coverage_table.py autoclassmk     # one model
    python -m evaluation.render                      # the tables of docs/ (evaluation/generic.py, coverage_<model>)

For each model, a fixed test set is given with 0, 25, 50 and 100 A missing at
the blue end, the red end and both ends (flux 0 there: the contract's mark of a
missing pixel), through ``load_model(name, backend="onnx").predict`` — the
path a user's spectrum takes (edge guard, resampling, normalization, one fill
stage).  Test sets, neither seen in training:

- AutoClassMK (both variants): libr18_27, 5 augmentations per spectrum with the
  paper's Sec. II perturbations (seed 7), the trained spectral classes only;
  spectral- and luminosity-class accuracy.
- APOGEE Net, StarNet: 300 raw-like simulated apStar spectra (seed 2024, a
  seed no training run uses); scatter (std of predicted - true) of Teff, log g,
  [Fe/H].
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo.errors import SpectrumError  # noqa: E402

CUTS = (0.0, 25.0, 50.0, 100.0)
ENDS = ("blue", "red", "both")
#: The APOGEE Net / StarNet test set: this many simulated apStar spectra, drawn with this seed (no training run uses it).
APOGEE_N, APOGEE_SEED = 300, 2024


def _cut(flux, wave, d, end):
    f = np.array(flux, float, copy=True)
    lo, hi = wave.min(), wave.max()
    if end in ("blue", "both"):
        f[..., wave < lo + d] = 0.0
    if end in ("red", "both"):
        f[..., wave > hi - d] = 0.0
    return f


def mk_test_set(model):
    from zoo.families.autoclassmk.atlas import load_atlas
    from zoo.families.autoclassmk.augment import AugmentConfig, augment_dataset
    from zoo.registry import get_entry
    card = model.card
    classes = card.output("spectral_class").classes
    atlas = load_atlas("libr18_27")
    atlas = atlas.subset(np.isin(atlas.spectral_type, classes), reason="class not trained")
    labels = {"spectral_class": atlas.spectral_type, "luminosity_class": atlas.luminosity_class}
    cfg = AugmentConfig(**get_entry("autoclassmk").recipe.augmentation())   # the paper's test protocol
    x, y, _ = augment_dataset(atlas.flux, labels, card.input.wavelength(), 5, 7, cfg, atlas.mask,
                              card.input.fill_value)
    return x, card.input.wavelength(), y


def mk_row(model, x, wave, y, d, end):
    pred = model.predict(_cut(x, wave, d, end), wavelength=wave)
    return {h: float(np.mean(pred[h] == y[h])) for h in ("spectral_class", "luminosity_class")}


def apogee_test_set(model):
    from zoo.families.apogeenet.simulate import simulate_apogee
    from zoo.families.apogeenet.apstar import apstar_wavelength
    sim = simulate_apogee(APOGEE_N, seed=APOGEE_SEED)
    return sim, apstar_wavelength().value


def apogee_row(model, sim, wave, d, end):
    # the observed range of apStar spectra is the chips (the grid ends are empty)
    from zoo.families.apogeenet.apstar import APSTAR_CHIP_SLICES
    lo, hi = wave[APSTAR_CHIP_SLICES[0].start], wave[APSTAR_CHIP_SLICES[-1].stop - 1]
    f = np.array(sim.flux, float, copy=True)
    if end in ("blue", "both"):
        f[:, wave < lo + d] = 0.0
    if end in ("red", "both"):
        f[:, wave > hi - d] = 0.0
    pred = model.predict(f, wavelength=wave, error=sim.error, mask=sim.mask, medium="vacuum")
    out = {}
    for j, lab in enumerate(("teff", "logg", "feh")):
        out[lab] = float(np.std(pred[lab] - sim.labels[:, j]))
    return out


def rows(name) -> dict:
    """The model's rows (missing Angstrom, end, figures or ``refused``) on its fixed test set."""
    model = zoo.load_model(name, backend="onnx")
    out = []
    if "spectral_class" in model.card.output_names:
        x, wave, y = mk_test_set(model)
        kind, n, fn = "classes", len(x), lambda d, end: mk_row(model, x, wave, y, d, end)
    else:
        sim, wave = apogee_test_set(model)
        kind, n, fn = "labels", len(sim), lambda d, end: apogee_row(model, sim, wave, d, end)
    for d in CUTS:
        for end in (ENDS if d else ("none",)):
            try:
                out.append({"missing_A": d, "end": end, **fn(d, end)})
            except SpectrumError as exc:
                out.append({"missing_A": d, "end": end, "refused": type(exc).__name__})
    return {"model": name, "kind": kind, "n_spectra": n, "backend": "onnx", "rows": out}


def main(argv):
    import json

    from training.common import recorded_result
    names = argv or ["autoclassmk", "autoclassmk_broad", "apogeenet", "starnet"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in names:
        t0, load = time.time(), round(os.getloadavg()[0], 2)
        res = recorded_result(f"python scripts/coverage_table.py {name}", t0, load, rows(name))
        path = os.path.join(root, "docs", "results", f"coverage_{name}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1)
        print(f"{name}: {res['duration_s']:.0f} s, load {load} -> {os.path.relpath(path, root)}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1:])
