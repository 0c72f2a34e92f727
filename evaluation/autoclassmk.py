"""Generated blocks of docs/autoclassmk.md: Table 1 of Short (2026) beside the exported models, from
the cards (``python -m training.autoclassmk``, the committed runs) and from
``docs/results/evaluate_<model>.json`` (``python -m training.autoclassmk [--model M] --evaluate --results``:
the exported ONNX file scored again on the card's test set)."""
from __future__ import annotations

from evaluation.common import block, card, load

MODELS = ("autoclassmk", "autoclassmk_broad")


def _table(name: str) -> str:
    """The training run's printout: the paper's Table 1, the best checkpoint, the chi^2 baseline."""
    from training.autoclassmk import PAPER_TABLE1, report_lines
    m = card(name)["metrics"]
    n = int(m["test_set"].split(", ")[1].split()[0])
    res = {"best_checkpoint": {**{h: m[h] for h in ("spectral_class", "luminosity_class")},
                               "epoch": m["best_epoch"]},
           "chi2_baseline": m["chi2_baseline"]}
    assert m["paper_table1"] == {h: {k: PAPER_TABLE1[h][k] for k in m["paper_table1"][h]} for h in m["paper_table1"]}
    lines = report_lines(name, n, {**res, "best_checkpoint": {**res["best_checkpoint"],
                                                             **{h: {**res["best_checkpoint"][h], "report": ""}
                                                                for h in ("spectral_class", "luminosity_class")}}})
    body = lines[:lines.index("") + 1 + 4]      # title, blank, header, paper, this model, chi2
    return "```\n" + "\n".join(body) + "\n```"


def _evaluate(name: str) -> str:
    """``--evaluate --results``: the exported file on the same test set, and the +-1 class tolerance."""
    from training.autoclassmk import report_lines
    r = load(f"evaluate_{name}")
    lines = [ln for ln in report_lines(name, r["metrics"]["n_test"], r["metrics"])
             if ln.startswith(("exported model", "spectral class within"))]
    return (f"`{r['command']}` ({r['backend']} backend, {r['duration_s']:.0f} s, load {r['load_before']}, "
            f"code {(r.get('code_version') or '?')[:7]}):\n\n```\n" + "\n".join(lines) + "\n```")


for _n in MODELS:
    block(f"{_n}_table1")(lambda n=_n: _table(n))
    block(f"{_n}_evaluate")(lambda n=_n: _evaluate(n))
