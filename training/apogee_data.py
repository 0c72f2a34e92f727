"""Data, splits, evaluation and export shared by the APOGEE regressors (APOGEE Net, StarNet).

Both recipes (``training/apogeenet.py``, ``training/starnet.py``) are thin: they
give a model name, an optimizer, their callbacks and whether to run
stratified fine-tuning, and :func:`run` does the rest:

1. simulate raw-like apStar spectra of three groups (large, mdwarf, yso;
   :func:`zoo.families.apogee.simulate.simulate_apogee`) and bring them to the card's input
   contract with exactly the predictor's code path
   (:func:`zoo.preprocess.to_contract`, ``"apogee_continuum"``), in chunks,
   cached under ``runs/apogee_data/``;
2. split 80/10/10 (large group) and 60/20/20 (small groups) (Olney et al. 2020
   Sec. 3.3); standardize targets with the training set's mean and std (Eq. 4);
3. train with dev evaluation after each epoch, best checkpoint, early stopping;
4. optionally stratified fine-tuning (Sec. 3.4, :mod:`training.stratified`);
5. evaluate: standardized MSE per group and split (cf. Table 2), scatter in K
   and dex per group (cf. Table 3), predicted-vs-label plots;
6. export (``.keras``, SavedModel, ONNX, checked) and, through the exported
   Predictor on both backends, predict the real apStar files with
   uncertainties and measure uncertainty against S/N (Sec. 3.5, Fig. 4).
"""
from __future__ import annotations

import glob
import os
import shutil
import time

import numpy as np

from training import common
from training.common import machine_description, plot_history, write_json
from training.regression import (Standardizer, markdown_mse_table, markdown_scatter_table,
                                 plot_stratified_history,
                                 plot_pred_vs_label, plot_uncertainty_vs_snr, scatter_table,
                                 standardized_mse_table)

