"""Is StarNet's gap to APOGEE Net the recipe's epoch cap or the network?  (docs/starnet.md, "Longer training")

    python scripts/starnet_convergence.py            # ~8 min on 2 cores; writes docs/results/starnet_convergence.json
    python scripts/starnet_convergence.py --reuse    # collect from runs/starnet_200ep when that command made it

Trains StarNet with its own recipe but the epoch cap lifted, ``python -m training.starnet --epochs 200
--no-export --out runs/starnet_200ep``, so that the recipe's early stopping (patience, learning-rate
floor) ends it, and records the run's metrics: standardized test MSE per group, test scatter, epochs run,
best epoch, why it stopped, the last learning rate and the wall time.  The exported ``starnet`` is the
recipe's 30-epoch run (its card holds that run's metrics); ``evaluation/apogeenet.py`` renders both
beside APOGEE Net's card.  Same simulated data, splits and seeds as the exported runs.
"""
from __future__ import annotations

import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
RESULTS = os.path.join(REPO, "docs", "results", "starnet_convergence.json")
ARGS = ["--epochs", "200", "--no-export", "--out", "runs/starnet_200ep"]


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reuse", action="store_true",
                    help="collect from runs/starnet_200ep/metrics.json if the training command above wrote it")
    args = ap.parse_args(argv)
    from training.common import recorded_result, write_json
    from training.skeleton import run_or_reuse
    from training.starnet import StarNet
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)
    os.chdir(REPO)
    m, reuse = run_or_reuse(StarNet, ARGS, reuse=args.reuse)
    # --no-export: the run's own evaluation of its best checkpoint is metrics.phase1 (test split included)
    p1 = m["metrics"]["phase1"]
    lr = (m.get("history") or {}).get("learning_rate") or [None]
    res = recorded_result("python scripts/starnet_convergence.py" + (" --reuse" if reuse else ""), t0, load0, {
        "experiment": "starnet_convergence", "training_command": m["command"], "reused_run": reuse,
        "standardized_mse": p1["mse"], "test_scatter": p1["scatter_test"],
        "phase1": {k: p1.get(k) for k in ("epochs", "best_epoch", "stopped_by", "minutes")},
        "training_run": m.get("training_run"), "last_learning_rate": lr[-1]})
    write_json(res, RESULTS)
    print(f"wrote {os.path.relpath(RESULTS, REPO)} ({res['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
