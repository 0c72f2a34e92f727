"""Tables and figures of docs/racnet.md from the committed runs and the simulator.

    python scripts/racnet_docs.py            # after scripts/racnet_train_all.sh

1. ``docs/img/racnet_sim_vs_real.png``: the real LAMOST files of ``../shared/data/lamost``
   inside the simulated distribution: (a) the first two principal components of
   simulated STAR/GALAXY/QSO/UNKNOWN spectra (Eq. 1-normalized, on the contract grid)
   with the real files projected on them; (b) each real F/G/K star against the 5-95 %
   envelope of simulated stars of its header class.  Prints, for each real file, the
   percentile of its distance to the simulated cloud and the domain score of the
   exported RAC-Nets.
2. ``docs/img/racnet_confusions.png``: the test confusion matrices of the nine
   convolutional runs (``runs/<arch>_<task>/metrics.json``).
3. Prints Table 4 (and the Table 2 row) beside the paper's, as Markdown.

Needs the runs (``runs/``) for 2-3 and ``../shared/data/lamost`` for 1 (skipped when absent).
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
PAPER = {  # Table 4 (params, DS1, DS2, DS3) and Table 2 (DS1 per class)
    "cnet": ("2.89M", 88.75, 98.58, 91.97), "rcnet": ("0.388M", 93.33, 98.81, 93.07),
    "racnet": ("0.623M", 93.52, 98.92, 93.25), "fcnet": ("-", 77.13, None, None)}
TABLE2 = {"fcnet": (91.38, 83.43, 85.65, 48.17, 77.13), "cnet": (91.50, 94.41, 90.16, 79.91, 88.75)}
TASKS = {"ds1": "ds1", "ds2": "ds2", "ds3": "fgk"}
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
    from training.racnet_data import prepare
    from zoo.families.lamost_class.simulate import simulate
    from zoo.families.lamost_class.trust import score
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
    from zoo.families.lamost_class.trust import _kth_distance, features
    comps = vt[:16]
    fs, fr = features(X[phys], mean, comps), features(R, mean, comps)
    d_sim = _kth_distance(fs, fs, 6)          # itself is the nearest
    d_real = _kth_distance(fr, fs, 5)
    pct = [float(np.mean(d_sim < d) * 100) for d in d_real]
    scores = {}
    for name in ("racnet_ds2", "racnet_fgk"):
        p = os.path.join(REPO, "exported", name, "trust.npz")
        card = os.path.join(REPO, "exported", name, "card.json")
        if os.path.exists(p):
            with np.load(p) as t:
                arr = {k: t[k] for k in t.files}
            thr = json.load(open(card))["trust"]["threshold"]
            scores[name] = (score(R, arr), thr)
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


def tables():
    print("\n| model | params (paper) | params (ours) | DS1 paper | DS1 ours | DS2 paper | DS2 ours | "
          "DS3 paper | DS3 ours | epochs run (DS1/2/3) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arch in ("fcnet", "cnet", "rcnet", "racnet"):
        cells, ours_params, epochs = [], None, []
        for j, (task, suffix) in enumerate(TASKS.items()):
            run = load_run(f"{arch}_{suffix}")
            paper = PAPER[arch][j + 1]
            if run is None:
                cells += ["-" if paper is None else f"{paper:.2f} %", "not run"]
                epochs.append("-")
                continue
            m = run["metrics"]
            ours_params = m["params"] if ours_params is None else ours_params
            cells += ["-" if paper is None else f"{paper:.2f} %",
                      f"{100 * m['test_accuracy']:.2f} % (avg/class {100 * m['average_accuracy']:.2f} %)"]
            epochs.append(str(run["training_run"].get("epochs_run")))
        print(f"| {LABEL[arch]} | {PAPER[arch][0]} | {'-' if ours_params is None else f'{ours_params:,}'} | "
              + " | ".join(cells) + f" | {'/'.join(epochs)} |")
    print("\nTable 2 (DS1 per class):\n")
    print("| model | STAR | GALAXY | QSO | UNKNOWN | average |")
    print("|---|---|---|---|---|---|")
    for arch in ("fcnet", "cnet", "rcnet", "racnet"):
        if arch in TABLE2:
            print(f"| {LABEL[arch]} (paper) | " + " | ".join(f"{v:.2f} %" for v in TABLE2[arch]) + " |")
        run = load_run(f"{arch}_ds1")
        if run:
            pc = run["metrics"]["per_class_accuracy"]
            print(f"| {LABEL[arch]} (ours) | " + " | ".join(f"{100 * pc[c]:.2f} %" for c in
                                                          ("STAR", "GALAXY", "QSO", "UNKNOWN"))
                  + f" | {100 * run['metrics']['average_accuracy']:.2f} % |")
    for task, suffix in list(TASKS.items())[1:]:
        classes = None
        rows = []
        for arch in ("fcnet", "cnet", "rcnet", "racnet"):
            run = load_run(f"{arch}_{suffix}")
            if run:
                classes = classes or run["data"]["classes"]
                pc = run["metrics"]["per_class_accuracy"]
                rows.append(f"| {LABEL[arch]} (ours) | " + " | ".join(f"{100 * pc[c]:.2f} %" for c in classes)
                            + f" | {100 * run['metrics']['average_accuracy']:.2f} % |")
        if rows:
            print(f"\n{task.upper()} per class:\n")
            print("| model | " + " | ".join(classes) + " | avg/class |")
            print("|---|" + "---|" * (len(classes) + 1))
            print("\n".join(rows))
    runs_table()


def runs_table():
    """The "Training runs" table of docs/racnet.md: every run with its limit, epochs and times."""
    print("\n| run | command | training limit | epochs (stopped by) | s/epoch (median) | wall time |")
    print("|---|---|---|---|---|---|")
    for task, suffix in TASKS.items():
        for arch in ("racnet", "rcnet", "cnet", "fcnet"):
            run = load_run(f"{arch}_{suffix}")
            if not run:
                continue
            t, r = run["training_run"], run["recipe"]
            cmd = f"--task {task}" + ("" if arch == "racnet" else f" --arch {arch} --no-export")
            stop = t.get("stopped_by")
            stop = stop if stop != "early stopping" else f"early stopping, best {t.get('best_epoch')}"
            print(f"| `{arch}_{suffix}` | `python -m training.racnet {cmd}` | {r.get('max_minutes'):g} min | "
                  f"{t.get('epochs_run')} ({stop}) | {t.get('seconds_per_epoch_median')} | "
                  f"{t.get('wall_time_minutes')} min |")


def main():
    os.makedirs(IMG, exist_ok=True)
    sim_vs_real()
    confusions()
    tables()


if __name__ == "__main__":
    main()
