"""Refit the out-of-domain reference (``trust.npz``) of exported RAC-Nets without retraining.

    python scripts/racnet_refit_trust.py racnet_ds1 racnet_ds2 racnet_fgk

The trust score is not part of the network: after a change to
:mod:`zoo.families.lamost_class.trust` this rebuilds each model's data split
exactly as its training run did (same recipe from the exported card, same
seed, the simulated-data cache of ``runs/racnet_cache`` or a fresh
simulation), refits ``trust.npz`` on the training split (threshold on the
validation split), and rewrites the card's ``trust``, its ``trust.npz``
sha256 and its ``metrics.trust`` / ``metrics.real_lamost`` (out-of-domain
probes and real LAMOST files through the exported ONNX model).  An export
made before ``model.keras`` became derived from ``model.onnx`` (the core's
rule) is brought to that rule when the registered factory reproduces it.  It also
updates ``runs/<name>/metrics.json`` when present.  Prints the new rates.
"""
from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def refit(name: str, n_ood: int = 150) -> dict:
    from training.racnet import fit_trust_file, probe_exported
    from training.racnet_data import split, task_data
    from zoo.card import ModelCard
    from zoo.families.lamost_class.models import CLASSES
    from zoo.predictor import exported_dir
    from zoo.registry import get_entry
    d = exported_dir(name)
    card = ModelCard.from_json(os.path.join(d, "card.json"))
    recipe = get_entry(name).recipe
    recipe = recipe.replace(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in card.recipe.items() if hasattr(recipe, k)})
    data = task_data(recipe, card.input, os.path.join(REPO, "runs", "racnet_cache"))
    tr, va, te = split(data["y"], recipe.test_fraction, recipe.val_fraction, recipe.seed)
    data.update(train=tr, val=va, test=te)
    card = fit_trust_file(card, data, recipe, d)
    keras_entry = card.artifacts.get("model.keras", {})
    if "sha256" in keras_entry:   # exported before model.keras became derived from model.onnx
        from zoo.export import _derivable
        if _derivable(name, os.path.join(d, "model.onnx"), d):
            os.remove(os.path.join(d, "model.keras"))
            card.artifacts["model.keras"] = {
                "derived_from": "model.onnx",
                "how": f"zoo.create_model({name!r}) with the ONNX weights (zoo.derive); "
                       f"`python -m zoo export {name}` writes the file"}
    card.to_json(os.path.join(d, "card.json"))
    out = probe_exported(d, card, CLASSES[recipe.task], recipe, n_ood)
    card.metrics.update(out)
    card.to_json(os.path.join(d, "card.json"))
    run = os.path.join(REPO, "runs", name, "metrics.json")
    if os.path.exists(run):
        with open(run) as fh:
            m = json.load(fh)
        m["metrics"].update(json.loads(json.dumps(out, default=float)))
        m["trust_refit"] = "scripts/racnet_refit_trust.py"
        with open(run, "w") as fh:
            json.dump(m, fh, indent=1, default=float)
    return out


def main():
    for name in sys.argv[1:] or ["racnet_ds1", "racnet_ds2", "racnet_fgk"]:
        out = refit(name)
        t = out["trust"]
        print(f"{name}: threshold {t['threshold']}, false flags on the test set {t['false_flag_rate_test']:.3f}; "
              "flagged: " + ", ".join(f"{k} {v:.2f}" for k, v in t["flagged_out_of_domain"].items()))
        r = out.get("real_lamost") or {}
        if r:
            print("  real LAMOST:", r.get("summary"), "; flagged:",
                  ", ".join(f"{f['header']}" for f in r["files"] if f["out_of_domain"]) or "none")


if __name__ == "__main__":
    main()
