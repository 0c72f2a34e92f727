"""Train or fine-tune any zoo model on a user's own labelled survey files.

    python -m training.<model> --train-table TABLE                      # fine-tune the exported model
    python -m training.<model> --train-table TABLE --start-from scratch # the paper's network, from scratch
    python -m training.<model> --train-table TABLE --name NEW           # export as exported/NEW (a model of its own)
    python -m training.<model> --train-table TABLE --cv 5 --learning-curve 0,20,40,all
    python -m training.finetune table DIR --labels class|fgk --out TABLE.csv   # a TABLE from LAMOST headers

``TABLE`` (CSV, Parquet or a FITS table) has one row per spectrum:

``file``
    the spectrum's path, relative to the table's folder (any format the zoo reads);
label columns
    named as the model's outputs: a classifier head's name (``class``, ``spectral_class``,
    ``luminosity_class``, ``halpha_class``) holding class names of the card, or each regressed
    label (``teff``, ``logg``, ``feh``) in the card's units; empty cells are missing labels;
``group`` (optional)
    a star identifier: spectra of one star never straddle a split or a fold;
``split`` (optional)
    ``train`` / ``val`` / ``test``, fixed by the user; otherwise a grouped random split
    (``--table-val-fraction`` of the groups for validation, no test split: use ``--cv``);
``instrument`` (optional)
    the instrument step of the model's contract to apply (e.g. ``flux_calibrated``).

Every file goes through the model's own input contract (``Predictor.prepare``: exactly what
prediction does), with a progress bar; unreadable or refused files are skipped and listed; the
prepared arrays are cached by content (the files' sizes and times, the contract) in
``<out>/table_cache/``, so a second run starts at once.

The fine-tuning numbers are the model's :class:`zoo.recipe.FineTune` (``Recipe.finetune``), each
a flag (``--finetune-learning-rate`` ...).  A fine-tuned model is chosen on the validation split only
(early stopping); ``--cv K`` reports, on the same held-out folds, the pretrained model unchanged,
fine-tuned, trained from scratch, and PCA baselines (logistic regression / ridge), each with a 95 %
bootstrap interval (``<out>/cv.json``, ``<out>/cv.png``).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import sys
import time

import numpy as np

__all__ = ["read_table", "TableData", "load_table_data", "run_table", "evaluate_outputs", "bootstrap_ci",
           "lamost_table"]

SPLITS = ("train", "val", "test")
#: simulated spectra of the base model's classes scored before and after a fine-tune (what the mixing kept)
SIMULATED_TEST_SPECTRA = 300

from zoo.tables import blank, grouped_split, prepare_rows, read_table, row_spectrum, table_files  # noqa: E402  (one reader for the core and training)
from zoo.stats import LEVEL  # noqa: E402  (the zoo's one interval level)


# ----------------------------------------------------------------------------- the table
def _heads(card) -> dict:
    """``{column: ("class", output name, classes) | ("regression", output name, column index)}``."""
    out = {}
    for o in card.outputs:
        if o.kind == "class":
            out[o.name] = ("class", o.name, list(o.classes))
        else:
            for j, lab in enumerate(o.labels):
                out[lab] = ("regression", o.name, j)
    return out


@dataclasses.dataclass
class TableData:
    """Prepared spectra of a table (rows that could be read) and their targets."""

    X: np.ndarray                 # (n, pixels) float32 on the model's contract
    targets: dict                 # output name -> (n,) class index (-1 missing) or (n, k) standardized (NaN missing)
    groups: np.ndarray            # (n,) group ids (str)
    split: np.ndarray             # (n,) "" or train/val/test
    files: list                   # (n,) absolute paths
    labels: dict                  # column -> (n,) raw label values (class names / floats)
    skipped: list                 # [(file, reason)]
    table_sha256: str = ""
    label_columns: tuple = ()

    def counts(self, idx=None) -> dict:
        idx = np.arange(len(self.files)) if idx is None else idx
        out = {}
        for col, vals in self.labels.items():
            v = np.asarray(vals, dtype=object)[idx]
            if v.size and isinstance(next((x for x in v if x is not None), None), str):
                out[col] = {c: int(np.sum(v == c)) for c in sorted({x for x in v if x is not None})}
            else:
                f = np.array([np.nan if x is None else float(x) for x in v])
                ok = np.isfinite(f)
                out[col] = {"n": int(ok.sum()), **({"min": float(f[ok].min()), "max": float(f[ok].max())}
                                                   if ok.any() else {})}
        return out


def _file_key(path) -> list:
    try:
        st = os.stat(path)
        return [path, st.st_size, st.st_mtime_ns]
    except OSError:
        return [path, None, None]


def load_table_data(table, predictor, cache_dir=None, log=print, progress=True) -> TableData:
    """Read ``table`` and bring every file through ``predictor``'s input contract."""
    rows, table_sha = read_table(table)
    card = predictor.card
    heads = _heads(card)
    label_cols = tuple(c for c in heads if c in rows[0])
    if not label_cols:
        raise ValueError(f"{table}: no label column of {card.name}; its outputs are {sorted(heads)}")
    files = table_files(table, rows)
    if any(row_spectrum(r) is not None for r in rows):   # arrays in the table: the table's hash covers them
        files_key = [table_sha]
    else:
        files_key = [_file_key(f) for f in files]
    key = hashlib.sha256(json.dumps([table_sha, dataclasses.asdict(card.input),
                                     files_key], default=str).encode()).hexdigest()[:20]
    cached = os.path.join(cache_dir, f"{card.name}-{key}.npz") if cache_dir else None
    if cached and os.path.exists(cached):
        z = np.load(cached, allow_pickle=False)
        X, keep = z["X"], list(z["keep"])
        skipped = [tuple(s) for s in json.loads(str(z["skipped"]))]
        log(f"table: {len(keep)} prepared spectra from the cache {cached}")
    else:
        X, keep, skipped = prepare_rows(predictor, files, rows, progress=progress, desc=f"{card.name}: reading")
        if not keep:
            raise ValueError(f"{table}: none of its {len(rows)} files could be prepared; first: {skipped[:3]}")
        if cached:
            os.makedirs(cache_dir, exist_ok=True)
            np.savez(cached, X=X, keep=np.asarray(keep), skipped=json.dumps(skipped))
    for f, why in skipped:
        log(f"  skipped {f}: {why}")
    rows = [rows[i] for i in keep]
    labels, targets = {}, {}
    for col in label_cols:
        kind, out, spec = heads[col]
        vals = [None if blank(r.get(col)) else r[col] for r in rows]
        if kind == "class":
            vals = [None if v is None else str(v).strip() for v in vals]
            unknown = sorted({v for v in vals if v is not None and v not in spec})
            if unknown:
                raise ValueError(f"{table}: column {col!r} has labels {unknown} that {card.name} does not have "
                                 f"(its classes: {spec}); map them (docs: the family's label map) or drop the rows")
            targets[out] = np.array([-1 if v is None else spec.index(v) for v in vals])
        else:
            o = card.output(out)
            t = targets.setdefault(out, np.full((len(rows), len(o.labels)), np.nan, np.float32))
            mean = (o.mean or [0.0] * len(o.labels))[spec]
            std = (o.std or [1.0] * len(o.labels))[spec]
            vals = [None if v is None else float(v) for v in vals]
            t[:, spec] = [np.nan if v is None else (v - mean) / std for v in vals]
        labels[col] = vals
    groups = np.array([str(r["group"]) if not blank(r.get("group")) else f"row{i}" for i, r in zip(keep, rows)])
    split = np.array(["" if blank(r.get("split")) else str(r["split"]).strip().lower() for r in rows])
    bad = sorted(set(split) - set(SPLITS) - {""})
    if bad:
        raise ValueError(f"{table}: split values {bad}; use train, val or test")
    return TableData(X=X, targets=targets, groups=groups, split=split, files=[files[i] for i in keep],
                     labels=labels, skipped=skipped, table_sha256=table_sha, label_columns=label_cols)


