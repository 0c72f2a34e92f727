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
updates ``runs/<name>/metrics.json`` when present.  Prints the new rates.  The template parts
(``--template-parts`` below) are then added to the refitted knn reference, so that the card's method
stays ``"pca_knn_tpl"``.

    python scripts/racnet_refit_trust.py --select --probe-seed 1001 racnet_fgk

is the selection protocol of docs/racnet.md: it fits the candidate methods and settings
(``CANDIDATES``) on the same training split and prints, for each, the false flags on the
in-domain test split (threshold from the validation split, as always) and the flag rates on
out-of-domain probes drawn with ``--probe-seed`` (not the reported probes: those are drawn with
``recipe.seed + 23``, training/racnet.py ``PROBE_SEED_OFFSET``).  It writes nothing.

    python scripts/racnet_refit_trust.py --template-parts racnet_ds1 racnet_ds2 racnet_fgk

adds the template parts of ``"pca_knn_tpl"`` (:mod:`zoo.families.lamost_class.trust`) to each exported
model's knn reference without refitting it: the cuts from simulated validation spectra of known class
(``recipe.seed + 101``, :func:`~zoo.families.lamost_class.trust.fit_template_cuts`), the knn score's own
threshold kept as ``knn_threshold``; then measures the false flags on simulated test spectra
(``recipe.seed + 202``) and the hits on inputs without an object through the exported ONNX model
(scripts/racnet_trust_real.py) and writes ``trust.npz`` and, re-reading card.json just before, only
the card's ``trust`` block and the ``trust.npz`` sha256 of its ``artifacts`` (the network, its
``model.onnx`` and the rest of the card are not touched).  Rerunning it gives the same cuts.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def refit(name: str, n_ood: int = 150, probe_seed: int | None = None) -> dict:
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
    out = probe_exported(d, card, CLASSES[recipe.task], recipe, n_ood, probe_seed)
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


