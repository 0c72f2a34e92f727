"""Design deviation 3 of docs/apogeenet.md: SGD with momentum 0.9 (ours) against the paper's plain SGD.

    python scripts/apogeenet_momentum.py            # ~20 min on 2 cores; writes docs/results/apogeenet_momentum.json
    python scripts/apogeenet_momentum.py --reuse    # collect from runs/apogeenet_sgd0 when that command made it

Trains APOGEE Net's main phase with the paper's optimizer, ``python -m training.apogeenet --momentum 0
--no-stratified --no-export --out runs/apogeenet_sgd0`` (same simulated data, splits, seed, initialization
and input shift as the exported run; no stratified fine-tuning), until the paper's early stopping ends it,
and records its epochs, best epoch, standardized MSE per split and group and test scatter.
``evaluation/apogeenet.py`` renders it beside the exported run's main phase (its card:
``metrics.phase1`` and ``metrics.standardized_mse_before_stratified``).
"""
from __future__ import annotations

import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
RESULTS = os.path.join(REPO, "docs", "results", "apogeenet_momentum.json")
ARGS = ["--momentum", "0", "--no-stratified", "--no-export", "--out", "runs/apogeenet_sgd0"]


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reuse", action="store_true",
                    help="collect from runs/apogeenet_sgd0/metrics.json if the training command above wrote it")
    args = ap.parse_args(argv)
    from training.apogeenet import ApogeeNet
    from training.common import recorded_result, write_json
    from training.skeleton import run_or_reuse
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)
    os.chdir(REPO)
    m, reuse = run_or_reuse(ApogeeNet, ARGS, reuse=args.reuse)
    # --no-export, no fine-tuning: the run's evaluation of its best checkpoint is metrics.phase1
    p1 = m["metrics"]["phase1"]
    res = recorded_result("python scripts/apogeenet_momentum.py" + (" --reuse" if reuse else ""), t0, load0, {
        "experiment": "apogeenet_momentum", "training_command": m["command"], "reused_run": reuse,
        "standardized_mse": p1["mse"], "test_scatter": p1["scatter_test"],
        "phase1": {k: p1.get(k) for k in ("epochs", "best_epoch", "stopped_by", "minutes")},
        "training_run": m.get("training_run")})
    write_json(res, RESULTS)
    print(f"wrote {os.path.relpath(RESULTS, REPO)} ({res['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
