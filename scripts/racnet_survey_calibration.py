"""Calibrate the RAC-Net simulator on the real LAMOST development stars (issue #19).

    python scripts/racnet_survey_calibration.py            # ~2 min on 2 cores

Reads the 88 labelled LAMOST DR1 stars of ``../shared/data/lamost_dev`` (the
header CLASS/SUBCLASS of the LAMOST pipeline, LASP), and writes

- ``zoo/families/racnet/data/lamost_dev_calibration.npz``: what the
  simulator draws from when ``SimConfig.survey="lamost_dev"`` (the default):
  the effective throughput curve T(lambda) on the contract grid (noise), and
  one row per star of the continuum library (effective E(B-V) and the
  Legendre residual of its spectrum over its best-fitting redrock archetype);
- ``docs/results/racnet_survey_calibration.json``: the numbers, with the
  inputs' hashes, code version, machine, load and duration;

and prints the SimConfig numbers it derives (F/G/K index boundaries, the
archetype cuts, the S/N distribution), which ``SimConfig`` carries.

What is measured (every step on the contract grid, 3699.99 A + 1e-4 dex):

1. **Noise.**  For a bright star photon noise dominates: ``flux * ivar`` is
   proportional to the throughput (counts per unit calibrated flux).  T is
   the median over the stars of ``flux * ivar`` normalized at 6000-7000 A
   (50-pixel block medians).  The simulator's variance is ``(f + sky +
   read) / T``.
2. **S/N.**  One log-normal for every class: median and width of the stars'
   median S/N per pixel at 6000-7000 A (the same for GALAXY and QSO, so that
   noise is no class cue; the dev sample holds stars only).
3. **Continua.**  Each star's best archetype (redrock A/F/G/K/M at R = 1800,
   times a degree-5 Legendre polynomial, chi-square with the file's inverse
   variance: the lines choose it); then ``log(flux / archetype)`` on
   line-free 100-pixel blocks is fitted by ``c - 0.4 R_V E(B-V) k(lambda)``
   (CCM89) and the remainder by Legendre P1..P3: the star's effective
   reddening and its calibration residual.  The simulator draws a (E(B-V),
   residual) pair of one star jointly.
4. **F/G/K labels** (Zou et al. use the pipeline's SUBCLASS): the Lick
   HdA + HgA index of each star (rest frame, air) and boundaries A/F, F/G,
   G/K maximizing agreement with the header types, chosen by 4-fold
   cross-validation over stars (reported: held-out agreement), then on all
   stars (the numbers the simulator uses).  Archetypes are indexed at
   R = 1800 like the real spectra.  Archetypes whose intrinsic colour
   log10(f4500/f6100) is bluer than that of any real F/G/K star's best
   archetype (minus 0.03 dex) are kept out of the F/G/K pools.

Cross-validated checks (4 folds over stars: calibrate on three, simulate,
compare with the fourth; old and new simulator side by side): S/N blue/red
ratio per type, and the colour offset of real stars from the simulated
colour-index relation.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
SHARED = os.environ.get("ZOO_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
OUT_NPZ = os.path.join(REPO, "zoo", "families", "racnet", "data", "lamost_dev_calibration.npz")
OUT_JSON = os.path.join(REPO, "docs", "results", "racnet_survey_calibration.json")
BLUE, RED = (4000.0, 4500.0), (6000.0, 7000.0)
COLOUR = ((4450.0, 4550.0), (6050.0, 6150.0))
BLOCK = 50
N_FOLDS = 4


def _colour(wave, flux, good):
    (b0, b1), (r0, r1) = COLOUR
    sb = good & (wave >= b0) & (wave <= b1)
    sr = good & (wave >= r0) & (wave <= r1)
    if sb.sum() < 5 or sr.sum() < 5:
        return np.nan
    fb, fr = np.mean(flux[sb]), np.mean(flux[sr])
    return float(np.log10(fb / fr)) if fb > 0 and fr > 0 else np.nan


def _index(wave_vac, flux, good, z=0.0):
    from zoo.families.racnet.simulate import mk_index
    w = wave_vac / 1.000277 / (1 + z)
    if good.sum() < 100:
        return np.nan
    return float(mk_index(w, np.interp(w, w[good], flux[good])))


def _snr_ratio(wave, flux, sigma_or_ivar, good, ivar=True):
    s = flux * np.sqrt(sigma_or_ivar) if ivar else flux / np.where(sigma_or_ivar > 0, sigma_or_ivar, np.inf)
    sb = good & (wave >= BLUE[0]) & (wave <= BLUE[1])
    sr = good & (wave >= RED[0]) & (wave <= RED[1])
    return float(np.median(s[sb]) / np.median(s[sr])), float(np.median(s[sr]))


def load_dev():
    """The dev stars on the contract grid: flux, ivar, good, header class/type, z."""
    from zoo.families.racnet.simulate import contract_loglam
    from zoo.io import read
    from zoo.preprocess import resample
    wave = 10 ** contract_loglam()
    stars = []
    for f in sorted(glob.glob(os.path.join(SHARED, "lamost_dev", "spec-*.fits"))):
        s = read(f)
        ivar = np.where(s.mask | (s.error >= 1e9) | ~np.isfinite(s.error), 0.0,
                        1.0 / np.maximum(s.error, 1e-30) ** 2)
        y, bad = resample(s.flux, s.angstrom, wave, s.mask)
        w, _ = resample(ivar, s.angstrom, wave)
        good = ~bad[0] & (w[0] > 0)
        stars.append({"file": os.path.basename(f), "sha256": hashlib.sha256(open(f, "rb").read()).hexdigest(),
                      "cls": str(s.meta.get("CLASS")), "sub": str(s.meta.get("SUBCLASS")),
                      "z": float(s.meta.get("Z") or 0.0), "flux": y[0], "ivar": np.where(good, w[0], 0.0),
                      "good": good})
    return wave, stars


def throughput(wave, stars):
    """Median over ``stars`` of flux * ivar, normalized at 6000-7000 A, 50-pixel block medians."""
    red = (wave >= RED[0]) & (wave <= RED[1])
    n = wave.size
    centers = np.arange(BLOCK // 2, n, BLOCK)
    curves = []
    for s in stars:
        t = np.where(s["good"] & (s["flux"] > 0), s["flux"] * s["ivar"], np.nan)
        norm = np.nanmedian(t[red])
        if not norm > 0:
            continue
        b = np.array([np.nanmedian(t[i:i + BLOCK]) if np.isfinite(t[i:i + BLOCK]).sum() > BLOCK // 3 else np.nan
                      for i in range(0, n, BLOCK)]) / norm
        curves.append(b)
    med = np.nanmedian(np.array(curves), axis=0)
    ok = np.isfinite(med)
    T = np.interp(np.arange(n), centers[ok], med[ok])
    return np.clip(T, 0.01, None)


def archetype_bank():
    """redrock A/F/G/K/M archetypes at R = 1800 on the contract grid, their class, index, colour."""
    from zoo.families.racnet.simulate import _observe, contract_loglam, mk_index, templates
    tpl = templates()
    loglam = contract_loglam()
    wave = 10 ** loglam
    wave_air_rest = wave / 1.000277
    rows, cls, row_i = [], [], []
    for t in "AFGKM":
        basis, coeff = tpl.basis(f"star_{t}"), tpl.coeff(f"star_{t}")
        for i, c in enumerate(coeff):
            rows.append(_observe(c @ basis, tpl.grid("star"), 0.0, 1800.0, tpl, loglam))
            cls.append(t)
            row_i.append(i)
    T = np.nan_to_num(np.array(rows, np.float64))
    good = np.ones(wave.size, bool)
    idx = np.array([mk_index(wave_air_rest, r) for r in T])
    col = np.array([_colour(wave, r, good) for r in T])
    return T, np.array(cls), np.array(row_i), idx, col


def fit_continua(wave, stars, bank):
    """Best archetype (degree-5 polynomial fit, lines decide), effective E(B-V), Legendre residual."""
    from zoo.families.racnet.simulate import _ccm_curve
    from zoo.families.racnet.tplfit import JOIN_MASK, SKY_LINES, SKY_HALF_WIDTH
    T, cls = bank[0], bank[1]
    n = wave.size
    x = np.linspace(-1, 1, n)
    L = np.polynomial.legendre.legvander(x, 5)
    LL = np.einsum("pi,pj->pij", L, L).reshape(n, -1)
    ccm = _ccm_curve(wave)
    clean = ~((wave > JOIN_MASK[0]) & (wave < JOIN_MASK[1]))
    for sl in SKY_LINES:
        clean &= np.abs(wave - sl) > SKY_HALF_WIDTH
    for lo, hi in ((6860, 6960), (7150, 7350), (7580, 7700), (8100, 8400), (8900, 9100)):  # telluric bands
        clean &= ~((wave > lo) & (wave < hi))
    out = []
    for s in stars:
        y, w = s["flux"], s["ivar"] * s["good"]
        G = ((T ** 2) * w) @ LL
        b = (T * (w * y)) @ L
        coef = np.linalg.solve(G.reshape(-1, 6, 6) + 1e-12 * np.eye(6), b[..., None])[..., 0]
        chi2 = np.sum(w * y * y) - np.sum(b * coef, axis=1)
        k = int(np.argmin(chi2))
        a = T[k]
        ok = s["good"] & clean & (y > 0) & (a > 0)
        r = np.where(ok, np.log(np.where(ok, y, 1) / np.where(ok, a, 1)), np.nan)
        blocks = [(np.nanmedian(r[i:i + 100]), i + 50) for i in range(0, n - 50, 100)
                  if np.isfinite(r[i:i + 100]).sum() > 50]
        rb = np.array([v for v, _ in blocks])
        ib = np.array([i for _, i in blocks])
        kk = -0.4 * 3.1 * np.log(10) * ccm[ib]         # d ln f / d E(B-V)
        A = np.stack([np.ones_like(kk), kk], 1)
        (c0, ebv), *_ = np.linalg.lstsq(A, rb, rcond=None)
        rem = rb - c0 - ebv * kk
        resid = np.polynomial.legendre.legfit(x[ib], rem, 3)[1:]      # P1..P3 (P0 is the scale)
        out.append({"best": k, "best_class": str(cls[k]), "ebv": float(ebv), "resid": resid.tolist(),
                    "colour": _colour(wave, y, s["good"]), "index": _index(wave, y, s["good"], s["z"]),
                    "snr_ratio": _snr_ratio(wave, y, s["ivar"], s["good"])[0],
                    "snr_r": _snr_ratio(wave, y, s["ivar"], s["good"])[1]})
    return out


def choose_boundaries(index, label):
    """A/F, F/G, G/K boundaries maximizing agreement with ``label`` (A/F/G/K), searched one at a time
    on the midpoints between sorted index values (monotonic: A > F > G > K)."""
    order = "AFGK"
    ranks = np.array([order.index(c) for c in label])
    bounds = []
    for j in range(3):          # boundary between order[j] and order[j+1]
        sel = (ranks == j) | (ranks == j + 1)
        v, r = index[sel], ranks[sel]
        cand = np.unique(v)
        cand = (cand[1:] + cand[:-1]) / 2 if cand.size > 1 else cand
        best = max(cand, key=lambda c: (np.sum((v > c) == (r == j)), -abs(c - np.median(v))))
        bounds.append(float(best))
    return tuple(sorted(bounds, reverse=True))


def label_of(index, bounds):
    af, fg, gk = bounds
    return np.where(index > af, "A", np.where(index > fg, "F", np.where(index > gk, "G", "K")))


def folds(n, k=N_FOLDS, seed=0):
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(perm[i::k]) for i in range(k)]


def sim_check(cfg, n_per_type, seed):
    """Simulated F/G/K stars: S/N ratio, colour and index per spectrum."""
    from zoo.families.racnet.simulate import contract_loglam, simulate
    wave = 10 ** contract_loglam()
    out = {}
    for t in "FGK":
        sim = simulate([t] * n_per_type, seed + ord(t), cfg)
        rows = []
        for f, e, m, meta in zip(sim["flux"], sim["error"], sim["mask"], sim["meta"]):
            good = ~m & (e > 0)
            rows.append((_snr_ratio(wave, f, e, good, ivar=False)[0], _colour(wave, f, good),
                         _index(wave, f, good, meta["z"])))
        out[t] = np.array(rows)
    return out


def git_rev():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return None


def main(argv=None):
    from dataclasses import replace

    from zoo.families.racnet.simulate import SimConfig
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-sim", type=int, default=200, help="simulated stars per type and fold for the checks")
    args = p.parse_args(argv)
    t0 = time.time()
    load0 = os.getloadavg()[0]
    wave, stars = load_dev()
    if not stars:
        raise SystemExit(f"no LAMOST dev files under {SHARED}/lamost_dev")
    bank = archetype_bank()
    fits = fit_continua(wave, stars, bank)
    typ = np.array([s["sub"][:1] for s in stars])
    index = np.array([f["index"] for f in fits])
    colour = np.array([f["colour"] for f in fits])
    snr_r = np.array([f["snr_r"] for f in fits])
    fgk = np.isin(typ, list("FGK"))
    afgk = np.isin(typ, list("AFGK"))
    print(f"{len(stars)} dev stars: " + ", ".join(f"{t} {np.sum(typ == t)}" for t in "AFGKM"))

    # ---- labels: boundaries by CV, then on all
    old = SimConfig.legacy().mk_boundaries
    cv_agree, cv_n = 0, 0
    ids = np.where(afgk)[0]
    fold_bounds = []
    for te in folds(ids.size):
        tr = np.setdiff1d(np.arange(ids.size), te)
        b = choose_boundaries(index[ids[tr]], typ[ids[tr]])
        fold_bounds.append(b)
        lab = label_of(index[ids[te]], b)
        sel = np.isin(typ[ids[te]], list("FGK"))
        cv_agree += int(np.sum(lab[sel] == typ[ids[te]][sel]))
        cv_n += int(sel.sum())
    bounds = tuple(round(v, 1) for v in choose_boundaries(index[afgk], typ[afgk]))
    agree_old = int(np.sum(label_of(index[fgk], old) == typ[fgk]))
    agree_new = int(np.sum(label_of(index[fgk], bounds) == typ[fgk]))
    mk = mk_standards(bounds, old)
    print(f"boundaries A/F, F/G, G/K: old (MK standards) {old}, new (LAMOST pipeline) {bounds}")
    print(f"  agreement with the header F/G/K types: old {agree_old}/{fgk.sum()}, new {agree_new}/{fgk.sum()} "
          f"(fitted on all), held-out 4-fold CV {cv_agree}/{cv_n}")
    print(f"  agreement with the MK standards' types (libr18, F/G/K, III+V): old {mk['old']}/{mk['n']}, "
          f"new {mk['new']}/{mk['n']}")

    # ---- archetype cuts: colour no bluer than the real F/G/K stars' best archetypes
    best_col = bank[4][[f["best"] for f in fits]]
    colour_min = round(float(np.min(best_col[fgk]) - 0.03), 3)
    print(f"  F/G/K pools keep archetypes with intrinsic log10(f4500/f6100) >= {colour_min}")

    # ---- S/N distribution
    ls = np.log(snr_r[np.isfinite(snr_r) & (snr_r > 0)])
    snr_med = round(float(np.exp(np.median(ls))), 1)
    snr_width = round(float((np.percentile(ls, 75) - np.percentile(ls, 25)) / 1.349), 2)
    print(f"  S/N per pixel at 6000-7000 A: median {snr_med}, log-normal width {snr_width} (all classes)")

    # ---- library, on all stars
    T_all = throughput(wave, stars)
    ebv = np.array([f["ebv"] for f in fits])
    resid = np.array([f["resid"] for f in fits])
    os.makedirs(os.path.dirname(OUT_NPZ), exist_ok=True)
    np.savez_compressed(OUT_NPZ, throughput=T_all.astype(np.float32), ebv=ebv.astype(np.float32),
                        resid=resid.astype(np.float32), star_type=typ.astype("U1"))
    print(f"  effective E(B-V): median {np.median(ebv):.3f}, 16-84 % {np.percentile(ebv, 16):.3f}.."
          f"{np.percentile(ebv, 84):.3f}; residual rms (P1..P3) {np.sqrt(np.mean(resid ** 2, 0)).round(3).tolist()}")
    print(f"wrote {os.path.relpath(OUT_NPZ, REPO)}")

    # ---- cross-validated checks: calibrate on 3 folds, simulate, compare with the 4th
    new_cfg = SimConfig(mk_boundaries=bounds, colour_min=colour_min, snr_all=(snr_med, snr_width))
    checks = {"old": [], "new": []}
    all_ids = np.arange(len(stars))
    for fi, te in enumerate(folds(len(stars))):
        tr = np.setdiff1d(all_ids, te)
        lib = {"throughput": throughput(wave, [stars[i] for i in tr]), "ebv": ebv[tr], "resid": resid[tr]}
        for name, cfg in (("old", SimConfig.legacy()), ("new", replace(new_cfg, library=lib))):
            sims = sim_check(cfg, args.n_sim, 1000 * fi)
            for t in "FGK":
                s = sims[t]
                ok = np.all(np.isfinite(s), 1)
                slope = np.polyfit(s[ok, 2], s[ok, 1], 1)
                held = te[typ[te] == t]
                for i in held:
                    if np.isfinite(colour[i]) and np.isfinite(index[i]):
                        checks[name].append({"type": t, "fold": fi, "real_snr_ratio": fits[i]["snr_ratio"],
                                             "sim_snr_ratio": float(np.median(s[ok, 0])),
                                             "colour_offset": float(colour[i] - np.polyval(slope, index[i]))})
    summary = {}
    for name, rows in checks.items():
        summary[name] = {}
        for t in "FGK":
            r = [x for x in rows if x["type"] == t]
            off = np.array([x["colour_offset"] for x in r])
            summary[name][t] = {"n_real": len(r),
                                "real_snr_blue_over_red": float(np.median([x["real_snr_ratio"] for x in r])),
                                "sim_snr_blue_over_red": float(np.median([x["sim_snr_ratio"] for x in r])),
                                "colour_offset_real_minus_sim_dex": float(np.mean(off)),
                                "colour_offset_stderr": float(np.std(off, ddof=1) / np.sqrt(len(off)))}
            print(f"  {name} {t}: S/N(4000-4500)/S/N(6000-7000) real {summary[name][t]['real_snr_blue_over_red']:.2f}"
                  f" sim {summary[name][t]['sim_snr_blue_over_red']:.2f}; colour real - sim at fixed index "
                  f"{np.mean(off):+.3f} +- {summary[name][t]['colour_offset_stderr']:.3f} dex (held-out, n {len(r)})")
    result = {
        "experiment": "racnet_survey_calibration", "command": "python scripts/racnet_survey_calibration.py",
        "code_version": git_rev(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
        "duration_s": round(time.time() - t0, 1),
        "inputs": {s["file"]: s["sha256"] for s in stars},
        "output_npz_sha256": hashlib.sha256(open(OUT_NPZ, "rb").read()).hexdigest(),
        "n_stars": len(stars), "types": {t: int(np.sum(typ == t)) for t in "AFGKM"},
        "boundaries": {"old_mk_standards": list(old), "new_lamost_pipeline": list(bounds),
                       "cv_fold_boundaries": [list(b) for b in fold_bounds]},
        "agreement_with_pipeline_fgk": {"n": int(fgk.sum()), "old": agree_old, "new_fit_on_all": agree_new,
                                        "new_heldout_cv": cv_agree},
        "agreement_with_mk_standards": mk,
        "colour_min": colour_min, "snr_all": [snr_med, snr_width],
        "ebv": {"median": float(np.median(ebv)), "p16": float(np.percentile(ebv, 16)),
                "p84": float(np.percentile(ebv, 84))},
        "resid_rms": np.sqrt(np.mean(resid ** 2, 0)).tolist(),
        "checks_heldout": summary, "n_sim_per_type_and_fold": args.n_sim,
        "stars": [{"file": s["file"], "subclass": s["sub"], "index": f["index"], "colour": f["colour"],
                   "best_archetype_class": f["best_class"], "ebv": f["ebv"], "snr_r": f["snr_r"],
                   "snr_blue_over_red": f["snr_ratio"]} for s, f in zip(stars, fits)],
    }
    with open(OUT_JSON, "w") as fh:
        json.dump(result, fh, indent=1, default=float)
    print(f"wrote {os.path.relpath(OUT_JSON, REPO)} in {time.time() - t0:.0f} s (load {load0:.2f})")


def mk_standards(bounds, old):
    """Agreement of the index labels with the MK types of the libr18 standards (F/G/K, III and V)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from racnet_mk_calibration import atlas
    rows = {k: v for k, v in atlas().items() if k[0][0] in "FGK"}
    v = np.array(list(rows.values()))
    truth = np.array([k[0][0] for k in rows])
    return {"n": len(rows), "old": int(np.sum(label_of(v, old) == truth)),
            "new": int(np.sum(label_of(v, bounds) == truth))}


if __name__ == "__main__":
    main()
