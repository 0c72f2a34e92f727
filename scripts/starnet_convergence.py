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
    from training.skeleton import phase1_numbers, record_experiment
    from training.starnet import StarNet

    def numbers(m):
        lr = (m.get("history") or {}).get("learning_rate") or [None]
        return {**phase1_numbers(m), "last_learning_rate": lr[-1]}
    record_experiment("starnet_convergence", "python scripts/starnet_convergence.py", StarNet, ARGS, RESULTS,
                      numbers, reuse=args.reuse)
    return 0


if __name__ == "__main__":
    sys.exit(main())
