"""Plot a run's stratified fine-tuning history (Olney et al. 2020 Sec. 3.4).

    python scripts/apogeenet_plot_stratified_history.py [runs/apogeenet] [docs/img/apogeenet_stratified.png]

Reads ``<run>/stratified_history.json`` (written by ``python -m training.apogeenet``,
which also draws this plot for new runs) and the before-fine-tuning dev values
from ``exported/apogeenet/card.json``; prints one line per round.
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training.apogeenet.regression import plot_stratified_history  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    run = argv[0] if argv else os.path.join("runs", "apogeenet")
    out = argv[1] if len(argv) > 1 else os.path.join("docs", "img", "apogeenet_stratified.png")
    with open(os.path.join(run, "stratified_history.json")) as fh:
        history = json.load(fh)
    with open(os.path.join("exported", "apogeenet", "card.json")) as fh:
        initial = json.load(fh)["metrics"]["stratified_finetuning"]["initial"]
    groups = [g for g in history[0] if g not in ("round", "epoch", "n_subset", "small", "improved")]
    for r in sorted({h["round"] for h in history}):
        rows = [h for h in history if h["round"] == r]
        best = min(rows, key=lambda h: h["small"])
        print(f"round {r}: {len(rows)} epochs, best small {best['small']:.4f} (large {best[groups[0]]:.4f})")
    plot_stratified_history(history, groups, out, "apogeenet: stratified fine-tuning (dotted: before it)", initial)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
