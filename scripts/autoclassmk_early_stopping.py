"""Early stopping for AutoClassMK (docs/autoclassmk.md, "Early stopping on the validation loss").

    python scripts/autoclassmk_early_stopping.py           # 3-15 min on 2 cores; docs/results/autoclassmk_early_stopping.json
    python scripts/autoclassmk_early_stopping.py --reuse   # collect from runs/autoclassmk_earlystop when that command made it

Trains the paper's recipe with a real early stop that ignores decreases of the validation loss below
1e-3 (``python -m training.autoclassmk --patience 10 --min-delta 1e-3 --stop-early --no-export --out
runs/autoclassmk_earlystop``; validation = libr18 augmentations, never the test atlas) and records when
it stopped, the epoch it restored, the training time and the test accuracies of the restored weights,
beside the exported 250-epoch run (its card).  ``evaluation/autoclassmk.py`` renders the table.
"""
from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
RESULTS = os.path.join(REPO, "docs", "results", "autoclassmk_early_stopping.json")
ARGS = ["--patience", "10", "--min-delta", "1e-3", "--stop-early", "--no-export", "--out", "runs/autoclassmk_earlystop"]


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reuse", action="store_true",
                    help="collect from runs/autoclassmk_earlystop/metrics.json if the training command above wrote it")
    args = ap.parse_args(argv)
    from training.autoclassmk import AutoClassMK
    from training.skeleton import record_experiment
    keep = ("spectral_class", "luminosity_class")

    def acc(r):
        return {h: {k: r[h][k] for k in ("accuracy", "macro_f1")} for h in keep if h in r}

    def numbers(m):
        met = m["metrics"]
        es = met.get("early_stopping", {})
        vl = (m.get("history") or {}).get("val_loss") or []
        return {"n_test": met.get("n_test"),
                "best_checkpoint": {"epoch": met["best_checkpoint"]["epoch"], **acc(met["best_checkpoint"])},
                "early_stopping": {**{k: es.get(k) for k in ("patience", "min_delta", "stopped_training",
                                                              "would_stop_at_epoch", "best_epoch_before_stop")},
                                   **acc(es)},
                "val_loss": {"at_150": vl[149] if len(vl) >= 150 else None, "last": vl[-1] if vl else None,
                             "epochs": len(vl)}}
    record_experiment("autoclassmk_early_stopping", "python scripts/autoclassmk_early_stopping.py", AutoClassMK,
                      ARGS, RESULTS, numbers, reuse=args.reuse)
    return 0


if __name__ == "__main__":
    sys.exit(main())
