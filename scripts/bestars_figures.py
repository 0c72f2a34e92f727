"""Every figure of docs/bestars.md, and the numbers printed beside them, in one command.

    python scripts/bestars_figures.py            # ~3-4 min on 2 CPU cores (t-SNE and the simulation)
    python scripts/bestars_figures.py --fast     # smaller t-SNE sample, for a quick look
    python scripts/bestars_figures.py --calibration   # only the simulator calibration (~1 min, no figures)

Writes docs/results/bestars_calibration.json (the continuum tilts of the real files, each real
spectrum's nearest simulated neighbour and domain score; rendered into docs/bestars.md by
evaluation/bestars.py) and

Writes docs/img/emission_*.png:

- ``emission_confusion.png``: test-set confusion matrices of emission_fc (imbalanced and SMOTE
  training, thesis Figs. 9.2 and 9.4) and emission_cnn, from docs/img/emission_results.json
  (written by the training runs with --docs);
- ``emission_examples.png``: simulated spectra of each class, native and after the Ondřejov
  path (thesis Fig. 6.1);
- ``emission_pca.png``: the simulated set's first two principal components after
  standardization (thesis Fig. 8.1, right) with the real Ondřejov and LAMOST spectra overlaid;
- ``emission_tsne.png``: t-SNE (PCA to 30, perplexity 40; thesis Sec. 8.2) of a sample with the
  real spectra;
- ``emission_calibration.png``: each real Ondřejov spectrum beside its nearest simulated
  neighbour (native and on the model grid), and where the real spectra's nearest-neighbour
  distances fall in the simulated set's own distribution;
- ``emission_btcmi.png``: the BT CMi pair, Ondřejov (native and after the path) and LAMOST
  (thesis Fig. 7.2);
- ``emission_gallery_*.png``: the candidate search on the LAMOST files in ../shared/data/lamost
  (bundled ones when absent), as ``python -m zoo.families.bestars.candidates`` draws it.

Prints: the continuum tilts of the real files (simulator calibration), the nearest-neighbour
percentiles, the real files through both exported models (thesis path and the core's
predict(path)), and the candidate list.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
IMG = os.path.join(REPO, "docs", "img")
RESULTS = os.path.join(IMG, "emission_results.json")
SHARED_LAMOST = os.path.join(os.path.dirname(REPO), "shared", "data", "lamost")
COLORS = {"emission": "tab:red", "absorption": "tab:blue", "double-peak": "tab:green"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def real_sets():
    from importlib import resources
    root = resources.files("zoo") / "data"
    ond = sorted(glob.glob(str(resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov" / "*.fits")))
    lam = sorted(glob.glob(os.path.join(SHARED_LAMOST, "*.fits"))) or sorted(glob.glob(str(root / "lamost" / "*.fits")))
    return ond, lam


def per_class_table(results):
    """Per-class test accuracy with 95 % Clopper-Pearson intervals, beside the thesis's numbers."""
    from training.common import binom_ci
    print("\n## per-class test accuracy (simulated test set; 95 % Clopper-Pearson interval) vs the thesis "
          "(Fig. 9.2, 9.4)")
    for k, v in results.items():
        cm = np.asarray(v["test"]["confusion_matrix"])
        th = v.get("thesis_per_class_accuracy", {})
        cells = []
        for i, c in enumerate(v["test"]["classes"]):
            hit, n = int(cm[i, i]), int(cm[i].sum())
            lo, hi = binom_ci(hit, n)
            cells.append(f"{c} {hit / n:.1%} [{lo:.1%}, {hi:.1%}] of {n}" + (f" (thesis {th[c]:.0%})" if c in th else ""))
        print(f"  {k:24s} " + "; ".join(cells) + f"; overall {v['test']['accuracy']:.1%}")


