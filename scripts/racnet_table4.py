"""Collect the RAC-Net ablation runs (Zou et al. 2020 Table 4, Table 2's FC row) into a results file.

    python -m training.racnet --task ds1 --arch cnet --no-export     # and rcnet, fcnet (the exported
    python -m training.racnet --task ds1 --arch rcnet --no-export    # racnet_ds1 is the RAC-Net row)
    python -m training.racnet --task ds1 --arch fcnet --no-export
    python scripts/racnet_table4.py

Every network of a task trains with that task's registered recipe (the same simulated spectra, split,
balancing, optimizer, batch, maximum epochs and early-stopping rule): equal data and one stopping
rule, not equal wall clock.  This reads ``runs/<arch>_<task>/metrics.json`` of each run (git ignores
``runs/``) and the exported RAC-Net's card, and writes ``docs/results/racnet_table4.json`` (the
rows evaluation.render puts into docs/racnet.md): per network its command, epochs, stopping reason,
wall time, machine and load, parameters and the simulated test accuracies.  A row whose run folder is
absent is carried over from the results file as it was, with the code version it was run at.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = {"ds1": "ds1", "ds2": "ds2", "fgk": "fgk"}
ARCHS = ("cnet", "rcnet", "racnet", "fcnet")


def row(arch: str, task: str) -> dict | None:
    name = f"{arch}_{TASKS[task]}"
    if arch == "racnet":
        path = os.path.join(REPO, "exported", name, "card.json")
        if not os.path.exists(path):
            return None
        with open(path) as fh:
            c = json.load(fh)
        m, tr, rec = c["metrics"], c["metrics"]["training_run"], c["recipe"]
    else:
        path = os.path.join(REPO, "runs", name, "metrics.json")
        if not os.path.exists(path):
            return None
        with open(path) as fh:
            r = json.load(fh)
        m, tr, rec = r["metrics"], r["training_run"], r["recipe"]
    return {"name": name, "arch": arch, "task": task, "command": tr["command"], "epochs_run": tr["epochs_run"],
            "best_epoch": tr["best_epoch"], "stopped_by": tr["stopped_by"], "wall_time_minutes": tr["wall_time_minutes"],
            "seconds_per_epoch_median": tr.get("seconds_per_epoch_median"), "machine": tr.get("machine"),
            "load_average_1min": tr.get("load_average_1min"), "params": m.get("params"), "test_n": m["test_n"],
            "test_accuracy": m["test_accuracy"], "average_accuracy": m["average_accuracy"],
            "per_class_accuracy": m["per_class_accuracy"],
            "recipe": {k: rec.get(k) for k in ("n_per_class", "epochs", "patience", "batch_size", "learning_rate",
                                               "max_minutes", "seed")}}


def previous_rows(path: str) -> dict:
    """Rows of the results file as last written, by name: a run whose ``runs/`` folder is gone (a fresh
    clone, another machine) keeps the row recorded when it ran, with that run's command and code version."""
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        old = json.load(fh)
    return {r["name"]: dict(r, code_version=r.get("code_version", old.get("code_version"))) for r in old["rows"]}


def main():
    path = os.path.join(REPO, "docs", "results", "racnet_table4.json")
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    kept = previous_rows(path)
    rows = []
    for task in TASKS:
        for arch in ARCHS:
            r = row(arch, task)
            if r is not None:
                r["code_version"] = rev
            else:
                r = kept.get(f"{arch}_{TASKS[task]}")
            if r is not None:
                rows.append(r)
    out = {"experiment": "racnet_table4", "command": "python scripts/racnet_table4.py", "code_version": rev,
           "rows": rows}
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1)
    for r in rows:
        print(f"{r['name']}: {100 * r['test_accuracy']:.2f} % ({r['epochs_run']} epochs, {r['stopped_by']})")
    print(f"wrote {os.path.relpath(path, REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