# ----------------------------------------------------------------------------- metrics
def bootstrap_ci(fn, n: int, n_boot: int = 1000, seed: int = 0, level: float = LEVEL):
    """``[lo, hi]`` of ``fn(idx)`` over bootstrap resamples of ``range(n)``."""
    rng = np.random.default_rng(seed)
    vals = np.array([fn(rng.integers(0, n, n)) for _ in range(n_boot)], float)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return [float("nan"), float("nan")]
    a = (1 - level) / 2
    return [float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))]


def evaluate_outputs(raw: dict, data: TableData, idx, card, seed: int = 0) -> dict:
    """Accuracy and confusion per classifier head, bias and scatter per label (card units), each
    with a 95 % bootstrap interval, of the network outputs ``raw`` for rows ``idx``."""
    out = {}
    for o in card.outputs:
        if o.name not in data.targets:
            continue
        t = data.targets[o.name][idx]
        if o.kind == "class":
            ok = t >= 0
            if not ok.any():
                continue
            yt, yp = t[ok], np.asarray(raw[o.name])[ok].argmax(1)
            hit = (yp == yt).astype(float)
            k = len(o.classes)
            conf = np.zeros((k, k), int)
            np.add.at(conf, (yt, yp), 1)
            out[o.name] = {"n": int(ok.sum()), "accuracy": float(hit.mean()),
                           "accuracy_ci95": bootstrap_ci(lambda b: hit[b].mean(), hit.size, seed=seed),
                           "classes": list(o.classes), "confusion": conf.tolist()}
        else:
            pred = np.asarray(raw[o.name], float)
            std = np.asarray(o.std if o.std else [1.0] * len(o.labels), float)
            for j, lab in enumerate(o.labels):
                ok = np.isfinite(t[:, j])
                if not ok.any():
                    continue
                d = (pred[ok, j] - t[ok, j]) * std[j]
                out[lab] = {"n": int(ok.sum()), "unit": (o.units or [""] * len(o.labels))[j],
                            "bias": float(d.mean()), "scatter": float(d.std()),
                            "bias_ci95": bootstrap_ci(lambda b: d[b].mean(), d.size, seed=seed),
                            "scatter_ci95": bootstrap_ci(lambda b: d[b].std(), d.size, seed=seed)}
    return out


