"""Refit a model's out-of-domain score on a user's unlabelled real spectra.

    python -m zoo refit-domain NAME --table TABLE --name NEW [--holdout 0.3] [--seed 0]

The network is unchanged (its answers are the base model's); only ``domain_score`` /
``out_of_domain`` now also know the user's kind of spectra.  The table (``file`` and an optional
``group`` column, :mod:`zoo.tables`) is split by group into a fit part and a held-out part; the
family's registered refit (:func:`zoo.registry.register_domain_refit`, named by the card's
``trust["method"]``) fits on the first, and the false-flag rate of the base and of the new model
is measured on the held-out part (with a 95 % Clopper-Pearson interval) and recorded in the new
card beside the table's sha256 and the command.
"""
from __future__ import annotations

import os
import shutil

import numpy as np

from .stats import clopper_pearson
from .tables import grouped_split, prepare_rows

__all__ = ["refit_domain", "HOLDOUT"]

#: share of the table's groups held out to measure the false-flag rates (``--holdout``'s default)
HOLDOUT = 0.3


def refit_domain(name: str, table, new_name: str, *, holdout: float = HOLDOUT, seed: int = 0,
                 export_dir=None, command: str = "", progress: bool = True, log=print) -> dict:
    """Write ``new_name``: ``name``'s network with its domain score refit on ``table``'s spectra."""
    from . import load_model
    from .artifacts import sha256
    from .predictor import Predictor, exported_dir
    from .registry import architecture_of, domain_refit
    from .tables import blank, read_table, table_files
    base = load_model(name, backend="onnx")
    method = (base.card.trust or {}).get("method")
    refit = domain_refit(method)
    rows, table_sha = read_table(table)
    files = table_files(table, rows)
    X, keep, skipped = prepare_rows(base, files, rows, progress=progress, desc=f"{name}: reading")
    if len(keep) < 10:
        raise ValueError(f"{table}: {len(keep)} usable spectra; a domain refit needs at least 10")
    groups = [str(rows[i]["group"]) if not blank(rows[i].get("group")) else files[i] for i in keep]
    fit, held = grouped_split(np.array(groups), holdout, seed)
    directory = os.fspath(export_dir or exported_dir(new_name))
    if os.path.abspath(directory) == os.path.abspath(base.directory):
        raise ValueError("--name must differ from the base model's")
    os.makedirs(directory, exist_ok=True)
    shutil.copy(os.path.join(base.directory, "model.onnx"), os.path.join(directory, "model.onnx"))
    shutil.copytree(os.path.join(base.directory, "test_data_set_0"), os.path.join(directory, "test_data_set_0"),
                    dirs_exist_ok=True)
    trust, artifacts = refit(base, X[fit], directory, seed)
    card = base.card.replace(name=new_name, trust=trust)
    card.artifacts = {k: v for k, v in base.card.artifacts.items()
                      if k in ("model.onnx", "model.keras") or k.startswith("test_data_set_0/")}
    card.artifacts.update(artifacts)
    card.recipe = {**base.card.recipe, "architecture": architecture_of(base.card), "base_model": name,
                   "start_from": "pretrained (domain score refit only)",
                   "base_card_sha256": sha256(os.path.join(base.directory, "card.json"))}
    card.title = f"{base.card.title}; domain score refit on {os.path.basename(os.fspath(table))}"
    card.data = {**base.card.data, "domain_table": os.path.basename(os.fspath(table)), "table_sha256": table_sha,
                 "domain_spectra": {"fit": int(len(fit)), "held_out": int(len(held)), "skipped": len(skipped)}}
    card.to_json(os.path.join(directory, "card.json"))
    new = Predictor(directory, backend="onnx")
    prep_held = type(base.prepare(files[0]))(X[held], None, np.zeros(X[held].shape, bool))
    raw = new.forward(X[held])
    flags_new = new.domain(prep_held, raw)["out_of_domain"]
    flags_base = base.domain(prep_held, base.forward(X[held]))["out_of_domain"]
    k_new, k_base, n = int(flags_new.sum()), int(flags_base.sum()), int(len(held))
    measured = {"held_out_spectra": n,
                "false_flag_rate_held_out": k_new / n, "false_flag_ci95": clopper_pearson(k_new, n),
                "base_false_flag_rate_held_out": k_base / n, "base_false_flag_ci95": clopper_pearson(k_base, n),
                "note": "held-out spectra of the table (split by group, never fit); each is taken to be in "
                        "the domain the user gave, so a flag on it counts as false"}
    card.trust = {**card.trust, "refit": {"command": command, "base_model": name, "table": os.path.basename(
        os.fspath(table)), "table_sha256": table_sha, "seed": seed, "holdout": holdout, **measured}}
    card.to_json(os.path.join(directory, "card.json"))
    for f, why in skipped:
        log(f"  skipped {f}: {why}")
    log(f"{new_name}: domain score of {name} refit on {len(fit)} spectra; held-out false flags "
        f"{k_new}/{n} (base {k_base}/{n}); written to {directory}")
    return {"directory": directory, **measured, "skipped": skipped}