def confusion(results):
    from training.common import draw_confusion
    plt = _plt()
    runs = [k for k in ("emission_fc_imbalanced", "emission_fc", "emission_cnn") if k in results]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.3 * len(runs), 3.9), squeeze=False)
    for ax, k in zip(axes[0], runs):
        t = results[k]["test"]
        draw_confusion(ax, t["confusion_matrix"], t["classes"], cell="{pct:.1%}\n({n})", fontsize=8,
                       tick_fontsize=8)
        thesis = results[k].get("thesis_per_class_accuracy", {})
        th = ", ".join(f"{c[:4]} {v:.0%}" for c, v in thesis.items())
        ax.set_title(f"{k}\ntest accuracy {t['accuracy']:.3f}" + (f"\nthesis: {th}" if th else ""), fontsize=8)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
    fig.suptitle("Simulated test set (thesis Fig. 9.2: FC imbalanced; Fig. 9.4: FC and CNN with SMOTE)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, "emission_confusion.png"), dpi=110)
    plt.close(fig)


def examples(contract):
    from zoo.families.bestars.simulate import CLASSES, simulate_dataset
    plt = _plt()
    from zoo.families.bestars.recipes import FC_RECIPE
    d, native = simulate_dataset({"emission": 4, "absorption": 4, "double-peak": 4}, contract, seed=7,
                                 keep_native=True, cfg=FC_RECIPE.sim_config())
    fig, axes = plt.subplots(2, 3, figsize=(13, 6))
    grid = contract.wavelength()
    for j, c in enumerate(CLASSES):
        for k, i in enumerate(np.nonzero(d.y == j)[0]):
            w, f = native[i]
            sel = np.abs(w - 6563) < 40
            ls = "-" if d.instrument[i] == "ondrejov" else "--"
            axes[0, j].plot(w[sel], f[sel] / np.median(f) + 0.6 * k, ls, lw=0.6)
            axes[1, j].plot(grid, d.x[i] + 4 * k, ls, lw=0.8)
        axes[0, j].set_title(f"{c}: simulated CCD700 (solid: air, R 13000) and LAMOST (dashed) spectra", fontsize=8)
        axes[1, j].set_title("after each instrument's path (140 px, standardized)", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, "emission_examples.png"), dpi=100)
    plt.close(fig)


