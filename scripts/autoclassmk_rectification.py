"""AutoClassMK on flux-calibrated input: the rectification step ``mk_rectify``, measured.

    python scripts/autoclassmk_rectification.py            # tables on stdout (~6 min on 2 cores)
    python scripts/autoclassmk_rectification.py --record   # ... and docs/results/autoclassmk_rectification.json,
                                                           # rendered into docs/autoclassmk.md (evaluation/autoclassmk.py)

Test spectra: libr18_27 (the test atlas; the trained spectral classes), 5
augmentations per spectrum with the paper's Sec. II perturbations (seed 7),
each then multiplied by a smooth spectral energy distribution
(:func:`zoo.families.autoclassmk.rectify.smooth_sed`: a blackbody at the spectral
class's approximate Teff times a random smooth instrument response
``exp(a1 u + a2 u^2 + a3 u^3)``, ``a ~ N(0, (0.3, 0.2, 0.1))``, at a flux
level of 1e-17..1e-13).  Each exported model (ONNX) then types

1. the atlas spectra as rectified by the atlas: as in the card's test protocol (missing
   pixels already filled with the continuum) and, the like-for-like reference, with the
   missing pixels marked (flux 0 and ``mask``) as the flux-calibrated input must have them
   (the contract's edge guard then also hides the 6 A next to each missing run);
2. the flux-calibrated spectra through ``predict(..., instrument="flux_calibrated")``
   (``mk_rectify``: upper envelope, then the continuum placed by the best-matching
   libr18 standard).  The test stars are libr18 standards themselves, so that
   step finds their own star;
3. the same with each spectrum's own star left out of the standards
   (``rectify_to_atlas(..., exclude=own)``): what a star that is not a standard
   gets, the honest number;
4. the upper envelope alone (``refine=False``), for comparison.

Accuracies are given with 95 % bootstrap intervals over stars.  Then, as the
out-of-domain check for this path, the known-outside kinds of
``scripts/trust_inputs.py`` (M stars, white dwarfs, emission-line stars,
galaxies, noise) multiplied by such SEDs (random Teff 3000-40000 K) go through
the same path: how many are flagged (or refused).  Last, the real LAMOST
spectra bundled in ``zoo/data/lamost`` (flux-calibrated as delivered) through
the path, beside the LAMOST pipeline's types.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo.errors import SpectrumError  # noqa: E402
from zoo.families.autoclassmk.grouped_cv import bootstrap_accuracy  # noqa: E402
from zoo.families.autoclassmk.rectify import INSTRUMENT, TEFF, rectify_to_atlas, smooth_sed  # noqa: E402

MODELS = ("autoclassmk", "autoclassmk_broad")
VARIANTS, SEED = 5, 7


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def test_set():
    from zoo.families.autoclassmk.atlas import load_atlas
    from zoo.families.autoclassmk.augment import AugmentConfig, augment_dataset
    card = zoo.load_model("autoclassmk", backend="onnx").card
    classes = list(card.output("spectral_class").classes)
    atlas = load_atlas("libr18_27")
    atlas = atlas.subset(np.isin(atlas.spectral_type, classes))
    wave = card.input.wavelength()
    idx = {"i": np.arange(len(atlas))}
    x, y, src = augment_dataset(atlas.flux, idx, wave, VARIANTS, SEED, AugmentConfig.paper(), atlas.mask,
                                1.0, shuffle=False)
    mask = atlas.mask[src]
    sed = smooth_sed(wave, [TEFF[t] for t in atlas.spectral_type[src]], np.random.default_rng(SEED + 1))
    return {"wave": wave, "x": x, "mask": mask, "sed": sed, "star": np.array(atlas.files)[src],
            "sc": atlas.spectral_type[src], "lc": atlas.luminosity_class[src], "classes": classes}


def score(pred, t) -> dict:
    order = {c: i for i, c in enumerate(t["classes"])}
    step = np.abs(np.array([order[c] for c in pred["spectral_class"]]) - np.array([order[c] for c in t["sc"]]))
    return {"SC exact": bootstrap_accuracy(t["star"], pred["spectral_class"] == t["sc"], seed=1),
            "SC within 1 step": bootstrap_accuracy(t["star"], step <= 1, seed=1),
            "LC": bootstrap_accuracy(t["star"], pred["luminosity_class"] == t["lc"], seed=1),
            "flagged": float(np.mean(pred["out_of_domain"]))}


def measure(t):
    from zoo.families.autoclassmk.trust import standards
    _, _, files, _, _ = standards(2.0, (0.0, 1.5, 3.0, 4.5))
    own = np.array([list(files).index(f) if f in set(files) else -1 for f in t["star"]])
    flux_cal = np.where(t["mask"], 0.0, t["x"] * t["sed"])
    atlas_in = np.where(t["mask"], 0.0, t["x"])
    inputs = {}
    t0 = time.time()
    r, _, m = rectify_to_atlas(t["wave"], flux_cal, t["mask"], exclude=own)
    inputs["flux-calibrated, mk_rectify with the star's own standard left out"] = (np.where(m, 0.0, r), m)
    r, _, m = rectify_to_atlas(t["wave"], flux_cal, t["mask"], refine=False)
    inputs["flux-calibrated, upper envelope only (refine=False)"] = (np.where(m, 0.0, r), m)
    log(f"rectified {len(flux_cal)} spectra twice in {time.time() - t0:.0f} s")
    rows = {}
    for name in MODELS:
        model = zoo.load_model(name, backend="onnx")
        res = {"atlas rectification, missing pixels filled (the card's test protocol)": score(model.predict(t["x"]), t),
               "atlas rectification, missing pixels marked (as in the rows below)":
                   score(model.predict(atlas_in, mask=t["mask"]), t)}
        t0 = time.time()
        res['flux-calibrated, predict(..., instrument="flux_calibrated")'] = score(
            model.predict(flux_cal, wavelength=t["wave"], mask=t["mask"], instrument=INSTRUMENT), t)
        log(f"{name}: flux_calibrated path on {len(flux_cal)} spectra in {time.time() - t0:.0f} s")
        for k, (f, m) in inputs.items():
            res[k] = score(model.predict(f, mask=m), t)
        rows[name] = res
    return rows


def outside(seed: int = 0):
    import trust_inputs as TI
    from zoo.families.autoclassmk.atlas import START, STEP, NPIX
    wave = START + STEP * np.arange(NPIX)
    kinds = TI.mk_outside(scale=4, seed=seed, shared=False)
    rng = np.random.default_rng(seed + 100)
    res = {}
    for name in MODELS:
        model = zoo.load_model(name, backend="onnx")
        res[name] = {}
        for kind, v in kinds.items():
            if kind in ("flat line",) or kind.startswith("LAMOST"):
                continue
            flux = np.clip(v["flux"], 0.0, None)
            sed = smooth_sed(wave, rng.uniform(3000, 40000, len(flux)), rng)
            hits = []
            for row in flux * sed:
                try:
                    hits.append(bool(model.predict(row[None], wavelength=wave, instrument=INSTRUMENT)
                                     ["out_of_domain"][0]))
                except SpectrumError:
                    hits.append(True)
            res[name][kind] = (int(sum(hits)), len(hits))
    return res


def lamost():
    import trust_inputs as TI
    from zoo.families.autoclassmk.atlas import START, STEP, NPIX
    files = TI.lamost_files()
    flux, names, sub = TI.lamost_on_mk_grid(files)
    wave = START + STEP * np.arange(NPIX)
    rows = []
    for i, f in enumerate(names):
        cells = [os.path.basename(f), str(sub[i]) if i < len(sub) else ""]
        for name in MODELS:
            model = zoo.load_model(name, backend="onnx")
            try:
                p = model.predict(np.where(np.isfinite(flux[i]), flux[i], 0.0)[None], wavelength=wave,
                                  instrument=INSTRUMENT)
                cells.append({"spectral_class": str(p["spectral_class"][0]),
                              "luminosity_class": str(p["luminosity_class"][0]),
                              "probability": float(p["spectral_class_probability"][0]),
                              "domain_score": float(p["domain_score"][0]), "flagged": bool(p["out_of_domain"][0])})
            except SpectrumError as e:
                cells.append({"refused": type(e).__name__})
        rows.append(cells)
    return rows


RESULTS = os.path.join(REPO, "docs", "results", "autoclassmk_rectification.json")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--record", action="store_true", help=f"write {os.path.relpath(RESULTS, REPO)}")
    args = ap.parse_args(argv)
    from training.common import recorded_result, write_json
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)
    t = test_set()
    numbers = {"experiment": "autoclassmk_rectification", "variants": VARIANTS, "seed": SEED,
               "n_stars": len(set(t["star"])), "n_spectra": len(t["star"]),
               "rows": measure(t), "outside": outside(), "lamost": lamost()}
    cmd = "python scripts/autoclassmk_rectification.py" + (" --record" if args.record else "")
    res = recorded_result(cmd, t0, load0, numbers)
    from evaluation.autoclassmk import rectification_markdown
    print(rectification_markdown(res))
    print(f"({res['duration_s'] / 60:.1f} min)")
    if args.record:
        write_json(res, RESULTS)
        print(f"wrote {os.path.relpath(RESULTS, REPO)}")


if __name__ == "__main__":
    main()