# ----------------------------------------------------------------------------- models
def _keras_targets(data: TableData, idx, card):
    """Keras targets and sample weights per output (a missing label weighs 0)."""
    import keras
    ys, ws = {}, {}
    for o in card.outputs:
        if o.name not in data.targets:
            continue
        t = data.targets[o.name][idx]
        if o.kind == "class":
            ys[o.name] = keras.utils.to_categorical(np.maximum(t, 0), len(o.classes)).astype(np.float32)
            ws[o.name] = (t >= 0).astype(np.float32)
        else:
            ok = np.isfinite(t)
            ys[o.name] = np.where(ok, t, 0.0).astype(np.float32)
            ws[o.name] = ok.all(axis=1).astype(np.float32)
    return ys, ws


def _freeze(model, trainable_layers: int) -> int:
    """Leave only the last ``trainable_layers`` layers that have weights trainable (0: all)."""
    weighted = [layer for layer in model.layers if layer.weights]
    if trainable_layers <= 0:
        return len(weighted)
    for layer in weighted[:-trainable_layers]:
        layer.trainable = False
    return min(trainable_layers, len(weighted))


def fit_model(model, data: TableData, train, val, card, ft, log=print, extra=None, verbose=0):
    """Compile ``model`` (Adam, ``ft.learning_rate``; cross-entropy per classifier head, MSE of the
    standardized labels per regression output) and fit on rows ``train`` (plus ``extra``:
    ``(X, targets)`` simulated spectra mixed in), early stopping on ``val`` (best weights kept)."""
    import keras
    heads = [o for o in card.outputs if o.name in data.targets]
    losses = {o.name: ("categorical_crossentropy" if o.kind == "class" else "mse") for o in heads}
    n_trainable = _freeze(model, ft.trainable_layers)
    model.compile(optimizer=keras.optimizers.Adam(ft.learning_rate), loss=losses)
    ys, ws = _keras_targets(data, train, card)
    X = data.X[train]
    if extra is not None:
        Xs, ts = extra
        sim = TableData(X=Xs, targets=ts, groups=np.array([]), split=np.array([]), files=[], labels={}, skipped=[])
        ys2, ws2 = _keras_targets(sim, np.arange(len(Xs)), card)
        X = np.concatenate([X, Xs])
        ys = {k: np.concatenate([ys[k], ys2[k]]) for k in ys}
        ws = {k: np.concatenate([ws[k], ws2[k]]) for k in ws}
    yv, wv = _keras_targets(data, val, card)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=ft.patience, restore_best_weights=True)
    hist = model.fit(X, ys, sample_weight=ws, validation_data=(data.X[val], yv, wv), epochs=ft.epochs,
                     batch_size=ft.batch_size, shuffle=True, verbose=verbose, callbacks=[stop])
    vl = hist.history["val_loss"]
    info = {"epochs_run": len(vl), "best_epoch": int(np.argmin(vl)) + 1,
            "stopped_by": "early stopping" if stop.stopped_epoch else "max epochs",
            "trainable_layers": n_trainable, "train_spectra": int(len(train)),
            "simulated_spectra": 0 if extra is None else int(len(extra[0]))}
    log(f"  fit: {info}")
    return {k: [float(x) for x in v] for k, v in hist.history.items()}, info


def _predict(model, X) -> dict:
    out = model.predict(X, batch_size=256, verbose=0)
    return {k: np.asarray(v) for k, v in out.items()}


