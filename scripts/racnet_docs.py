"""Figures of docs/racnet.md from the committed runs and the simulator.

    python scripts/racnet_docs.py            # after the runs of scripts/racnet_train_all.sh

1. ``docs/img/racnet_sim_vs_real.png``: the real LAMOST files of ``../shared/data/lamost``
   inside the simulated distribution: (a) the first two principal components of
   simulated STAR/GALAXY/QSO/UNKNOWN spectra (Eq. 1-normalized, on the contract grid)
   with the real files projected on them; (b) each real F/G/K star against the 5-95 %
   envelope of simulated stars of its header class.  Prints, for each real file, the
   percentile of its distance to the simulated cloud and the domain score of the
   exported RAC-Nets.
2. ``docs/img/racnet_confusions.png``: the test confusion matrices of the nine
   convolutional runs (``runs/<arch>_<task>/metrics.json``).
(Table 4 and the other tables are generated blocks: ``python -m evaluation.render``.)

Needs the runs (``runs/``) for 2 and ``../shared/data/lamost`` for 1 (skipped when absent).
"""
from __future__ import annotations

import glob
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("ZOO_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
IMG = os.path.join(REPO, "docs", "img")
TASKS = {"ds1": "ds1", "ds2": "ds2", "fgk": "fgk"}
LABEL = {"cnet": "C-Net", "rcnet": "RC-Net", "racnet": "RAC-Net", "fcnet": "FC baseline"}


def load_run(name):
    p = os.path.join(REPO, "runs", name, "metrics.json")
    if not os.path.exists(p):
        return None
    with open(p) as fh:
        return json.load(fh)


def sim_vs_real():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import zoo
    from training.racnet.data import prepare
    from zoo.families.racnet.simulate import simulate
    from zoo.families.racnet.trust import score
    from zoo.io import read
    from zoo.preprocess import to_contract
    files = sorted(glob.glob(os.path.join(SHARED, "lamost", "spec-*.fits")))
    if not files:
        print("no ../shared/data/lamost: skipping the simulated-vs-real figure")
        return
    contract = zoo.get_card("racnet_ds1", trained=False).input
    kinds = ["STAR"] * 600 + ["GALAXY"] * 200 + ["QSO"] * 200 + ["UNKNOWN"] * 200 + ["F", "G", "K"] * 200
    sim = simulate(kinds, 2024)
    X = prepare(sim, contract)
    kinds = np.array(kinds)
    spectra = [read(f) for f in files]
    R = np.concatenate([to_contract(s.flux, contract, s.wavelength, error=s.error, mask=s.mask,
                                    medium=s.medium).flux for s in spectra])
    labels = [f"{s.meta.get('CLASS')} {s.meta.get('SUBCLASS')}" for s in spectra]
    phys = np.isin(kinds, ["STAR", "GALAXY", "QSO", "F", "G", "K"])
    mean = X[phys].mean(0)
    _, _, vt = np.linalg.svd(X[phys] - mean, full_matrices=False)
    P, PR = (X - mean) @ vt[:2].T, (R - mean) @ vt[:2].T
    # distance of each real file to the simulated cloud: 5th-nearest simulated spectrum (in 16 PCs + residual)
    from zoo.families.racnet.trust import _kth_distance, features
    comps = vt[:16]
    fs, fr = features(X[phys], mean, comps), features(R, mean, comps)
    d_sim = _kth_distance(fs, fs, 6)          # itself is the nearest
    d_real = _kth_distance(fr, fs, 5)
    pct = [float(np.mean(d_sim < d) * 100) for d in d_real]
    scores = {}
    for name in ("racnet_ds2", "racnet_fgk"):
        d = os.path.join(REPO, "exported", name)
        if os.path.exists(os.path.join(d, "trust.npz")):
            from zoo.predictor import Predictor
            pred = Predictor.without_network(d)
            arr = pred.artifact_arrays("trust.npz")        # checked against the card's sha256
            scores[name] = (score(R, arr), pred.card.trust_spec.threshold)
    print("| file | header | percentile of distance to simulated spectra | "
          + " | ".join(f"{n} domain score (threshold)" for n in scores) + " |")
    print("|---|---|---|" + "---|" * len(scores))
    for i, f in enumerate(files):
        print(f"| {os.path.basename(f)} | {labels[i]} | {pct[i]:.0f} | "
              + " | ".join(f"{s[i]:.2f} ({thr:.2f})" for s, thr in scores.values()) + " |")
    inside = sum(p < 95 for p in pct)
    print(f"\n{inside} of {len(files)} real files lie closer to the simulated spectra than 95 % of simulated "
          "spectra lie to each other")

    fig, ax = plt.subplots(1, 2, figsize=(13, 5.2))
    colors = {"STAR": "C0", "GALAXY": "C1", "QSO": "C2", "UNKNOWN": "C7", "F": "C4", "G": "C8", "K": "C3"}
    for k, c in colors.items():
        s = kinds == k
        ax[0].scatter(P[s, 0], P[s, 1], s=4, alpha=0.35, color=c, label=f"simulated {k}")
    ax[0].scatter(PR[:, 0], PR[:, 1], s=60, marker="*", color="k", label="real LAMOST")
    for i, lab in enumerate(labels):
        ax[0].annotate(lab.replace("STAR ", ""), PR[i], fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax[0].set_xlabel("PC 1")
    ax[0].set_ylabel("PC 2")
    ax[0].legend(fontsize=6, markerscale=2, ncol=2)
    ax[0].set_title("Eq. 1-normalized spectra: simulated vs the real LAMOST files", fontsize=9)
    wave = contract.wavelength()
    off = 0
    for cls in "FGK":
        sel = X[kinds == cls]
        lo, med, hi = np.percentile(sel, [5, 50, 95], axis=0)
        ax[1].fill_between(wave, lo + off, hi + off, color=colors[cls], alpha=0.25, lw=0)
        ax[1].plot(wave, med + off, color=colors[cls], lw=0.5)
        for i, lab in enumerate(labels):
            if lab.startswith("STAR " + cls):
                shown = np.convolve(R[i], np.ones(9) / 9, mode="same")   # 9-pixel box, display only
                ax[1].plot(wave[4:-4], shown[4:-4] + off, color="k", lw=0.4, alpha=0.7)
        ax[1].text(3750, off + 0.027, f"{cls}: simulated 5-95 % (band), real (black, 9-px box)", fontsize=7)
        off += 0.035
    ax[1].set_ylim(-0.005, 0.12)
    ax[1].set_xlabel("wavelength [A]")
    ax[1].set_ylabel("L2-normalized flux (offset)")
    ax[1].set_title("real F/G/K stars by header class inside the simulated MK-labelled stars", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, "racnet_sim_vs_real.png"), dpi=100)
    plt.close(fig)


def confusions():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.common import draw_confusion
    fig, axes = plt.subplots(3, 3, figsize=(11, 10))
    for i, arch in enumerate(("cnet", "rcnet", "racnet")):
        for j, (task, suffix) in enumerate(TASKS.items()):
            ax = axes[j, i]
            run = load_run(f"{arch}_{suffix}")
            if run is None:
                ax.set_axis_off()
                continue
            draw_confusion(ax, run["metrics"]["confusion"], run["data"]["classes"], tick_fontsize=6)
            ax.set_title(f"{LABEL[arch]} {task.upper()}: acc {run['metrics']['test_accuracy']:.3f}", fontsize=8)
    fig.suptitle("test confusion matrices (rows true, columns predicted; row-normalized)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, "racnet_confusions.png"), dpi=100)
    plt.close(fig)


def main():
    os.makedirs(IMG, exist_ok=True)
    sim_vs_real()
    confusions()


if __name__ == "__main__":
    main()
