"""How far the Be-star simulator's inputs are from real LAMOST and Ondřejov inputs, and what the
exported networks make of the difference (issue 19): the numbers of docs/bestars.md
("Survey realism").

    python scripts/bestars_sim_realism.py [--models emission_cnn emission_fc] [--dev ../shared/data/lamost_dev]
                                           [--lamost ../shared/data/lamost] [--json OUT.json]

writes docs/results/emission_sim_realism_legacy.json for the models trained on the legacy simulator
(exported up to commit 9850d08: the measurement before retraining) and ..._survey.json for models
trained on the survey simulator (after ``python -m training.emission_cnn --docs`` etc.).

Everything goes through the models' own contract (``Predictor.prepare``: LAMOST files regridded
and standardized, Ondřejov files air -> vacuum and blurred first; simulated spectra wrapped as
Spectrum objects of their instrument), and the networks are the exported ones (ONNX Runtime):
run it before retraining to see the old networks on the new simulator, after retraining to see
the new ones.  It prints and writes (``--json``):

1. **Input noise** of the standardized 140-pixel inputs, two statistics:
   ``measured``: :func:`zoo.families.bestars.simulate.input_noise` on the input row itself (the
   same code for real and simulated rows); ``stated``: the median per-pixel sigma the data claim,
   in units of the row's standard deviation (LAMOST: the pipeline's ivar through the contract;
   simulated: the simulator's sigma; Ondřejov files: the native-pixel scatter of second
   differences times the blur's noise factor 0.2008).  Quantiles for the real LAMOST files
   (``lamost_dev`` and ``lamost``), the legacy simulator (``SimConfig.legacy()``, the exported
   models' training data) and the survey simulator (``SimConfig()``); the bundled Ondřejov
   files as percentiles of the survey simulator's Ondřejov-rendered spectra.
2. **Nearest simulated neighbour**: each real file's Euclidean distance (standardized inputs) to
   its nearest simulated spectrum, as a percentile of held-out simulated spectra's own
   nearest-neighbour distances, for both simulators.
3. **Out-of-domain proxy**: the family's trust score (``emission_pca_distance``, k = 5) fitted to
   each simulator's reference spectra, threshold the 99 % quantile of the held-out ones (as
   training does): the share flagged of the training module's probes (flat lines, pure noise,
   wrong range) and of the real LAMOST files -- what the flag will do after retraining.
4. **Calls of the exported networks**: on simulated absorption-class spectra by spectral group
   (B-M) and rendering (Ondřejov at S/N 20-400 per CCD700 pixel; LAMOST at the survey S/N; LAMOST
   noise-free), on the survey simulator's emission and double-peak spectra, and on the real
   ``lamost_dev`` stars by the pipeline's SUBCLASS letter (pipeline labels: noisy near F/G and G/K).

Seeds are fixed; about 40 s on two cores.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

CLASSES = ("emission", "absorption", "double-peak")
GROUPS = ("B", "A", "F", "G", "K", "M")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SEED = 1919
N_PER_CELL = 120          # simulated absorption spectra per group and rendering
N_REFERENCE = 2400        # simulated spectra for the nearest neighbours and the PCA reference
N_HELD_OUT = 600
#: the out-of-domain proxy's threshold: this quantile of the held-out scores (as training does)
PROXY_QUANTILE = 0.99
SNR_BINS = ((8, 15), (15, 40), (40, 150))
#: the LAMOST-rendering S/N ranges the default was chosen from (docs/bestars.md, "Input noise, measured")
SNR_RANGE_CANDIDATES = ((5.0, 100.0), (5.0, 150.0), (8.0, 150.0), (10.0, 150.0))


def quantiles(v) -> dict:
    v = np.asarray(v, float)
    return {"n": int(v.size), **{f"q{int(q * 100):02d}": round(float(np.quantile(v, q)), 4) for q in QUANTILES},
            "min": round(float(v.min()), 4), "max": round(float(v.max()), 4)}


def percentile(v, ref) -> float:
    return round(float(np.mean(np.asarray(ref) <= v) * 100), 1)


# ----------------------------------------------------------------------------- simulated inputs
def simulate(contract, cfg, classes, seed, survey=None):
    """Simulated spectra of ``classes`` (a list of class names) through the contract: inputs
    ``x``, the stated noise per row, the parameters."""
    from zoo.families.bestars import prepare
    from zoo.families.bestars.preprocess import air_to_vacuum_thesis, gaussian_blur
    from zoo.families.bestars.simulate import blur_noise_factor, simulate_spectrum
    from zoo.spectrum import Spectrum
    rng = np.random.default_rng(seed)
    grid = contract.wavelength()
    spectra, stated, params = [], [], []
    for cls in classes:
        w, f, p = simulate_spectrum(cls, rng, cfg, survey=survey)
        lamost = p["instrument"] == "lamost"
        vac = w if lamost else air_to_vacuum_thesis(w)
        raw = np.interp(grid, vac, f if lamost else gaussian_blur(f))
        # the simulator's sigma per pixel: sqrt(noiseless flux) / S/N (flux ~ noisy flux here)
        sig = np.sqrt(np.clip(np.interp(grid, vac, f if lamost else gaussian_blur(f)) / p["flux_scale"], 0.01, None))
        sig *= p["flux_scale"] / p["snr"] * (1.0 if lamost else blur_noise_factor())
        stated.append(float(np.median(sig) / raw.std()))
        spectra.append(Spectrum(wavelength=w, flux=f, medium="vacuum" if lamost else "air",
                                meta={"instrument": p["instrument"]}))
        p.pop("clean")
        params.append(p)
    return prepare(contract, spectra).flux, np.array(stated), params


# ----------------------------------------------------------------------------- real inputs
def real_lamost(model, paths):
    """``(names, subclass, x, stated noise, skipped)`` of the LAMOST files the contract accepts."""
    from zoo.io import read
    names, sub, xs, stated, skipped = [], [], [], [], []
    for f in paths:
        try:
            prep = model.prepare(f)
        except Exception as e:          # e.g. no flux over 6519-6732 A
            skipped.append(f"{os.path.basename(f)}: {type(e).__name__}")
            continue
        err = prep.error[0]
        names.append(os.path.basename(f))
        sub.append(str(read(f).meta.get("SUBCLASS", "?")))
        xs.append(prep.flux[0])
        stated.append(float(np.median(err[err < 1e3])))
    return names, sub, np.array(xs), np.array(stated), skipped


def real_ondrejov(model, paths):
    from zoo.families.bestars.preprocess import air_to_vacuum_thesis, gaussian_blur
    from zoo.families.bestars.simulate import blur_noise_factor
    from zoo.io import read
    from zoo.stats import MAD_TO_SIGMA
    grid = model.card.input.wavelength()
    names, xs, stated = [], [], []
    for f in paths:
        s = read(f)
        w, fl = s.angstrom, np.asarray(s.flux, float)
        d2 = np.diff(fl, 2)
        sig = MAD_TO_SIGMA * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6) * blur_noise_factor()
        raw = np.interp(grid, air_to_vacuum_thesis(w), gaussian_blur(fl))
        names.append(os.path.basename(f))
        xs.append(model.prepare(f).flux[0])
        stated.append(float(sig / raw.std()))
    return names, np.array(xs), np.array(stated)


# ----------------------------------------------------------------------------- calls
def calls(model, x) -> dict:
    out = model.predict_prepared(_prepared(x))
    cls = np.asarray(out["halpha_class"]).astype(str)
    ood = np.asarray(out["out_of_domain"], bool)
    n = len(cls)
    r = {"n": n, **{c: round(float(np.mean(cls == c)), 4) for c in CLASSES},
         "out_of_domain": round(float(np.mean(ood)), 4),
         "emission_in_domain": int(np.sum((cls == "emission") & ~ood))}
    return r


def _prepared(x):
    from zoo.preprocess import Prepared
    x = np.asarray(x, np.float32)
    return Prepared(x, None, np.zeros(x.shape, bool))


def nn_distance(ref, x):
    d2 = (x ** 2).sum(1)[:, None] + (ref ** 2).sum(1)[None, :] - 2 * x @ ref.T
    return np.sqrt(np.clip(d2.min(1), 0, None))


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["emission_cnn", "emission_fc"])
    ap.add_argument("--dev", default=os.path.join(REPO, "..", "shared", "data", "lamost_dev"))
    ap.add_argument("--lamost", default=os.path.join(REPO, "..", "shared", "data", "lamost"))
    ap.add_argument("--json", default=None,
                    help="output (default: docs/results/emission_sim_realism_<simulator the first model was trained "
                         "with>.json: _legacy for the models exported up to 9850d08, _survey after retraining)")
    args = ap.parse_args(argv)

    import zoo
    from importlib import resources

    from training.common import write_json
    from zoo.families.bestars.simulate import SimConfig, input_noise
    t0 = time.time()
    models = {m: zoo.load_model(m, backend="onnx") for m in args.models}
    first = models[args.models[0]]
    contract = first.card.input
    survey, legacy = SimConfig(), SimConfig.legacy()
    trained_with = first.card.recipe.get("simulator", "legacy")
    args.json = args.json or os.path.join(REPO, "docs", "results", f"emission_sim_realism_{trained_with}.json")

    # ---------------------------------------------------------------- real inputs
    dev_files = sorted(glob.glob(os.path.join(args.dev, "*.fits")))
    lam_files = sorted(glob.glob(os.path.join(args.lamost, "*.fits")))
    dev = real_lamost(first, dev_files)
    lam = real_lamost(first, lam_files)
    ond_files = sorted(str(p) for p in (resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov").iterdir()
                       if str(p).endswith(".fits"))
    ond = real_ondrejov(first, ond_files)
    real_x = np.concatenate([dev[2], lam[2]])
    real_stated = np.concatenate([dev[3], lam[3]])

    # ---------------------------------------------------------------- simulated inputs
    rng = np.random.default_rng(SEED)
    mix = list(rng.choice(CLASSES, size=N_REFERENCE + N_HELD_OUT, p=[0.41, 0.47, 0.12]))   # Table 6.1
    sims = {name: simulate(contract, cfg, mix, SEED + k) for k, (name, cfg) in
            enumerate((("legacy", legacy), ("survey", survey)))}
    sv_x, sv_stated, sv_params = sims["survey"]
    inst = np.array([p["instrument"] for p in sv_params])

    noise = {
        "statistics": {
            "measured": "zoo.families.bestars.simulate.input_noise on the standardized 140-pixel input row",
            "stated": "median per-pixel sigma / the row's standard deviation (LAMOST: pipeline ivar; simulated: the "
                      "simulator's sigma; Ondrejov files: native scatter of 2nd differences x 0.2008)"},
        "real_lamost": {"files": int(len(real_x)), "skipped": dev[4] + lam[4],
                        "stated_above_row_std": int(np.sum(real_stated > 1.0)),
                        "measured": quantiles(input_noise(real_x)), "stated": quantiles(real_stated),
                        "lamost_dev": {"measured": quantiles(input_noise(dev[2])), "stated": quantiles(dev[3])},
                        "lamost": {"measured": quantiles(input_noise(lam[2])), "stated": quantiles(lam[3])}},
        "sim_legacy": {"measured": quantiles(input_noise(sims["legacy"][0])), "stated": quantiles(sims["legacy"][1])},
        "sim_survey": {"measured": quantiles(input_noise(sv_x)), "stated": quantiles(sv_stated),
                       "lamost_rendered": {"measured": quantiles(input_noise(sv_x[inst == "lamost"])),
                                           "stated": quantiles(sv_stated[inst == "lamost"])},
                       "ondrejov_rendered": {"measured": quantiles(input_noise(sv_x[inst == "ondrejov"])),
                                             "stated": quantiles(sv_stated[inst == "ondrejov"])}},
        "ondrejov_files": {n: {"measured": round(float(m), 5), "stated": round(float(s), 5),
                               "percentile_measured_in_sim_ondrejov": percentile(m, input_noise(sv_x[inst == "ondrejov"])),
                               "percentile_stated_in_sim_ondrejov": percentile(s, sv_stated[inst == "ondrejov"]),
                               "percentile_measured_in_sim_legacy": percentile(m, input_noise(sims["legacy"][0])),
                               "percentile_stated_in_sim_legacy": percentile(s, sims["legacy"][1])}
                           for n, m, s in zip(ond[0], input_noise(ond[1]), ond[2])},
    }
    # real LAMOST: what share of files lies inside the simulated 1-99 % range of each statistic
    for key, (x, st) in (("sim_legacy", sims["legacy"][:2]), ("sim_survey", (sv_x, sv_stated))):
        lo, hi = np.quantile(input_noise(x), [0.01, 0.99])
        slo, shi = np.quantile(st, [0.01, 0.99])
        meas = input_noise(real_x)
        noise[key]["real_lamost_inside_1_99"] = {
            "measured": round(float(np.mean((meas >= lo) & (meas <= hi))), 4),
            "stated": round(float(np.mean((real_stated >= slo) & (real_stated <= shi))), 4)}

    # ---------------------------------------------------------------- nearest simulated neighbour
    nn = {}
    for name, (x, _, _) in sims.items():
        ref, held = x[:N_REFERENCE], x[N_REFERENCE:]
        own = nn_distance(ref, held)
        d_real = nn_distance(ref, real_x)
        d_ond = nn_distance(ref, ond[1])
        nn[name] = {"held_out_nn_distance": quantiles(own),
                    "real_lamost_percentile": quantiles([percentile(d, own) for d in d_real]),
                    "real_lamost_inside_95": round(float(np.mean(d_real <= np.quantile(own, 0.95))), 4),
                    "ondrejov_files_percentile": {n: percentile(d, own) for n, d in zip(ond[0], d_ond)}}

    # ---------------------------------------------------------------- out-of-domain proxy
    from training.bestars import trust_probes
    from zoo.families.bestars.trust import fit_reference, pca_score
    probes = trust_probes(contract, n=200, seed=123)
    ood = {}
    for name, (x, _, _) in sims.items():
        ref = fit_reference(x[:N_REFERENCE], 5)
        thr = float(np.quantile(pca_score(x[N_REFERENCE:], ref), PROXY_QUANTILE))
        ood[name] = {"threshold": round(thr, 3),
                     "probe_hit_rate": {k: round(float(np.mean(pca_score(v, ref) > thr)), 4) for k, v in probes.items()},
                     "real_lamost_flagged": round(float(np.mean(pca_score(real_x, ref) > thr)), 4),
                     "ondrejov_files_flagged": {n: bool(v > thr) for n, v in zip(ond[0], pca_score(ond[1], ref))}}

    # ---------------------------------------------------------------- the S/N range of the LAMOST renderings
    # the candidates the default (survey_snr_range) was chosen from: each simulator variant's LAMOST-rendered
    # input noise against the real rows', and the out-of-domain proxy fitted to it (its pure-noise hit rate
    # and the real files it flags); the survey simulator's own draw mix and seeds, only the range differs
    sweep = {}
    for rng_snr in SNR_RANGE_CANDIDATES:
        cfg = SimConfig(survey_snr_range=rng_snr)
        x, _, ps = simulate(contract, cfg, mix, SEED + 1, survey=None)
        lam_x = x[np.array([p["instrument"] for p in ps]) == "lamost"]
        ref = fit_reference(x[:N_REFERENCE], 5)
        thr = float(np.quantile(pca_score(x[N_REFERENCE:], ref), PROXY_QUANTILE))
        meas = input_noise(lam_x)
        sweep[f"{rng_snr[0]:g}-{rng_snr[1]:g}"] = {
            "default": tuple(rng_snr) == tuple(survey.survey_snr_range),
            "lamost_rendered_measured": quantiles(meas),
            "real_lamost_inside_sim_range": round(float(np.mean(input_noise(real_x) <= meas.max())), 4),
            "pure_noise_flagged": round(float(np.mean(pca_score(probes["pure_noise"], ref) > thr)), 4),
            "real_lamost_flagged": round(float(np.mean(pca_score(real_x, ref) > thr)), 4)}

    # ---------------------------------------------------------------- simulated sets for the calls
    cells = {}
    for k, g in enumerate(GROUPS):
        one = SimConfig(group_weights=((g, 1.0),))
        for r, (render, cfg, srv) in enumerate((
                ("ondrejov", one, False), ("lamost_survey_snr", one, True),
                ("lamost_noise_free", SimConfig(group_weights=((g, 1.0),), survey_snr_range=(1e6, 1e6)), True))):
            x, _, ps = simulate(contract, cfg, ["absorption"] * N_PER_CELL, SEED + 100 + 10 * k + r, survey=srv)
            cells[(render, g)] = (x, np.array([p["input_snr"] for p in ps]))
    lines = {c: simulate(contract, survey, [c] * 200, SEED + 200 + i) for i, c in enumerate(("emission", "double-peak"))}

    letter = np.array([s[:1] for s in dev[1]])
    out = {"command": "python scripts/bestars_sim_realism.py", "seed": SEED,
           "simulator_survey": survey.to_dict(), "simulator_legacy_changes": {k: getattr(legacy, k) for k in
                                                                             ("group_weights", "emission_cool_share",
                                                                              "survey_share")},
           "input_noise": noise, "nearest_simulated_neighbour": nn, "out_of_domain_proxy": ood,
           "survey_snr_range_candidates": sweep, "models": {}}
    for name, model in models.items():
        m = {"model_onnx_sha256": (model.card.artifacts.get("model.onnx") or {}).get("sha256"),
             "trained_with_simulator": model.card.recipe.get("simulator", "legacy"),
             "sim_absorption": {}, "sim_lines": {}, "sim_absorption_lamost_by_input_snr": {}}
        for (render, g), (x, _) in cells.items():
            m["sim_absorption"].setdefault(render, {})[g] = calls(model, x)
        xs = np.concatenate([cells[("lamost_survey_snr", g)][0] for g in GROUPS])
        sn = np.concatenate([cells[("lamost_survey_snr", g)][1] for g in GROUPS])
        for lo, hi in SNR_BINS:
            sel = (sn >= lo) & (sn < hi)
            if sel.any():
                m["sim_absorption_lamost_by_input_snr"][f"{lo}-{hi}"] = calls(model, xs[sel])
        for c, (x, _, ps) in lines.items():
            ins = np.array([p["instrument"] for p in ps])
            m["sim_lines"][c] = {r: calls(model, x[ins == r]) for r in ("ondrejov", "lamost")}
        m["real_lamost_dev_by_subclass"] = {t: calls(model, dev[2][letter == t]) for t in "AFGKM" if (letter == t).any()}
        m["real_lamost_dev_all"] = calls(model, dev[2])
        m["real_lamost_files"] = calls(model, lam[2])
        p = model.predict_prepared(_prepared(ond[1]))
        m["ondrejov_files"] = {n: {"class": str(c), "out_of_domain": bool(o)}
                               for n, c, o in zip(ond[0], p["halpha_class"], p["out_of_domain"])}
        out["models"][name] = m
    out["seconds"] = round(time.time() - t0, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    write_json(out, args.json)
    report(out)
    return out


def report(out):
    n = out["input_noise"]
    print("input noise (measured on the row | stated), quantiles 5/25/50/75/95 %:")
    for key in ("real_lamost", "sim_legacy", "sim_survey"):
        for stat in ("measured", "stated"):
            q = n[key][stat]
            print(f"  {key:12s} {stat:9s} " + " ".join(f"{q[k]:.4f}" for k in ("q05", "q25", "q50", "q75", "q95")))
    for key in ("sim_legacy", "sim_survey"):
        print(f"  real LAMOST inside {key}'s 1-99 % range: {n[key]['real_lamost_inside_1_99']}")
    print("Ondřejov files (percentile among the survey simulator's Ondřejov-rendered spectra | the legacy simulator's):")
    for f, v in n["ondrejov_files"].items():
        print(f"  {f:28s} measured {v['measured']:.4f} ({v['percentile_measured_in_sim_ondrejov']} | "
              f"{v['percentile_measured_in_sim_legacy']} %), stated {v['stated']:.4f} "
              f"({v['percentile_stated_in_sim_ondrejov']} | {v['percentile_stated_in_sim_legacy']} %)")
    for name, v in out["nearest_simulated_neighbour"].items():
        print(f"nearest {name} neighbour: real LAMOST inside the held-out 95 %: {v['real_lamost_inside_95']}; "
              f"Ondřejov percentiles {v['ondrejov_files_percentile']}")
    for name, v in out["out_of_domain_proxy"].items():
        print(f"PCA reference of the {name} simulator: probes flagged {v['probe_hit_rate']}; real LAMOST flagged "
              f"{v['real_lamost_flagged']}; Ondřejov files flagged {v['ondrejov_files_flagged']}")
    for name, m in out["models"].items():
        print(f"\n{name}: share called emission / double-peak (out of domain)")
        for render, by in m["sim_absorption"].items():
            print(f"  absorption, {render:18s} " + "  ".join(
                f"{g} {v['emission']:.2f}/{v['double-peak']:.2f} ({v['out_of_domain']:.2f})" for g, v in by.items()))
        print("  absorption, LAMOST by input S/N: " + "  ".join(
            f"{k}: {v['emission']:.2f}/{v['double-peak']:.2f}" for k, v in m["sim_absorption_lamost_by_input_snr"].items()))
        for c, by in m["sim_lines"].items():
            print(f"  {c} recall: " + "  ".join(f"{r} {v[c]:.2f} (n {v['n']})" for r, v in by.items()))
        print("  real lamost_dev by SUBCLASS: " + "  ".join(
            f"{t} {round(v['emission'] * v['n'])}/{v['n']} emission, {round(v['double-peak'] * v['n'])} double-peak, "
            f"{round(v['out_of_domain'] * v['n'])} OOD" for t, v in m["real_lamost_dev_by_subclass"].items()))
        print(f"  Ondřejov files: {m['ondrejov_files']}")
    print(f"\n{out['seconds']} s")


if __name__ == "__main__":
    main()
