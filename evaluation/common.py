"""The block registry and helpers of the docs renderer (:mod:`evaluation.render`).

A block is a function of committed results files (``docs/results/*.json``) and exported cards that
returns Markdown; ``@block(NAME)`` registers it for the markers ``<!-- BEGIN generated:NAME -->``.
Blocks of one family live in ``evaluation/<family>.py`` beside the family's other code stems
(``zoo/families/<family>/``, ``training/<family>``, ``docs/<family>.md``); blocks that serve every
model (fine-tuning tables, training speed) in :mod:`evaluation.generic`.
"""
from __future__ import annotations

import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "docs", "results")
BLOCKS: dict = {}


def block(name: str):
    def deco(fn):
        BLOCKS[name] = fn
        return fn
    return deco


def load(name: str) -> dict:
    with open(os.path.join(RESULTS, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)


def card(name: str) -> dict:
    with open(os.path.join(REPO, "exported", name, "card.json"), encoding="utf-8") as fh:
        return json.load(fh)


def _json(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def md_table(header, rows) -> str:
    """A Markdown table: a header row and rows of cells (anything ``str`` takes)."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def commands_block(rows, lang: str = "", max_width: int | None = None) -> str:
    """A fenced block of shell commands, each ``(command, comment)`` with its comment aligned after it
    (none when the comment is empty; a command longer than ``max_width`` does not widen the column)."""
    width = max([len(c) for c, _ in rows if max_width is None or len(c) <= max_width] or [0])
    return (f"```{lang}\n" + "\n".join(f"{c:<{width}}   # {w}" if w else c for c, w in rows) + "\n```")


def coverage_row(name: str, end: str = "none", missing: float = 0.0) -> dict:
    """One row of ``docs/results/coverage_<name>.json`` (``python scripts/coverage_table.py NAME``): the
    figures with ``missing`` Angstrom cut at ``end`` (``"none"``: the full range)."""
    return next(r for r in load(f"coverage_{name}")["rows"]
                if r["end"] == end and (end == "none" or r["missing_A"] == missing))


def pct(s: dict) -> str:
    """k/n, percent and the 95 % Clopper-Pearson interval of a share dict (k, n, rate, ci95)."""
    lo, hi = s["ci95"]
    return f"{s['k']}/{s['n']} = {100 * s['rate']:.0f} % [{100 * lo:.0f}, {100 * hi:.0f}]"


def provenance(r: dict) -> str:
    code = (r.get("code_version") or "?")[:7]
    return (f"`{r['command']}`, {r['duration_s']:.0f} s on {r.get('cpu_count', '?')} CPUs, load "
            f"{r.get('load_before', '?')} before / {r.get('load_after', '?')} after, code {code}")


def run_provenance(r: dict) -> str:
    """A training run collected by an experiment script: the run's own wall time and load (its
    ``training_run``), then the script's command, machine and code version."""
    tr = r.get("training_run") or {}
    la = tr.get("load_average_1min") or {}
    return (f"{tr.get('wall_time_minutes', '?')} min, load median {la.get('median', '?')} (max {la.get('max', '?')}) "
            f"during training; collected by `{r['command']}`, {r['machine']}, code {(r.get('code_version') or '?')[:7]}")
