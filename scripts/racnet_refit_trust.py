"""Compare the out-of-domain methods of the RAC-Net family (the selection protocol; writes no model).

    python scripts/racnet_refit_trust.py --probe-seed 1001 racnet_fgk
    python scripts/racnet_refit_trust.py --probe-seed 1001 2002 --record   # every model, both selection seeds;
                                       # writes docs/results/racnet_knn_selection.json (docs/racnet.md renders it)

fits the candidate methods and settings (``CANDIDATES``) on the training split of each model's
training data (rebuilt exactly from the registered recipe, seed and simulator) and prints, for each,
the false flags on the in-domain test split (threshold from the validation split, as always) and the
flag rates on out-of-domain probes drawn with ``--probe-seed`` (not the reported probes: those are
drawn with ``recipe.seed + 23``, training/racnet/__init__.py ``PROBE_SEED_OFFSET``).  It writes nothing: the
exported trust (``pca_knn_tpl``: the knn reference plus the template parts) is fitted by the training
run itself (``python -m training.racnet``, training/racnet/trust.py), so a card's trust block comes
from the command the card records.
"""
from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
RESULTS = os.path.join(REPO, "docs", "results", "racnet_knn_selection.json")


#: the candidates compared by --select: (label, fit_trust keyword arguments)
CANDIDATES = (
    ("pca_knn (first exports)", {"method": "pca_knn"}),
    ("pca_knn2, tilt (Legendre degree 1)", {"method": "pca_knn2", "tilt_degree": 1}),
    ("pca_knn2, Legendre degree 3", {"method": "pca_knn2", "tilt_degree": 3}),
    ("pca_knn2, Legendre degree 5", {"method": "pca_knn2", "tilt_degree": 5}),
    ("pca_knn2, running median 64 px", {"method": "pca_knn2", "tilt_kind": "median", "tilt_block": 64}),
    ("pca_knn2, running median 128 px", {"method": "pca_knn2", "tilt_kind": "median", "tilt_block": 128}),
)


def select(name: str, seeds, n_ood: int = 150, only=()) -> dict:
    """Flag rates of every candidate on probes drawn with each of ``seeds`` (prepared flux only: the
    score does not need the network); each candidate is fitted once.  Returns ``{seed: [rows]}``, rows
    ``(label, false flags on test, {probe: rate}, {class: false flags on test})``."""
    from training.racnet import ood_probes
    from training.racnet.data import prepare, split, task_data
    from zoo.families.racnet.trust import fit_trust, score
    from zoo.preprocess import to_contract
    from zoo.registry import get_entry
    entry = get_entry(name)
    recipe, contract = entry.recipe, entry.card().input
    data = task_data(recipe, contract, os.path.join(REPO, "runs", "racnet_cache"))
    tr, va, te = split(data["y"], recipe.test_fraction, recipe.val_fraction, recipe.seed)
    X = data["X"]
    probes = {seed: {k: prepare(v, contract) if isinstance(v, dict) else to_contract(v, contract).flux
                     for k, v in ood_probes(recipe.task, n_ood, seed, contract.n_pixels).items()}
              for seed in seeds}
    classes = next(list(o.classes) for o in entry.card().outputs if o.kind == "class")
    y_te = np.asarray(data["y"])[te]
    rows = {seed: [] for seed in seeds}
    for label, kw in CANDIDATES:
        if only and not any(o in label for o in only):
            continue
        arrays, thr = fit_trust(X[tr], X[va], seed=recipe.seed, **kw)
        flag_te = score(X[te], arrays) > thr
        per_class = {c: float(np.mean(flag_te[y_te == i])) for i, c in enumerate(classes) if np.any(y_te == i)}
        for seed in seeds:
            rates = {k: float(np.mean(score(v, arrays) > thr)) for k, v in probes[seed].items()}
            rows[seed].append((label, float(np.mean(flag_te)), rates, per_class))
            print(f"{name} seed {seed} | {label} | {float(np.mean(flag_te)):.3f} | "
                  + " | ".join(f"{k} {v:.2f}" for k, v in rates.items()), flush=True)
    return rows


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", default=["racnet_ds1", "racnet_ds2", "racnet_fgk"])
    p.add_argument("--probe-seed", type=int, nargs="+", required=True,
                   help="seeds of the out-of-domain probes (not the reported ones, recipe.seed + 23)")
    p.add_argument("--n-ood", type=int, default=150, help="spectra per out-of-domain probe")
    p.add_argument("--only", action="append", default=[], help="candidates whose label contains this")
    p.add_argument("--select", action="store_true", help="accepted for the older command line (always on)")
    p.add_argument("--record", action="store_true", help=f"write {os.path.relpath(RESULTS, REPO)}")
    a = p.parse_args()
    if 23 in a.probe_seed:
        raise SystemExit("--probe-seed must differ from the reported probes' (recipe.seed + 23)")
    import time
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)
    found = {}
    for name in a.names:
        rows = select(name, a.probe_seed, a.n_ood, a.only)
        found[name] = {str(seed): [{"candidate": r[0], "false_flags_test": r[1], "probes": r[2],
                                    "false_flags_test_per_class": r[3]} for r in rows[seed]] for seed in rows}
    if a.record:
        from training.common import recorded_result, write_json
        res = recorded_result("python scripts/racnet_refit_trust.py " + " ".join(sys.argv[1:]), t0, load0, {
            "experiment": "racnet_knn_selection", "n_ood": a.n_ood, "models": found})
        write_json(res, RESULTS)
        print(f"wrote {os.path.relpath(RESULTS, REPO)} ({res['duration_s']:.0f} s)")


if __name__ == "__main__":
    main()