def scatter_with_real(ax, xy, y, real_xy, real_names, title):
    from zoo.families.bestars.simulate import CLASSES
    for j, c in enumerate(CLASSES):
        s = y == j
        ax.scatter(xy[s, 0], xy[s, 1], s=2, alpha=0.35, color=COLORS[c], label=f"simulated {c}")
    n_ond = sum(1 for n in real_names if not n.startswith("spec-") and "lamost" not in n)
    for (px, py), name in zip(real_xy, real_names):
        ond = not (name.startswith("spec-") or "lamost" in name)
        ax.scatter(px, py, marker="*" if ond else "D", s=120 if ond else 30, color="k" if ond else "orange",
                   edgecolor="k", zorder=5)
        if ond or "bt-cmi" in name:
            ax.annotate(name.replace(".fits", ""), (px, py), fontsize=6, xytext=(4, 4), textcoords="offset points")
    ax.scatter([], [], marker="*", s=80, color="k", label=f"real Ondřejov ({n_ond})")
    ax.scatter([], [], marker="D", s=25, color="orange", edgecolor="k",
               label=f"real LAMOST ({len(real_names) - n_ond})")
    ax.legend(fontsize=7, markerscale=2)
    ax.set_title(title, fontsize=9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--calibration", action="store_true",
                    help="only the simulator calibration -> docs/results/bestars_calibration.json (no figures)")
    args = ap.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    t_start = time.time()
    os.makedirs(IMG, exist_ok=True)
    import zoo
    from zoo.families.bestars import predict_spectra, prepare
    from zoo.families.bestars.recipes import FC_RECIPE
    from zoo.families.bestars.simulate import CLASSES, simulate_dataset
    from zoo.families.bestars.trust import fit_reference, pca_score
    from zoo.io import read
    from training.common import machine_description
    from training.bestars import stratified_split
    plt = _plt()
    contract = zoo.get_card("emission_cnn").input
    ond, lam = real_sets()
    names = [os.path.basename(f) for f in ond + lam]
    real = prepare(contract, ond + lam).flux
    print(f"# scripts/bestars_figures.py on {machine_description()}")

    # ---- simulator calibration: continuum tilts of the real files
    print("\n## continuum tilt of the real files over 6519-6732 A (H-alpha +-35 A excluded): "
          "relative slope per 100 A, curvature per (100 A)^2")
    calib = {"tilts": {}, "real": []}
    for f in ond + lam:
        s = read(f)
        w = s.angstrom
        m = (w > 6519) & (w < 6732) & (np.abs(w - 6564) > 35) & ~(s.mask if s.mask is not None else False)
        p = np.polyfit((w[m] - 6625) / 100, s.flux[m] / np.median(s.flux[m]), 2)
        print(f"  {os.path.basename(f):40s} slope {p[1]:+.3f}  curvature {p[0]:+.3f}")
        calib["tilts"][os.path.basename(f)] = {"slope": round(float(p[1]), 4), "curvature": round(float(p[0]), 4)}

    # ---- confusion matrices from the training runs
    if args.calibration:
        pass
    elif os.path.exists(RESULTS):
        with open(RESULTS) as fh:
            results = json.load(fh)
        confusion(results)
        per_class_table(results)
    else:
        print(f"(no {RESULTS}: run the training commands with --docs first)")

    # ---- the simulated dataset of the committed runs (same seed and counts)
    t0 = time.time()
    sim = simulate_dataset(FC_RECIPE.class_counts(), contract, seed=FC_RECIPE.seed, cfg=FC_RECIPE.sim_config())
    tr, va, te = stratified_split(sim.y, FC_RECIPE.test_fraction, FC_RECIPE.val_fraction, FC_RECIPE.seed)
    print(f"\n(simulated the training runs' {len(sim.y)} spectra in {time.time() - t0:.0f} s)")
    if not args.calibration:   # the figures of the simulated set
        examples(contract)

        # ---- PCA (thesis Fig. 8.1 right) with the real spectra
        mean = sim.x.mean(0)
        _, _, vt = np.linalg.svd(sim.x - mean, full_matrices=False)
        xy = (sim.x - mean) @ vt[:2].T
        rxy = (real - mean) @ vt[:2].T
        fig, ax = plt.subplots(figsize=(7.5, 6))
        scatter_with_real(ax, xy, sim.y, rxy, names, "PCA of the standardized simulated set (thesis Fig. 8.1, right) "
                                                     "with the real spectra")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        fig.tight_layout()
        fig.savefig(os.path.join(IMG, "emission_pca.png"), dpi=110)
        plt.close(fig)

        # ---- t-SNE (Sec. 8.2: PCA to 30, perplexity 40)
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE
        rng = np.random.default_rng(0)
        n_t = 1000 if args.fast else 3000
        pick = rng.choice(len(sim.y), n_t, replace=False)
        both = np.concatenate([sim.x[pick], real])
        t0 = time.time()
        z = PCA(30, random_state=0).fit_transform(both)
        emb = TSNE(2, perplexity=40, init="pca", random_state=0).fit_transform(z)
        print(f"(t-SNE of {len(both)} points in {time.time() - t0:.0f} s)")
        fig, ax = plt.subplots(figsize=(7.5, 6))
        scatter_with_real(ax, emb[:n_t], sim.y[pick], emb[n_t:], names,
                          f"t-SNE (PCA to 30, perplexity 40) of {n_t} simulated spectra and the real ones")
        fig.tight_layout()
        fig.savefig(os.path.join(IMG, "emission_tsne.png"), dpi=110)
        plt.close(fig)

    # ---- calibration: nearest simulated neighbours of the real spectra
    train = sim.x[tr]

    def nn(x):
        d = np.sqrt(np.maximum(((x ** 2).sum(1)[:, None] - 2 * x @ train.T + (train ** 2).sum(1)[None]), 0))
        return d.min(1), d.argmin(1)
    d_test, _ = nn(sim.x[te])
    d_real, i_real = nn(real)
    ref = fit_reference(train, FC_RECIPE.trust_components)
    s_real = pca_score(real, ref)
    print("\n## calibration: distance of each real spectrum to its nearest simulated training spectrum "
          "(standardized 140-px space), as a percentile of the simulated test spectra's own distances; "
          "domain score (trust.py)")
    for n, dd, i, sc in zip(names, d_real, i_real, s_real):
        print(f"  {n:40s} NN distance {dd:6.2f} (percentile {np.mean(d_test < dd):5.1%} of simulated test)  "
              f"nearest: {CLASSES[sim.y[tr][i]]:11s} domain score {sc:7.2f}")
    print(f"  simulated test NN distance: median {np.median(d_test):.2f}, 95th percentile "
          f"{np.quantile(d_test, 0.95):.2f}")
    ond_names = {os.path.basename(f) for f in ond}
    calib["real"] = [{"file": n, "archive": "ondrejov" if n in ond_names else "lamost",
                      "nn_distance": round(float(dd), 3), "percentile": round(float(np.mean(d_test < dd)), 4),
                      "nearest_class": CLASSES[sim.y[tr][i]], "domain_score": round(float(sc), 3)}
                     for n, dd, i, sc in zip(names, d_real, i_real, s_real)]
    calib["simulated_test_nn"] = {"n": int(len(d_test)), "median": round(float(np.median(d_test)), 3),
                                  "p95": round(float(np.quantile(d_test, 0.95)), 3)}
    calib["simulated"] = {"n": int(len(sim.y)), "seed": FC_RECIPE.seed, "simulator": FC_RECIPE.simulator,
                          "trust_components": FC_RECIPE.trust_components}
    from training.common import recorded_result
    with open(os.path.join(REPO, "docs", "results", "bestars_calibration.json"), "w", encoding="utf-8") as fh:
        json.dump(recorded_result("python scripts/bestars_figures.py" + (" --calibration" if args.calibration else ""),
                                  t_start, load_before, calib), fh, indent=1)
    if args.calibration:
        return
    # native-resolution view of the nearest neighbours of the Ondřejov spectra
    from zoo.families.bestars.simulate import simulate_spectrum  # noqa: F401
    from zoo.families.bestars.preprocess import air_to_vacuum_thesis
    fig, axes = plt.subplots(2, len(ond), figsize=(4 * len(ond), 6), squeeze=False)
    grid = contract.wavelength()
    for j, f in enumerate(ond):
        s = read(f)
        w = air_to_vacuum_thesis(s.angstrom)
        sel = np.abs(w - 6564.6) < 60
        axes[0, j].plot(w[sel], s.flux[sel] / np.median(s.flux[sel]), "k", lw=0.7, label="real (native)")
        axes[0, j].set_title(os.path.basename(f), fontsize=8)
        axes[1, j].plot(grid, real[j], "k", lw=1.2, label="real")
        k = tr[i_real[j]]
        axes[1, j].plot(grid, sim.x[k], color=COLORS[CLASSES[sim.y[k]]], lw=1,
                        label=f"nearest simulated ({CLASSES[sim.y[k]]})")
        axes[1, j].legend(fontsize=7)
        axes[1, j].set_title(f"model grid; NN distance {d_real[j]:.2f} "
                             f"({np.mean(d_test < d_real[j]):.0%} of sim. test closer)", fontsize=8)
    fig.suptitle("Simulator calibration: real Ondřejov spectra and their nearest simulated training spectra",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, "emission_calibration.png"), dpi=100)
    plt.close(fig)

    # ---- BT CMi (thesis Fig. 7.2)
    bo = [f for f in ond if "bt-cmi" in f][0]
    bl = [f for f in lam if "bt-cmi" in f]
    from importlib import resources
    bl = bl[0] if bl else str(resources.files("zoo") / "data" / "lamost" / "bt-cmi-lamost.fits")
    from zoo.families.bestars.preprocess import instrument_path
    so, sl = read(bo), read(bl)
    sp = instrument_path(so)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for s, lab, kw in ((so, "Ondřejov, native (air)", {"lw": 0.5, "color": "0.6"}),
                       (sp, "Ondřejov, vacuum + blur 7 px", {"lw": 1.0, "color": "tab:blue"}),
                       (sl, "LAMOST (vacuum)", {"lw": 1.0, "color": "tab:red", "marker": ".", "ms": 3})):
        w = s.angstrom
        sel = np.abs(w - 6564.6) < 50
        axes[0].plot(w[sel], s.flux[sel] / np.median(s.flux[sel]), label=lab, **kw)
    axes[0].legend(fontsize=7)
    axes[0].set_title("BT CMi from both archives (thesis Fig. 7.2)", fontsize=9)
    pb = prepare(contract, [bo, bl]).flux
    axes[1].plot(grid, pb[0], label="Ondřejov path")
    axes[1].plot(grid, pb[1], label="LAMOST path")
    axes[1].legend(fontsize=7)
    axes[1].set_title("the two model inputs (140 px, standardized)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, "emission_btcmi.png"), dpi=110)
    plt.close(fig)

    # ---- the exported models on the real files
    print("\n## real files through the exported models (ONNX): thesis path (family) | core predict(path)")
    for name in ("emission_fc", "emission_cnn"):
        try:
            m = zoo.load_model(name, backend="onnx")
        except Exception as exc:  # noqa: BLE001
            print(f"  {name}: not exported ({exc})")
            continue
        for f in ond + lam:
            r = predict_spectra(m, f)
            c = m.predict(f)
            p = r["probabilities"][0]
            print(f"  {name:12s} {os.path.basename(f):40s} {r['halpha_class'][0]:11s} "
                  f"p(em, abs, dp) = ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) domain {r['domain_score'][0]:7.2f}"
                  f"{' OOD' if r['out_of_domain'][0] else '    '} | core {c['halpha_class'][0]} "
                  f"({c['halpha_class_probability'][0]:.3f})")

    # ---- candidate gallery on the LAMOST files
    from zoo.families.bestars import candidates
    tmp = tempfile.mkdtemp()
    print(f"\n## candidates: python -m zoo.families.bestars.candidates {len(lam)} LAMOST files --out ...")
    candidates.main([*lam, "--out", tmp])
    with open(os.path.join(tmp, "candidates.csv")) as fh:
        print(fh.read())
    for g in glob.glob(os.path.join(tmp, "gallery_*.png")):
        shutil.copy(g, os.path.join(IMG, "emission_" + os.path.basename(g)))
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ndone in {(time.time() - t_start) / 60:.1f} min; figures in {IMG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
