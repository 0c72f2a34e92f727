"""Paper initialization N(0, 0.1) vs Keras' default (Glorot) for AutoClassMK (Sec. III.4).

    python scripts/autoclassmk_init_comparison.py           # two full runs, 36 min on 2 cores (2026-12-06)
    python scripts/autoclassmk_init_comparison.py --reuse   # collect runs/autoclassmk_init_{paper,keras} made by the commands below

Trains the paper's recipe twice on the same data and seed, once with the paper's initialization
(``python -m training.autoclassmk --no-export --out runs/autoclassmk_init_paper``) and once with Keras'
default (``python -m training.autoclassmk --model autoclassmk_kerasinit --no-export --docs --out
runs/autoclassmk_init_keras``; ``--docs`` puts its plots in docs/img), and writes
``docs/results/autoclassmk_init.json``: per run the validation loss and accuracies at selected epochs,
the first epoch with validation SC accuracy >= 0.99, the best checkpoint's test accuracies (augmented
libr18_27; validation = libr18 augmentations, never the test atlas) and the run's own record (wall
time, load).  ``evaluation/autoclassmk.py`` renders the table of docs/autoclassmk.md.  One seed each.
"""
from __future__ import annotations

import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
RESULTS = os.path.join(REPO, "docs", "results", "autoclassmk_init.json")
RUNS = {"paper": ["--no-export", "--out", "runs/autoclassmk_init_paper"],
        "keras": ["--model", "autoclassmk_kerasinit", "--no-export", "--docs", "--out", "runs/autoclassmk_init_keras"]}
EPOCHS = (10, 50, 100, 250)
HEADS = ("spectral_class", "luminosity_class")


def numbers(m: dict) -> dict:
    """What one run contributes: the validation curve at EPOCHS, the first epoch at 99 % validation SC
    accuracy, the best checkpoint's test accuracies."""
    h = m["history"]
    sc = h["val_spectral_class_accuracy"]
    first = next((i + 1 for i, v in enumerate(sc) if v >= 0.99), None)
    bc = m["metrics"]["best_checkpoint"]
    return {"command": m["command"], "epochs_run": len(h["val_loss"]),
            "at_epoch": {str(e): {"val_loss": h["val_loss"][e - 1], "val_sc_accuracy": sc[e - 1],
                                  "val_lc_accuracy": h["val_luminosity_class_accuracy"][e - 1]}
                         for e in EPOCHS if e <= len(h["val_loss"])},
            "first_epoch_val_sc_099": first,
            "best_checkpoint": {"epoch": bc["epoch"], **{k: bc[k]["accuracy"] for k in HEADS}},
            "n_test": m["metrics"].get("n_test"), "training_run": m.get("training_run")}


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reuse", action="store_true",
                    help="collect from the runs' metrics.json where the commands above wrote them")
    args = ap.parse_args(argv)
    from training.autoclassmk import AutoClassMK
    from training.common import recorded_result, write_json
    from training.skeleton import run_or_reuse
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)
    os.chdir(REPO)
    runs, reused = {}, {}
    for tag, argv_run in RUNS.items():
        m, reused[tag] = run_or_reuse(AutoClassMK, argv_run, reuse=args.reuse)
        runs[tag] = numbers(m)
    script = "python scripts/autoclassmk_init_comparison.py" + (" --reuse" if all(reused.values()) else "")
    res = recorded_result(script, t0, load0, {"experiment": "autoclassmk_init", "reused_runs": reused,
                                              "epochs": list(EPOCHS), "runs": runs})
    write_json(res, RESULTS)
    print(f"wrote {os.path.relpath(RESULTS, REPO)} ({res['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