def add_template_parts(name: str, n_val: int = 400, n_probe: int = 100, n_test: int = 200) -> dict:
    """``--template-parts``: see the module docstring.  Returns the new trust block."""
    import time
    from racnet_trust_real import evaluate
    from zoo.card import ModelCard
    from zoo.export import sha256
    from zoo.families.lamost_class.trust import (DESCRIPTION_TPL, METHOD_TPL, TPL_KEYS, TPL_SEED_OFFSET, TRUST_FILE,
                                                 fit_template_cuts)
    from zoo.predictor import Predictor, exported_dir
    from zoo.registry import get_entry
    t0 = time.time()
    d = exported_dir(name)
    card_path, npz_path = os.path.join(d, "card.json"), os.path.join(d, TRUST_FILE)
    with open(card_path, encoding="utf-8") as fh:
        card = json.load(fh)
    old = card["trust"]
    with np.load(npz_path) as z:
        arrays = {k: z[k] for k in z.files if k not in TPL_KEYS}
    if old["method"] == METHOD_TPL:        # a rerun: the knn part is the one recorded
        knn = dict(old["knn"])
    else:
        knn = {k: old[k] for k in ("method", "threshold", "description", "false_flag_rate_test",
                                   "reference_spectra", "quantile") if k in old}
    recipe = get_entry(name).recipe
    if int(card["recipe"].get("seed", recipe.seed)) != recipe.seed:
        raise SystemExit(f"{name}: the card's recipe seed differs from the registered recipe's")
    contract = ModelCard.from_dict(card).input
    val_seed = recipe.seed + TPL_SEED_OFFSET
    cuts = fit_template_cuts(recipe.task, contract, val_seed, n_val)
    arrays.update(cuts, knn_threshold=np.float64(knn["threshold"]))
    np.savez(npz_path, **arrays)
    fin = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
    trust = {
        "method": METHOD_TPL, "threshold": 1.0, "description": DESCRIPTION_TPL, "file": TRUST_FILE,
        "knn": knn,
        "template_cuts": {"signal": fin(cuts["tpl_cut_signal"]), "GALAXY": fin(cuts["tpl_cut_GALAXY"]),
                          "QSO": fin(cuts["tpl_cut_QSO"])},
        "template_quantiles": {"signal": float(cuts["tpl_quantile_signal"]),
                               "consistency": float(cuts["tpl_quantile_consistency"])},
        "template_scale": float(cuts["tpl_scale"]),
        "fit": {"command": f"python scripts/racnet_refit_trust.py --template-parts {name}",
                "date": time.strftime("%Y-%m-%d"),
                "data": (f"knn part unchanged (training/validation split of the training run); template cuts from "
                         f"{int(cuts['tpl_n_validation'])} simulated validation spectra of known class "
                         f"(zoo.families.lamost_class.simulate, seed recipe.seed + {TPL_SEED_OFFSET} = {val_seed}); "
                         "no real spectrum was used")},
    }
    if recipe.task == "ds1":
        trust["unknown_class"] = ("an UNKNOWN call gets no template part: UNKNOWN is this model's answer for a "
                                  "spectrum without a usable object (pure noise, an empty fibre, a broken spectrum); "
                                  "such input comes back UNKNOWN or out_of_domain")
    # measure through the exported ONNX model with the new block (card and npz in memory / on disk)
    pred = Predictor(d, backend="onnx", verify=False)
    pred.card = ModelCard.from_dict({**card, "trust": trust})
    res = evaluate(name, None, n_probe, n_test, pred=pred)
    st = res["simulated_test"]
    trust["false_flag_rate_test"] = st["all"]["new"]["rate"]
    trust["measured"] = {
        "simulated_test": {"seed": st["seed"], "note": "false flags on in-domain simulated spectra, per true class",
                           **{k: {"k": v["new"]["k"], "n": v["new"]["n"], "rate": v["new"]["rate"]}
                              for k, v in st.items() if isinstance(v, dict) and "new" in v}},
        "no_object": {k: {"k": v["new"]["k"], "n": v["new"]["n"], "rate": v["new"]["rate"]}
                      for k, v in res["probes"].items()},
        "no_object_note": ("share flagged" + (" or called UNKNOWN" if recipe.task == "ds1" else "")
                           + " (scripts/racnet_trust_real.py no_object_probes)"),
        "trust_ms_per_spectrum": {k.replace("trust_ms_called_", "called "): v for k, v in res["timing"].items()
                                  if k.startswith("trust_ms")},
        "real_lamost": "docs/racnet.md, 'Template parts' (python scripts/racnet_trust_real.py)",
    }
    trust["fit"]["seconds"] = round(time.time() - t0, 1)
    # re-read the card right before writing: others edit other blocks of it
    with open(card_path, encoding="utf-8") as fh:
        card = json.load(fh)
    card["trust"] = json.loads(json.dumps(trust, default=float))
    card.setdefault("artifacts", {}).setdefault(TRUST_FILE, {})["sha256"] = sha256(npz_path)
    with open(card_path, "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=2)
        fh.write("\n")
    return trust


#: the candidates compared by --select: (label, fit_trust keyword arguments)
CANDIDATES = (
    ("pca_knn (first exports)", {"method": "pca_knn"}),
    ("pca_knn2, tilt (Legendre degree 1)", {"method": "pca_knn2", "tilt_degree": 1}),
    ("pca_knn2, Legendre degree 3", {"method": "pca_knn2", "tilt_degree": 3}),
    ("pca_knn2, Legendre degree 5", {"method": "pca_knn2", "tilt_degree": 5}),
    ("pca_knn2, running median 64 px", {"method": "pca_knn2", "tilt_kind": "median", "tilt_block": 64}),
    ("pca_knn2, running median 128 px", {"method": "pca_knn2", "tilt_kind": "median", "tilt_block": 128}),
)


def select(name: str, seed: int, n_ood: int = 150, only=()) -> list:
    """Flag rates of every candidate on probes drawn with ``seed`` (prepared flux only: the score
    does not need the network).  Returns rows ``(label, false flags on test, {probe: rate})``."""
    from training.racnet import ood_probes
    from training.racnet_data import prepare, split, task_data
    from zoo.families.lamost_class.trust import fit_trust, score
    from zoo.preprocess import to_contract
    from zoo.registry import get_entry
    entry = get_entry(name)
    recipe, contract = entry.recipe, entry.card().input
    data = task_data(recipe, contract, os.path.join(REPO, "runs", "racnet_cache"))
    tr, va, te = split(data["y"], recipe.test_fraction, recipe.val_fraction, recipe.seed)
    X = data["X"]
    probes = {k: prepare(v, contract) if isinstance(v, dict) else to_contract(v, contract).flux
              for k, v in ood_probes(recipe.task, n_ood, seed, contract.n_pixels).items()}
    rows = []
    for label, kw in CANDIDATES:
        if only and not any(o in label for o in only):
            continue
        arrays, thr = fit_trust(X[tr], X[va], seed=recipe.seed, **kw)
        rates = {k: float(np.mean(score(v, arrays) > thr)) for k, v in probes.items()}
        rows.append((label, float(np.mean(score(X[te], arrays) > thr)), rates))
        print(f"{name} seed {seed} | {label} | {rows[-1][1]:.3f} | "
              + " | ".join(f"{k} {v:.2f}" for k, v in rates.items()), flush=True)
    return rows


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", default=["racnet_ds1", "racnet_ds2", "racnet_fgk"])
    p.add_argument("--select", action="store_true", help="compare the candidate methods (writes nothing)")
    p.add_argument("--probe-seed", type=int, default=None,
                   help="seed of the out-of-domain probes (default: the reported ones, recipe.seed + 23)")
    p.add_argument("--n-ood", type=int, default=150, help="spectra per out-of-domain probe")
    p.add_argument("--only", action="append", default=[], help="--select: candidates whose label contains this")
    p.add_argument("--template-parts", action="store_true",
                   help="add the template parts (pca_knn_tpl) to the exported knn reference; writes trust.npz and "
                        "only the card's trust block and trust.npz sha256")
    a = p.parse_args()
    if a.template_parts:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        for name in a.names:
            t = add_template_parts(name)
            m = t["measured"]
            print(f"{name}: cuts {t['template_cuts']}, knn threshold {t['knn']['threshold']}; simulated test false "
                  f"flags {t['false_flag_rate_test']:.3f}; no object: "
                  + ", ".join(f"{k} {v['rate']:.2f}" for k, v in m["no_object"].items())
                  + f"; ms/spectrum {m['trust_ms_per_spectrum']}; {t['fit']['seconds']} s", flush=True)
        return
    if a.select:
        if a.probe_seed is None:
            raise SystemExit("--select needs --probe-seed other than the reported probes' (recipe.seed + 23)")
        for name in a.names:
            select(name, a.probe_seed, a.n_ood, a.only)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    for name in a.names:
        out = refit(name, a.n_ood, a.probe_seed)
        add_template_parts(name)          # the exported method is pca_knn_tpl: knn part refitted, template cuts added
        t = out["trust"]
        print(f"{name}: threshold {t['threshold']}, false flags on the test set {t['false_flag_rate_test']:.3f}; "
              "flagged: " + ", ".join(f"{k} {v:.2f}" for k, v in t["flagged_out_of_domain"].items()))
        r = out.get("real_lamost") or {}
        if r:
            print("  real LAMOST:", r.get("summary"), "; flagged:",
                  ", ".join(f"{f['header']}" for f in r["files"] if f["out_of_domain"]) or "none")


if __name__ == "__main__":
    main()