def baselines(data: TableData, train, test, card, seed: int = 0) -> dict:
    """PCA + logistic regression (classifier heads) / PCA + ridge (regressed labels), fit on
    ``train``: network-like raw outputs for rows ``test``."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    n_comp = int(max(1, min(20, len(train) - 1, data.X.shape[1])))
    raw = {}
    for o in card.outputs:
        if o.name not in data.targets:
            continue
        t = data.targets[o.name]
        if o.kind == "class":
            ok = train[t[train] >= 0]
            p = np.full((len(test), len(o.classes)), 1.0 / len(o.classes))
            classes = np.unique(t[ok])
            if classes.size >= 2:
                clf = make_pipeline(StandardScaler(), PCA(n_comp, random_state=seed),
                                    LogisticRegression(max_iter=5000, C=1.0))
                clf.fit(data.X[ok], t[ok])
                p[:] = 0.0
                p[:, classes] = clf.predict_proba(data.X[test])
            elif classes.size == 1:
                p[:] = 0.0
                p[:, classes[0]] = 1.0
            raw[o.name] = p
        else:
            pred = np.zeros((len(test), t.shape[1]))
            for j in range(t.shape[1]):
                ok = train[np.isfinite(t[train, j])]
                reg = make_pipeline(StandardScaler(), PCA(min(n_comp, max(1, len(ok) - 1)), random_state=seed),
                                    Ridge(alpha=1.0))
                reg.fit(data.X[ok], t[ok, j])
                pred[:, j] = reg.predict(data.X[test])
            raw[o.name] = pred
    return raw


def cannon(data: TableData, train, test, card, ridge: float = 1e-3):
    """The Cannon (Ness et al. 2015, ApJ 808, 16) as a baseline for regressors: a quadratic model
    of every pixel in the standardized labels, ``x_pix = theta_pix . v(l)`` with
    ``v = [1, l_k, l_j l_k (j <= k)]`` (their Eq. 2-4), fit by least squares on ``train`` (Eq. 5
    without the per-pixel scatter term: the table carries no per-pixel errors here; ``ridge``
    regularizes the fit), then each ``test`` spectrum's labels by non-linear least squares
    (their Eq. 6) from the training mean.  Network-like raw outputs (standardized labels) for
    ``test``; None for a model without regression outputs."""
    from scipy.optimize import least_squares
    raw = {}
    for o in card.outputs:
        if o.kind == "class" or o.name not in data.targets:
            continue
        t = data.targets[o.name]
        have = np.isfinite(t).all(axis=1)
        tr = train[have[train]]
        k = t.shape[1]
        pairs = [(i, j) for i in range(k) for j in range(i, k)]

        def vec(lab):
            lab = np.atleast_2d(lab)
            return np.hstack([np.ones((len(lab), 1)), lab] + [lab[:, [i]] * lab[:, [j]] for i, j in pairs])
        D = vec(t[tr])
        theta = np.linalg.solve(D.T @ D + ridge * np.eye(D.shape[1]), D.T @ data.X[tr])
        start = t[tr].mean(axis=0)
        out = np.zeros((len(test), k))
        for n, i in enumerate(test):
            x = data.X[i]
            out[n] = least_squares(lambda lab: (vec(lab) @ theta)[0] - x, start, method="lm").x
        raw[o.name] = out
    return raw or None


# ----------------------------------------------------------------------------- the run
def add_arguments(p) -> None:
    """The ``--train-table`` flags of every ``python -m training.<model>`` (the skeleton adds them)."""
    g = p.add_argument_group("your own labelled spectra (training/finetune.py)")
    g.add_argument("--train-table", default=None, metavar="TABLE",
                   help="CSV / Parquet / FITS table: file, label columns named as the model's outputs, "
                        "optional group, split, instrument; trains on these spectra instead of the simulation")
    g.add_argument("--start-from", default="pretrained", choices=["pretrained", "scratch"],
                   help="with --train-table: fine-tune the exported weights (default) or train the paper's "
                        "network from scratch")
    g.add_argument("--name", default=None, help="with --train-table: export the result as exported/NAME "
                   "(or --export-dir), a model of its own that zoo.load_model(NAME) finds")
    g.add_argument("--mix-simulated", type=float, default=0.0, metavar="F",
                   help="with --train-table: a fraction F of the training spectra are simulated (classes or "
                        "label ranges the table lacks are not forgotten)")
    g.add_argument("--table-val-fraction", type=float, default=0.25,
                   help="with --train-table and no split column: share of the groups for validation")
    g.add_argument("--cv", type=int, default=0, metavar="K",
                   help="with --train-table: K-fold (grouped) cross-validation of pretrained / fine-tuned / "
                        "scratch / PCA baselines on the same held-out folds; writes <out>/cv.json and cv.png")
    g.add_argument("--learning-curve", default=None, metavar="N,N,...",
                   help="with --cv: repeat at these training sizes (spectra of the training folds; 'all')")
    from zoo.recipe import FineTune
    for f in dataclasses.fields(FineTune):
        g.add_argument(f"--finetune-{f.name.replace('_', '-')}", dest=f"finetune_{f.name}", default=None,
                       type=type(f.default), help=f"fine-tuning: {f.metadata.get('help', '')} (default: the "
                       "model's Recipe.finetune)")


def finetune_settings(recipe, args, scratch: bool):
    """The model's :class:`~zoo.recipe.FineTune` with the flags given; from scratch the paper's
    learning rate (and the recipe's epochs as the cap) with every layer trainable."""
    from zoo.recipe import FineTune
    ft = getattr(type(recipe), "finetune", FineTune())
    given = {f.name: getattr(args, f"finetune_{f.name}") for f in dataclasses.fields(FineTune)
             if getattr(args, f"finetune_{f.name}", None) is not None}
    if scratch:
        ft = ft.replace(learning_rate=recipe.learning_rate, trainable_layers=0,
                        epochs=max(ft.epochs, min(int(recipe.epochs), 500)))
    return ft.replace(**given)


def _base_model(ctx, start: str):
    """The Keras network: the registered architecture with the exported weights, or fresh."""
    from zoo.derive import keras_from_onnx
    if start == "scratch":
        return ctx.entry.build(seed=ctx.seed, **ctx.arch_args)
    return keras_from_onnx(ctx.entry.build(), os.path.join(ctx.base_dir, "model.onnx"))


def _splits(data: TableData, val_fraction: float, seed: int):
    if np.any(data.split != ""):
        train = np.nonzero((data.split == "train") | (data.split == ""))[0]
        return train, np.nonzero(data.split == "val")[0], np.nonzero(data.split == "test")[0]
    strat = next((t for t in data.targets.values() if t.ndim == 1), None)
    train, val = grouped_split(data.groups, val_fraction, seed, strat)
    return train, val, np.array([], int)


def _simulated(task, recipe, ctx, n: int):
    if n <= 0:
        return None
    fn = getattr(task, "simulated", None)
    if fn is None:
        raise SystemExit(f"--mix-simulated: {ctx.model}'s training module has no simulated() hook")
    return fn(recipe, ctx, n)


def _n_mix(frac: float, n_train: int) -> int:
    if not 0 <= frac < 1:
        raise SystemExit("--mix-simulated F needs 0 <= F < 1")
    return int(round(frac / (1 - frac) * n_train))


def run_table(task, recipe, ctx) -> dict:
    """``--train-table``: fine-tune (or train from scratch) on the user's spectra, evaluate on the
    validation (and test) split against the pretrained model unchanged, export with ``--name``;
    ``--cv K``: :func:`cross_validate` instead."""
    from training.common import set_determinism, write_json
    from zoo.hub import locate
    from zoo.predictor import Predictor
    t0 = time.time()
    args = ctx.args
    ctx.base_dir = locate(ctx.model)
    base = Predictor(ctx.base_dir, backend="onnx")
    os.makedirs(ctx.out, exist_ok=True)
    ctx.log(f"{ctx.model}: {ctx.command}\n  base model {ctx.base_dir}\n  out {ctx.out}")
    data = load_table_data(args.train_table, base, cache_dir=os.path.join(ctx.out, "table_cache"), log=ctx.log)
    ctx.log(f"  table: {len(data.files)} spectra ({len(data.skipped)} skipped): {data.counts()}")
    set_determinism(recipe.seed)
    if args.cv:
        return cross_validate(task, recipe, ctx, base, data, t0)
    scratch = args.start_from == "scratch"
    ft = finetune_settings(recipe, args, scratch)
    train, val, test = _splits(data, args.table_val_fraction, recipe.seed)
    if not len(val):
        raise SystemExit("--train-table: no validation spectra (a split column with 'val' rows, or --table-val-fraction)")
    extra = _simulated(task, recipe, ctx, _n_mix(args.mix_simulated, len(train)))
    ctx.mixed_simulated = extra
    model = _base_model(ctx, args.start_from)
    history, info = fit_model(model, data, train, val, base.card, ft, ctx.log, extra=extra, verbose=2)
    res = {"model": ctx.model, "command": ctx.command, "start_from": args.start_from,
           "finetune": dataclasses.asdict(ft), "fit": info, "table": os.path.abspath(args.train_table),
           "table_sha256": data.table_sha256, "skipped": data.skipped,
           "counts": {s: data.counts(i) for s, i in (("train", train), ("val", val), ("test", test)) if len(i)},
           "evaluation": {}}
    for split_name, idx in (("val", val), ("test", test)):
        if len(idx):
            res["evaluation"][split_name] = {
                "pretrained_unchanged": evaluate_outputs(base.forward(data.X[idx]), data, idx, base.card),
                "trained": evaluate_outputs(_predict(model, data.X[idx]), data, idx, base.card)}
    if getattr(task, "simulated", None) is not None:      # what the simulated classes kept (or lost)
        Xs, ts = task.simulated(recipe.replace(seed=recipe.seed + 1), ctx, SIMULATED_TEST_SPECTRA)
        sim = TableData(X=Xs, targets=ts, groups=np.array([]), split=np.array([]), files=[], labels={}, skipped=[])
        idx = np.arange(len(Xs))
        res["evaluation"]["simulated_test"] = {
            "pretrained_unchanged": evaluate_outputs(base.forward(Xs), sim, idx, base.card),
            "trained": evaluate_outputs(_predict(model, Xs), sim, idx, base.card),
            "note": f"{SIMULATED_TEST_SPECTRA} simulated spectra of the base model's classes, equal numbers, seed + 1 + 77"}
    res["evaluation"]["note"] = ("'val' chose the stopping epoch (early stopping), so its figures are optimistic; "
                                 "'test' (rows with split=test) was never used; --cv gives held-out folds")
    if args.name and not args.no_export:
        res["exported_to"] = export_finetuned(task, recipe, ctx, base, data, model, ft, res, train, val)
    res["wall_time_minutes"] = round((time.time() - t0) / 60, 2)
    write_json(res, ctx.path("finetune.json"))
    ctx.log(json.dumps(res["evaluation"], indent=1)[:4000])
    if not args.name:
        ctx.log("not exported: give --name NEW to export the result as a model of its own")
    return res


def export_finetuned(task, recipe, ctx, base, data, model, ft, res, train, val) -> str:
    """Export as a model of its own: the base's card with this run's provenance, the trust
    outputs refit on the new training spectra where the family can (``task.refit_trust``)."""
    from training.common import machine_description
    from zoo.export import export_model, sha256
    name = ctx.args.name
    if name == ctx.model:
        raise SystemExit("--name must differ from the base model's name")
    directory = ctx.args.export_dir or os.path.join(os.path.dirname(ctx.base_dir.rstrip("/")), name)
    card = base.card
    recipe_block = {"base_model": ctx.model, "architecture": ctx.model,
                    "base_card_sha256": sha256(os.path.join(ctx.base_dir, "card.json")),
                    "base_onnx_sha256": sha256(os.path.join(ctx.base_dir, "model.onnx")),
                    "start_from": ctx.args.start_from, "finetune": dataclasses.asdict(ft),
                    "mix_simulated": ctx.args.mix_simulated, "base_recipe": base.card.recipe,
                    "command": ctx.command}
    data_block = {"train_table": os.path.basename(ctx.args.train_table), "table_sha256": data.table_sha256,
                  "label_source": f"the columns {list(data.label_columns)} of the table",
                  "counts": res["counts"], "skipped_files": len(data.skipped),
                  "base_model_data": base.card.data}
    metrics = {"finetune_evaluation": res["evaluation"], "fit": res["fit"],
               "training_run": {"command": ctx.command, "machine": machine_description(),
                                "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}}
    card = card.replace(name=name, title=f"{base.card.title}, fine-tuned on {os.path.basename(ctx.args.train_table)}"
                        if ctx.args.start_from == "pretrained" else
                        f"{base.card.title}, trained from scratch on {os.path.basename(ctx.args.train_table)}",
                        recipe=recipe_block, data=data_block, metrics=metrics, artifacts={})
    refit = getattr(task, "refit_trust", None)
    os.makedirs(directory, exist_ok=True)
    import shutil
    own = ("model.onnx", "model.keras", "saved_model/", "test_data_set_0/")
    copied = {rel: info for rel, info in base.card.artifacts.items()
              if isinstance(info, dict) and "sha256" in info and not rel.startswith(own)}
    for rel in copied:          # the trust method's reference files, unless refit below
        os.makedirs(os.path.dirname(os.path.join(directory, rel)) or directory, exist_ok=True)
        shutil.copy(os.path.join(ctx.base_dir, rel), os.path.join(directory, rel))
    if refit is not None:
        card = refit(card, data.X[train], data.X[val], directory, recipe, ctx)
    else:
        card = card.replace(trust={**(card.trust or {}), "refit": "not refit: the base model's trust method and "
                                   "threshold (the family has no refit for real training spectra)"})
    clean = ctx.entry.build()
    clean.set_weights(model.get_weights())
    extra_artifacts = dict(card.artifacts)        # what the refit wrote (trust.npz ...)
    card = export_model(clean, card, directory, data.X[val][:8], saved_model=False)
    for rel, info in copied.items():
        if rel not in extra_artifacts:
            card.artifacts[rel] = {"sha256": sha256(os.path.join(directory, rel)),
                                   "note": f"the base model's ({ctx.model}), not refit"}
    card.artifacts.update(extra_artifacts)
    card.to_json(os.path.join(directory, "card.json"))
    ctx.log(f"exported {name} to {directory}")
    return directory


# ----------------------------------------------------------------------------- cross-validation
def _folds(data: TableData, k: int, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold, GroupKFold
    strat = next((t for t in data.targets.values() if t.ndim == 1), None)
    idx = np.arange(len(data.files))
    if strat is not None:
        return list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, strat, data.groups))
    return list(GroupKFold(k).split(idx, groups=data.groups))


def cross_validate(task, recipe, ctx, base, data: TableData, t0: float) -> dict:
    """K folds; on each held-out fold: (a) the pretrained model unchanged, (b) fine-tuned, (c) from
    scratch, (d) PCA baselines, all trained on the other folds (a grouped quarter of them for
    early stopping); optionally at several training sizes (the learning curve)."""
    from training.common import write_json
    args = ctx.args
    folds = _folds(data, args.cv, recipe.seed)
    sizes = [None]
    if args.learning_curve:
        sizes = [None if s.strip() == "all" else int(s) for s in args.learning_curve.split(",")]
    n = len(data.files)
    curve = []
    for size in sizes:
        raw = {m: {} for m in ("pretrained", "finetuned", "scratch", "baseline", "cannon")}
        fits = {"finetuned": [], "scratch": []}
        for f, (train_all, held) in enumerate(folds):
            ctx.log(f"  fold {f + 1}/{len(folds)} ({len(train_all)} train, {len(held)} held out), size {size or 'all'}")
            rng = np.random.default_rng(recipe.seed + f)
            train_all = np.sort(rng.permutation(train_all)[:size]) if size is not None else train_all
            raw["pretrained"].setdefault("held", []).append(held)
            outs = {"pretrained": base.forward(data.X[held])}
            if size != 0:
                strat = next((t[train_all] for t in data.targets.values() if t.ndim == 1), None)
                tr, va = grouped_split(data.groups[train_all], 0.25, recipe.seed + f, strat)
                tr, va = train_all[tr], train_all[va]
                for mode in ("finetuned", "scratch"):
                    ft = finetune_settings(recipe, args, scratch=mode == "scratch")
                    model = _base_model(ctx, "pretrained" if mode == "finetuned" else "scratch")
                    extra = _simulated(task, recipe, ctx, _n_mix(args.mix_simulated, len(tr)))
                    _, info = fit_model(model, data, tr, va, base.card, ft, ctx.log, extra=extra)
                    fits[mode].append(info)
                    outs[mode] = _predict(model, data.X[held])
                outs["baseline"] = baselines(data, train_all, held, base.card, seed=recipe.seed)
                can = cannon(data, train_all, held, base.card)
                if can is not None:
                    outs["cannon"] = can
            for m, o in outs.items():
                for k, v in o.items():
                    raw[m].setdefault(k, []).append(np.asarray(v))
        held = np.concatenate(raw["pretrained"].pop("held"))
        row = {"train_size": "all" if size is None else size, "n_held_out": int(held.size), "fits": fits}
        for m, o in raw.items():
            if o:
                row[m] = evaluate_outputs({k: np.concatenate(v) for k, v in o.items()}, data, held, base.card,
                                          seed=recipe.seed)
        curve.append(row)
        ctx.log(f"  size {row['train_size']}: " + json.dumps({m: row[m] for m in raw if m in row})[:1500])
    res = {"model": ctx.model, "command": ctx.command, "table": os.path.abspath(args.train_table),
           "table_sha256": data.table_sha256, "n_spectra": n, "skipped": data.skipped, "folds": len(folds),
           "grouped": bool(np.any(np.char.find(data.groups.astype(str), "row") != 0)),
           "counts": data.counts(), "results": curve,
           "what": "(a) pretrained: the exported model unchanged; (b) finetuned: from the exported weights, "
                   "Recipe.finetune; (c) scratch: the architecture from random weights at the paper's learning "
                   "rate; (d) baseline: PCA + logistic regression / ridge; (e) cannon (regressors): The Cannon's quadratic "
                   "per-pixel model (Ness et al. 2015). All trained on the other folds (a "
                   "grouped quarter of them for early stopping only) and scored on the held-out fold; intervals: "
                   "95 % bootstrap over the held-out spectra.",
           "wall_time_minutes": round((time.time() - t0) / 60, 2)}
    write_json(res, ctx.path("cv.json"))
    plot_cv(res, ctx.path("cv.png"))
    ctx.log(f"cv: {ctx.path('cv.json')}, {ctx.path('cv.png')}")
    return res


def plot_cv(res: dict, path: str) -> None:
    """Accuracy (or scatter) of the four approaches against the training size, with intervals."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    first = res["results"][0]
    heads = list(first["pretrained"])
    fig, axes = plt.subplots(1, len(heads), figsize=(4.2 * len(heads), 3.4), squeeze=False)
    for ax, h in zip(axes[0], heads):
        key = "accuracy" if "accuracy" in first["pretrained"][h] else "scatter"
        for j, m in enumerate(("pretrained", "finetuned", "scratch", "baseline", "cannon")):
            xs, ys, lo, hi = [], [], [], []
            for i, row in enumerate(res["results"]):
                if m in row and h in row[m]:
                    xs.append(i + 0.06 * (j - 1.5))
                    ys.append(row[m][h][key])
                    lo.append(row[m][h][f"{key}_ci95"][0])
                    hi.append(row[m][h][f"{key}_ci95"][1])
            if xs:
                ax.errorbar(xs, ys, yerr=[np.subtract(ys, lo), np.subtract(hi, ys)], fmt="o-", capsize=3, label=m)
        ax.set_xticks(range(len(res["results"])), [str(r["train_size"]) for r in res["results"]])
        ax.set_xlabel("training spectra per fold")
        ax.set_ylabel(key)
        ax.set_title(f"{res['model']}: {h} ({res['folds']}-fold CV, n={res['n_spectra']})", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- tables from headers
#: LAMOST pipeline labels -> the zoo's classes: ``class`` (RAC-Net DS1/DS2: CLASS as it is, "Unknown"
#: -> UNKNOWN) and ``fgk`` (RAC-Net DS3: the first letter of SUBCLASS, F/G/K only)
LAMOST_LABEL_MAPS = {"class": lambda m: {"STAR": "STAR", "GALAXY": "GALAXY", "QSO": "QSO",
                                         "UNKNOWN": "UNKNOWN"}.get(str(m.get("CLASS", "")).strip().upper()),
                     "fgk": lambda m: (str(m.get("SUBCLASS", "")).strip()[:1]
                                       if str(m.get("CLASS", "")).strip().upper() == "STAR"
                                       and str(m.get("SUBCLASS", "")).strip()[:1] in ("F", "G", "K") else None)}


def lamost_table(directory, labels: str, out: str, group_by: str = "object") -> dict:
    """A TABLE from a folder of LAMOST files and their headers: ``file``, ``class`` (the mapped
    label; rows the map rejects are left out), ``group`` (the designation), ``subclass``."""
    import glob
    from zoo.io import read
    if labels not in LAMOST_LABEL_MAPS:
        raise SystemExit(f"--labels must be one of {sorted(LAMOST_LABEL_MAPS)}")
    files = sorted(glob.glob(os.path.join(directory, "*.fits")) + glob.glob(os.path.join(directory, "*.fits.gz")))
    rows, dropped = [], []
    for f in files:
        try:
            meta = read(f).meta
        except Exception as exc:  # noqa: BLE001
            dropped.append((f, f"{type(exc).__name__}: {exc}"))
            continue
        lab = LAMOST_LABEL_MAPS[labels](meta)
        if lab is None:
            dropped.append((f, f"label map {labels!r}: CLASS {meta.get('CLASS')!r} SUBCLASS {meta.get('SUBCLASS')!r}"))
            continue
        rows.append({"file": os.path.relpath(f, os.path.dirname(os.path.abspath(out))), "class": lab,
                     "group": str(meta.get(group_by) or os.path.basename(f)), "subclass": meta.get("SUBCLASS")})
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "class", "group", "subclass"])
        w.writeheader()
        w.writerows(rows)
    return {"rows": len(rows), "dropped": dropped, "out": out}


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m training.finetune",
                                description="Build a --train-table from survey files and their headers")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table", help="a TABLE from a folder of LAMOST spec-*.fits files (pipeline labels)")
    t.add_argument("directory")
    t.add_argument("--labels", required=True, choices=sorted(LAMOST_LABEL_MAPS))
    t.add_argument("--out", required=True)
    a = p.parse_args(argv)
    r = lamost_table(a.directory, a.labels, a.out)
    for f, why in r["dropped"]:
        print(f"left out {os.path.basename(f)}: {why}", file=sys.stderr)
    print(f"{r['rows']} rows in {r['out']} ({len(r['dropped'])} left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
