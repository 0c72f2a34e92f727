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
    from training.skeleton import phase1_numbers, record_experiment
    record_experiment("apogeenet_momentum", "python scripts/apogeenet_momentum.py", ApogeeNet, ARGS, RESULTS,
                      phase1_numbers, reuse=args.reuse)
    return 0


if __name__ == "__main__":
    sys.exit(main())