__all__ = ["build_dataset", "archive_dataset", "split_indices", "real_spectra", "add_common_args", "run", "reexport",
           "REAL_FILES", "REAL_EXPECTATIONS", "LABELS", "UNITS"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_FILES = sorted(glob.glob(os.path.join(ROOT, "zoo", "data", "apogee", "apStar-*.fits")))
#: What each bundled real spectrum should look like (zoo/data/apogee/PROVENANCE.md).
REAL_EXPECTATIONS = {
    "2M17335483-2753043": "cool giant toward the bulge (RV grid: 3677 K, log g 0.5)",
    "2M19485057+5005279": "Kepler-field K dwarf (RV grid: 5226 K, log g 5.0)",
    "2M03290406+3117075": "young star in NGC 1333: expect the YSO region (cool, log g ~3-4.4)",
    "2M12241699+2453335": "metal-poor halo giant: expect low gravity, low [Fe/H] (S/N 9.5)",
    "2M14305591+0858023": "M dwarf: expect cool and high gravity (RV grid 3100 K, log g 5.0)",
}
LABELS = ("teff", "logg", "feh")
UNITS = ("K", "dex", "dex")


# --------------------------------------------------------------------------- data
def build_dataset(n: int, seed: int, contract, cache_dir: str | None = None, chunk: int = 500,
                  log=print) -> dict:
    """Simulated spectra on ``contract``: ``x`` (n, 8575) float32, ``y`` (n, 3), ``group``, ``snr``.

    Inputs go through :func:`zoo.preprocess.to_contract` with the simulated
    errors and masks, exactly as the predictor prepares any spectrum.
    """
    from zoo.preprocess import to_contract
    from zoo.families.apogee.simulate import simulate_apogee
    path = None
    if cache_dir:
        path = os.path.join(cache_dir, f"sim_n{n}_seed{seed}_{contract.flux_normalization}.npz")
        if os.path.exists(path):
            with np.load(path) as d:
                log(f"data: cached {path}")
                return {k: d[k] for k in d.files}
    t0 = time.time()
    sim = simulate_apogee(n, seed=seed)
    x = np.empty((n, contract.n_pixels), np.float32)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        x[a:b] = to_contract(sim.flux[a:b], contract, error=sim.error[a:b], mask=sim.mask[a:b]).flux
    data = {"x": x, "y": sim.labels.astype(np.float32), "group": sim.group.astype(np.int64),
            "snr": sim.snr, "group_names": np.array(sim.group_names)}
    log(f"data: simulated and prepared {n} spectra in {time.time() - t0:.0f} s")
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        np.savez(path, **data)
    return data


#: Groups of the paper (Sec. 2), as simulated: index 0 is the large group, the others the small groups.
from zoo.families.apogee.simulate import GROUP_NAMES  # noqa: E402


def archive_dataset(labels_csv: str, contract, chunk: int = 200, log=print) -> dict:
    """Real apStar spectra with labels, for users with APOGEE archive access.

    ``labels_csv`` has a header row and the columns ``file`` (an apStar path,
    absolute or relative to the CSV), ``teff`` [K], ``logg`` [dex], ``feh``
    [dex] and ``group`` (``large``, ``mdwarf`` or ``yso``; Olney et al. 2020
    Sec. 2).  Every file goes through :func:`zoo.io.read` and
    :func:`zoo.preprocess.to_contract` exactly as in prediction.  A file that
    cannot be read or prepared, or a row with a bad label, is skipped and
    reported (nothing already read is lost); the skipped rows are returned
    under ``"skipped"``.  Returns the same dict as :func:`build_dataset`.
    """
    import csv

    from tqdm import tqdm

    from zoo.errors import ZooError
    from zoo.io import read
    from zoo.preprocess import to_contract
    base = os.path.dirname(os.path.abspath(labels_csv))
    with open(labels_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = {"file", "teff", "logg", "feh", "group"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{labels_csv}: needs a header with columns {sorted(need)}")
    xs, ys, gs, snrs, skipped = [], [], [], [], []
    for i, row in enumerate(tqdm(rows, desc="reading apStar files", unit="file", disable=len(rows) < 20)):
        path = row["file"] if os.path.isabs(row["file"]) else os.path.join(base, row["file"])
        try:
            label = [float(row[k]) for k in LABELS]
            if not np.all(np.isfinite(label)):
                raise ValueError(f"non-finite label {label}")
            if row["group"] not in GROUP_NAMES:
                raise ValueError(f"group {row['group']!r} is not one of {GROUP_NAMES}")
            spec = read(path)
            prep = to_contract(spec.flux, contract, spec.wavelength, error=spec.error, mask=spec.mask,
                               medium=spec.medium)
        except (ZooError, ValueError, OSError) as exc:
            skipped.append((i + 2, path, f"{type(exc).__name__}: {exc}"))
            log(f"skipped line {i + 2} ({path}): {type(exc).__name__}: {exc}")
            continue
        xs.append(prep.flux[0])
        ys.append(label)
        gs.append(GROUP_NAMES.index(row["group"]))
        snr = spec.meta.get("snr")
        snrs.append(float(snr) if snr is not None else np.nan)
    if not xs:
        raise ValueError(f"{labels_csv}: no usable spectra ({len(skipped)} skipped)")
    log(f"data: {len(xs)} archive spectra from {labels_csv}, {len(skipped)} skipped")
    return {"x": np.asarray(xs, np.float32), "y": np.asarray(ys, np.float32),
            "group": np.asarray(gs, np.int64), "snr": np.asarray(snrs),
            "group_names": np.array(GROUP_NAMES), "skipped": skipped}


def split_indices(group, seed: int, large_group: int = 0, large=(0.8, 0.1, 0.1),
                  small=(0.6, 0.2, 0.2)) -> dict:
    """Train/dev/test indices per group: 80/10/10 for the large group, 60/20/20 for the
    small ones (Olney et al. 2020 Sec. 3.3).  Returns ``{"train", "dev", "test"}`` sorted."""
    rng = np.random.default_rng(seed)
    group = np.asarray(group)
    out = {"train": [], "dev": [], "test": []}
    for g in np.unique(group):
        idx = rng.permutation(np.flatnonzero(group == g))
        fr = large if g == large_group else small
        n_tr = int(round(fr[0] * idx.size))
        n_dev = int(round(fr[1] * idx.size))
        out["train"].append(idx[:n_tr])
        out["dev"].append(idx[n_tr:n_tr + n_dev])
        out["test"].append(idx[n_tr + n_dev:])
    return {k: np.sort(np.concatenate(v)) for k, v in out.items()}


def real_spectra(contract):
    """The bundled real apStar files on ``contract``: ``(short names, Prepared)``."""
    from zoo.io.apstar import read_apstar
    from zoo.preprocess import Prepared, to_contract
    names, parts = [], []
    for f in REAL_FILES:
        s = read_apstar(f)
        parts.append(to_contract(s.flux, contract, s.wavelength, error=s.error, mask=s.mask,
                                 medium=s.medium))
        names.append(os.path.basename(f).split("-", 2)[-1].removesuffix(".fits"))
    return names, Prepared(np.concatenate([p.flux for p in parts]),
                           np.concatenate([p.error for p in parts]),
                           np.concatenate([p.mask for p in parts]))


# --------------------------------------------------------------------------- CLI
def add_common_args(p, n_spectra: int, minutes: float):
    p.add_argument("--n-spectra", type=int, default=n_spectra, help="simulated spectra in all")
    p.add_argument("--labels-csv", default=None, metavar="CSV",
                   help="train on real apStar files instead of simulations: a CSV with columns "
                        "file,teff,logg,feh,group (group: large, mdwarf or yso); see "
                        "training.apogee_data.archive_dataset")
    p.add_argument("--minutes", type=float, default=minutes,
                   help="wall-clock budget of the main training phase (checked after each epoch)")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience (epochs)")
    p.add_argument("--n-uncertainty", type=int, default=150,
                   help="fresh simulated spectra for the uncertainty-vs-S/N measurement")
    p.add_argument("--realizations", type=int, default=100, help="noise realizations (Sec. 3.5)")
    p.add_argument("--cache", default=os.path.join("runs", "apogee_data"), help="data cache folder")
    p.add_argument("--docs-img", default=os.path.join("docs", "img"),
                   help="copy the plots here (full runs only)")
    return p


def add_finetune_args(p, *, patience: int, minutes: float):
    """Knobs of stratified fine-tuning (Olney et al. 2020 Sec. 3.4, ``training/stratified.py``)."""
    p.add_argument("--ft-fraction", type=float, default=0.05,
                   help="fraction of the large group drawn per fine-tuning round")
    p.add_argument("--ft-patience", type=int, default=patience, help="fine-tuning early-stopping patience")
    p.add_argument("--ft-round-patience", type=int, default=1,
                   help="rounds without small-group improvement that end fine-tuning")
    p.add_argument("--ft-max-rounds", type=int, default=20)
    p.add_argument("--ft-minutes", type=float, default=minutes, help="wall-clock budget of fine-tuning")
    return p


def parse_args(p, argv, *, patience: int):
    """Parse ``argv`` (default ``sys.argv``); fill the default patience; ``--quick`` shrinks
    everything to a smoke run of about a minute that writes under ``<out>_quick``."""
    import sys
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    args.argv = argv
    if args.patience is None:
        args.patience = patience
    if args.quick:
        args.n_spectra, args.epochs, args.minutes = 400, 1, 1.0
        args.ft_patience, args.ft_max_rounds, args.ft_minutes = 1, 1, 0.5
        args.n_uncertainty, args.realizations = 8, 5
        common.quick_out(args)
    return args


def _time_budget_callback(seconds: float):
    import keras

    class _Budget(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.hit = False

        def on_train_begin(self, logs=None):
            self.t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            if time.time() - self.t0 > seconds:
                self.hit = True
                self.model.stop_training = True
    return _Budget()


# --------------------------------------------------------------------------- the recipe
def run(name: str, args, *, optimizer, callbacks, patience: int, stratified: bool,
        recipe_used: dict, notes: list, model_kwargs: dict | None = None, min_delta: float = 0.0,
        log=print) -> dict:
    """Train, evaluate, fine-tune (optionally), export and report model ``name``."""
    import keras

    import zoo
    from training.common import set_determinism
    from training.stratified import keras_fit_epoch, stratified_finetune
    from zoo.card import load_preset

    t_start = time.time()
    command = "python -m training." + name + " " + " ".join(getattr(args, "argv", []))
    out = args.out
    os.makedirs(out, exist_ok=True)
    set_determinism(args.seed)
    card = zoo.get_card(name, trained=False)
    contract = card.input

    if getattr(args, "labels_csv", None):
        data = archive_dataset(args.labels_csv, contract, log=log)
    else:
        data = build_dataset(args.n_spectra, args.seed, contract, args.cache, log=log)
    x, y, group = data["x"], data["y"], data["group"]
    gnames = [str(g) for g in data["group_names"]]
    sp = split_indices(group, args.seed)
    std = Standardizer.fit(y[sp["train"]])
    z = std.transform(y)
    log(f"splits: " + ", ".join(f"{k} {v.size} ({', '.join(f'{g} {(group[v] == i).sum()}' for i, g in enumerate(gnames))})"
                                for k, v in sp.items()))
    log(f"target standardization (train): mean {np.round(std.mean, 3).tolist()}, "
        f"std {np.round(std.std, 3).tolist()}")

    model = zoo.create_model(name, seed=args.seed, **(model_kwargs or {}))
    model.compile(optimizer=optimizer, loss={"labels": "mse"})
    budget = _time_budget_callback(args.minutes * 60)
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta)
    ckpt = os.path.join(out, "best.keras")
    cbs = [keras.callbacks.CSVLogger(os.path.join(out, "history.csv")),
           keras.callbacks.ModelCheckpoint(ckpt, monitor="val_loss", save_best_only=True),
           stopper, budget, *callbacks]
    tr, dev = sp["train"], sp["dev"]
    x_tr, z_tr = x[tr], z[tr]
    t0 = time.time()
    hist = model.fit(x_tr, {"labels": z_tr}, validation_data=(x[dev], {"labels": z[dev]}),
                     batch_size=args.batch, epochs=args.epochs, shuffle=True, callbacks=cbs,
                     verbose=2)
    del x_tr
    t_train = time.time() - t0
    epochs_run = len(hist.history["loss"])
    best_epoch = int(np.argmin(hist.history["val_loss"])) + 1
    stopped_by = ("early stopping (patience %d)" % patience if stopper.stopped_epoch
                  else "time budget (%.0f min)" % args.minutes if budget.hit
                  else "epoch limit (%d)" % args.epochs)
    model.set_weights(keras.saving.load_model(ckpt, compile=False).get_weights())
    log(f"phase 1: {epochs_run} epochs in {t_train / 60:.1f} min, best dev epoch {best_epoch}, "
        f"stopped by {stopped_by}")
    plot_history({k: v for k, v in hist.history.items() if k in ("loss", "val_loss")},
                 os.path.join(out, f"{name}_history.png"), f"{name}: standardized MSE")

    def predict_z(idx=None):
        xs = x if idx is None else x[idx]
        return np.asarray(model.predict(xs, batch_size=512, verbose=0)["labels"])

    def evaluate_all(tag):
        zp = predict_z()
        mse = standardized_mse_table(z, zp, group, sp, gnames)
        yp = std.inverse(zp)
        scat = scatter_table(y, yp, group, sp["test"], gnames, LABELS)
        log(f"{tag}: standardized MSE " + "; ".join(
            f"{s}: " + ", ".join(f"{g} {v:.4f}" for g, v in row.items()) for s, row in mse.items()))
        return zp, yp, mse, scat

    zp, yp, mse_before, scat_before = evaluate_all("after phase 1")
    results = {"phase1": {"mse": mse_before, "scatter_test": scat_before, "epochs": epochs_run,
                          "best_epoch": best_epoch, "stopped_by": stopped_by,
                          "minutes": round(t_train / 60, 2)}}

    if stratified:
        small = [i for i, g in enumerate(gnames) if i != 0]

        def evaluate_dev(m):
            zd = np.asarray(m.predict(x[dev], batch_size=512, verbose=0)["labels"])
            se = np.mean((zd - z[dev]) ** 2, axis=1)
            gd = group[dev]
            ev = {g: float(se[gd == i].mean()) for i, g in enumerate(gnames)}
            ev["small"] = float(np.mean([ev[gnames[i]] for i in small]))
            return ev

        ft = stratified_finetune(model, keras_fit_epoch(x, z, args.batch), evaluate_dev, tr, group,
                                 large_group=0, fraction=args.ft_fraction, monitor="small",
                                 patience=args.ft_patience, round_patience=args.ft_round_patience,
                                 max_rounds=args.ft_max_rounds, time_budget_s=args.ft_minutes * 60,
                                 seed=args.seed, log=log)
        log(f"stratified fine-tuning: {ft.rounds} rounds, {ft.epochs} epochs, {ft.seconds / 60:.1f} min; "
            f"{ft.stop_reason}; dev small {ft.initial['small']:.4f} -> {ft.best['small']:.4f}, "
            f"dev large {ft.initial[gnames[0]]:.4f} -> {ft.best[gnames[0]]:.4f}")
        write_json(ft.history, os.path.join(out, "stratified_history.json"))
        plot_stratified_history(ft.history, gnames, os.path.join(out, f"{name}_stratified.png"),
                                f"{name}: stratified fine-tuning (dotted: before it)", ft.initial)
        zp, yp, mse_after, scat_after = evaluate_all("after stratified fine-tuning")
        results["stratified"] = {**ft.summary(), "mse": mse_after, "scatter_test": scat_after}
        mse_final, scat_final = mse_after, scat_after
    else:
        mse_final, scat_final = mse_before, scat_before

    plot_pred_vs_label(y, yp, group, sp["test"], gnames, LABELS, UNITS,
                       os.path.join(out, f"{name}_pred_vs_label.png"),
                       f"{name}: test set ({'archive' if getattr(args, 'labels_csv', None) else 'simulated'}), "
                       "predicted vs label")

    # ---- tables in the layout of Olney et al. (2020) Table 2 (standardized MSE) and Table 3 (scatter)
    mse_cols = {"ours": mse_final}
    if stratified:
        mse_cols = {"ours, before fine-tuning": mse_before, "ours, after stratified fine-tuning": mse_after}
    table2 = markdown_mse_table(mse_cols, gnames)
    scat_cols = {"ours": scat_final}
    if stratified:
        scat_cols = {"before FT": scat_before, "after FT": scat_after}
    table3 = markdown_scatter_table(scat_cols, gnames, LABELS, UNITS)

    # ---- export
    results_card = {"test_scatter": {g: {k: round(v, 4) for k, v in r.items()} for g, r in scat_final.items()},
                    "standardized_mse": {s: {g: round(v, 5) for g, v in r.items()} for s, r in mse_final.items()}}
    if stratified:
        results_card["standardized_mse_before_stratified"] = {
            s: {g: round(v, 5) for g, v in r.items()} for s, r in mse_before.items()}
        results_card["stratified_finetuning"] = ft.summary()
    results_card["phase1"] = {k: results["phase1"][k] for k in ("epochs", "best_epoch", "stopped_by", "minutes")}
    real_names, real_prep = real_spectra(contract)
    export_dir = common.export_dir(args, name)
    report = {"results": results}
    if not args.no_export:
        from zoo.export import export_model
        from zoo.predictor import Predictor
        preset = load_preset(name)
        outs = [o for o in preset.outputs]
        outs[0].mean, outs[0].std = std.mean.tolist(), std.std.tolist()
        recipe = {**preset.recipe, **recipe_used, "command": command.strip(),
                  "epochs_run": epochs_run, "best_epoch": best_epoch, "stopped_by": stopped_by}
        data_info = dict(preset.data)
        if getattr(args, "labels_csv", None):   # real archive spectra replace the simulations
            data_info = {"train": f"apStar files and labels listed in {os.path.basename(args.labels_csv)}",
                         "skipped_files": len(data.get("skipped", [])),
                         "provenance": "user-supplied APOGEE archive files (see the CSV)"}
            notes = [n for n in notes if "simulated spectra" not in n]
        data_info = {**data_info, "n_spectra": int(len(x)), "seed": args.seed,
                     "splits": {k: {g: int((group[v] == i).sum()) for i, g in enumerate(gnames)}
                                for k, v in sp.items()},
                     "target_mean": std.mean.tolist(), "target_std": std.std.tolist()}
        card = preset.replace(outputs=outs, recipe=recipe, data=data_info, metrics=results_card,
                              notes=list(preset.notes) + notes)
        t0 = time.time()
        # export an uncompiled copy: model.keras then holds no optimizer state (Adam's would triple it)
        clean = zoo.create_model(name, seed=args.seed, **(model_kwargs or {}))
        clean.set_weights(model.get_weights())
        card = export_model(clean, card, export_dir, real_prep.flux, saved_model=True)
        log(f"exported to {export_dir} in {time.time() - t0:.0f} s "
            f"(ONNX max |diff| vs Keras {card.artifacts['model.onnx']['max_abs_diff_vs_keras']:.2e})")

        # real spectra through the exported predictors (both backends)
        preds = {}
        for backend in ("keras", "onnx"):
            p = Predictor(export_dir, backend=backend)
            preds[backend] = p.predict(REAL_FILES, return_uncertainty=True,
                                       n_realizations=args.realizations, seed=0)
        diff = max(float(np.max(np.abs(preds["keras"][k] - preds["onnx"][k]))) for k in LABELS)
        real_rows = []
        for i, nm in enumerate(real_names):
            r = preds["onnx"]
            real_rows.append({"file": os.path.basename(REAL_FILES[i]), "star": nm,
                              **{k: round(float(r[k][i]), 3) for k in LABELS},
                              **{f"{k}_std": round(float(r[f"{k}_std"][i]), 3) for k in LABELS},
                              "expected": REAL_EXPECTATIONS.get(nm, "")})
        log("real apStar files (onnx backend, mean +- std of %d realizations; keras-onnx max diff %.2e):"
            % (args.realizations, diff))
        for r in real_rows:
            log(f"  {r['star']}: Teff {r['teff']:.0f} +- {r['teff_std']:.0f} K, log g {r['logg']:.2f} +- "
                f"{r['logg_std']:.2f}, [Fe/H] {r['feh']:+.2f} +- {r['feh_std']:.2f}   [{r['expected']}]")

        # uncertainty vs S/N on fresh simulated spectra, through the predictor (raw input)
        from zoo.families.apogee.simulate import simulate_apogee
        sim = simulate_apogee(args.n_uncertainty, seed=args.seed + 1000, snr_median=60.0,
                              snr_sigma=0.9, snr_range=(8.0, 500.0))
        p = Predictor(export_dir, backend="onnx")
        t0 = time.time()
        u = p.predict(sim.flux, error=sim.error, mask=sim.mask, return_uncertainty=True,
                      n_realizations=args.realizations, seed=1)
        sig = np.stack([u[f"{k}_std"] for k in LABELS], axis=1)
        edges = [8, 30, 60, 120, 500]
        bins = {}
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (sim.snr >= lo) & (sim.snr < hi)
            bins[f"{lo}-{hi}"] = {"n": int(sel.sum()), **{k: float(np.median(sig[sel, j])) if sel.any() else None
                                                          for j, k in enumerate(LABELS)}}
        from scipy.stats import spearmanr
        rho = {k: float(spearmanr(sim.snr, sig[:, j]).statistic) for j, k in enumerate(LABELS)}
        log(f"uncertainty vs S/N ({args.n_uncertainty} spectra, {time.time() - t0:.0f} s): median sigma per "
            f"S/N bin {bins}; Spearman rho(S/N, sigma) {rho}")
        plot_uncertainty_vs_snr(sim.snr, sig, LABELS, UNITS, os.path.join(out, f"{name}_uncertainty_vs_snr.png"),
                                f"{name}: uncertainty (std of {args.realizations} noise realizations) vs S/N",
                                sim.group, gnames)
        card.metrics["real_apstar"] = real_rows
        card.metrics["real_apstar_keras_vs_onnx_max_diff"] = diff
        card.metrics["uncertainty_vs_snr"] = {"median_sigma_by_snr_bin": bins, "spearman_rho": rho,
                                              "n_spectra": args.n_uncertainty,
                                              "n_realizations": args.realizations}
        wall = time.time() - t_start
        card.recipe["wall_time_minutes"] = round(wall / 60, 1)
        card.recipe["machine"] = machine_description() + (
            f"; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")
        card.to_json(os.path.join(export_dir, "card.json"))
        shutil.rmtree(os.path.join(export_dir, "saved_model"), ignore_errors=True) if args.quick else None
        report.update(real=real_rows, uncertainty={"bins": bins, "rho": rho})

    wall = time.time() - t_start
    report["wall_minutes"] = round(wall / 60, 1)
    report["machine"] = machine_description()
    write_json(report, os.path.join(out, "metrics.json"))
    md = [f"# {name}: run report", "", f"command: `{command.strip()}`", "",
          f"wall time {wall / 60:.1f} min on {machine_description()}", "",
          "## Standardized MSE per group (cf. Olney et al. 2020 Table 2)", "", table2, "",
          "## Test-set scatter per group (cf. Table 3)", "", table3, ""]
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write("\n".join(md) + "\n")
    print("\n".join(md))
    if not args.quick and args.docs_img:
        os.makedirs(args.docs_img, exist_ok=True)
        for f in glob.glob(os.path.join(out, f"{name}_*.png")):
            shutil.copy(f, args.docs_img)
    log(f"done in {wall / 60:.1f} min")
    return report


def reexport(name: str, export_dir: str | None = None, **model_kwargs) -> None:
    """Re-export ``exported/<name>/model.keras`` as an uncompiled copy (no optimizer state),
    keeping the card's metrics, recipe and notes; rewrites ONNX, test data and sha256."""
    import keras

    import zoo
    from zoo.card import ModelCard
    from zoo.export import export_model
    export_dir = export_dir or os.path.join(ROOT, "exported", name)
    card = ModelCard.from_json(os.path.join(export_dir, "card.json"))
    trained = keras.saving.load_model(os.path.join(export_dir, "model.keras"), compile=False)
    clean = zoo.create_model(name, **model_kwargs)
    clean.set_weights(trained.get_weights())
    _, prep = real_spectra(card.input)
    ref = np.asarray(trained.predict_on_batch(prep.flux)["labels"])
    new = export_model(clean, card, export_dir, prep.flux, saved_model=True)
    got = np.asarray(clean.predict_on_batch(prep.flux)["labels"])
    assert np.array_equal(ref, got), "re-exported weights differ"
    print(f"re-exported {name}: model.keras {os.path.getsize(os.path.join(export_dir, 'model.keras')) / 1e6:.1f} MB, "
          f"ONNX max |diff| {new.artifacts['model.onnx']['max_abs_diff_vs_keras']:.2e}")
