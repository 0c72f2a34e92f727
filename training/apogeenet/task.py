"""Data, splits, training, evaluation and export shared by the APOGEE regressors
(APOGEE Net, StarNet): :class:`ApogeeTask`, run by :mod:`training.skeleton`.

Both training modules (``training/apogeenet/__init__.py``, ``training/starnet.py``) are
thin: they name the model and add their notes; the optimizer, callbacks and
whether to run stratified fine-tuning follow the registered recipe
(``zoo/families/apogeenet/recipes.py``), and :class:`ApogeeTask` does the rest:

1. simulate raw-like apStar spectra of three groups (large, mdwarf, yso;
   :func:`zoo.families.apogeenet.simulate.simulate_apogee`, with the recipe's
   simulation fields: S/N range, realism effects of
   :mod:`zoo.families.apogeenet.realism`, all off by default) and bring them to the card's input
   contract with exactly the predictor's code path
   (:func:`zoo.preprocess.to_contract`, ``"apogee_continuum"``), in chunks,
   cached under ``runs/apogee_data/``;
2. split train/dev/test per group (Olney et al. 2020 Sec. 3.3,
   :func:`split_indices`); standardize targets with the training set's mean and
   std (Eq. 4);
3. train with dev evaluation after each epoch, best checkpoint, early stopping;
4. optionally stratified fine-tuning (Sec. 3.4, :mod:`training.apogeenet.stratified`);
5. evaluate: standardized MSE per group and split (cf. Table 2), scatter in K
   and dex per group (cf. Table 3), predicted-vs-label plots;
6. export (``.keras``, SavedModel, ONNX, checked) and, through the exported
   Predictor on both backends, predict the real apStar files with
   uncertainties and measure uncertainty against S/N (Sec. 3.5, Fig. 4).
"""
from __future__ import annotations

import dataclasses
import glob
import os
import time

import numpy as np

from training.common import plot_history, write_json
from training.skeleton import Task
from training.apogeenet.regression import (Standardizer, markdown_mse_table, markdown_scatter_table,
                                 plot_stratified_history,
                                 plot_pred_vs_label, plot_uncertainty_vs_snr, scatter_table,
                                 standardized_mse_table)

__all__ = ["build_dataset", "archive_dataset", "split_indices", "real_spectra", "ApogeeTask",
           "REAL_FILES", "REAL_EXPECTATIONS", "LABELS", "UNITS"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL_FILES = sorted(glob.glob(os.path.join(ROOT, "zoo", "families", "apogeenet", "data", "apogee", "apStar-*.fits")))
#: What each bundled real spectrum should look like (zoo/families/apogeenet/data/apogee/PROVENANCE.md).
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
def _sim_tag(sim_kwargs: dict | None) -> str:
    """Cache-name suffix of non-default simulation settings ('' for the default simulation)."""
    if not sim_kwargs:
        return ""
    import hashlib
    import inspect

    from zoo.families.apogeenet.realism import Realism
    from zoo.families.apogeenet.simulate import simulate_apogee
    defaults = {k: p.default for k, p in inspect.signature(simulate_apogee).parameters.items()}
    defaults["realism"] = Realism()
    changed = {k: v for k, v in sim_kwargs.items()
               if not (v == defaults.get(k) or (k == "realism" and v is None))}
    if not changed:
        return ""
    return "_" + hashlib.sha1(repr(sorted(changed.items())).encode()).hexdigest()[:10]


def build_dataset(n: int, seed: int, contract, cache_dir: str | None = None, chunk: int = 500,
                  log=print, sim_kwargs: dict | None = None) -> dict:
    """Simulated spectra on ``contract``: ``x`` (n, 8575) float32, ``y`` (n, 3), ``group``, ``snr``.

    Inputs go through :func:`zoo.preprocess.to_contract` with the simulated
    errors and masks, exactly as the predictor prepares any spectrum.
    ``sim_kwargs``: keyword arguments of
    :func:`zoo.families.apogeenet.simulate.simulate_apogee` (S/N range, realism
    effects; :func:`zoo.families.apogeenet.recipes.simulation_kwargs`).  ``y`` are
    the (possibly noisy) catalogue labels the network learns, ``y_true`` the
    labels the spectra were made at.
    """
    from zoo.preprocess import to_contract
    from zoo.families.apogeenet.simulate import simulate_apogee
    sim_kwargs = dict(sim_kwargs or {})
    path = None
    if cache_dir:
        path = os.path.join(cache_dir, f"sim_n{n}_seed{seed}_{contract.flux_normalization}"
                                       f"{_sim_tag(sim_kwargs)}.npz")
        if os.path.exists(path):
            with np.load(path) as d:
                log(f"data: cached {path}")
                out = {k: d[k] for k in d.files}
                out.setdefault("y_true", out["y"])
                return out
    t0 = time.time()
    sim = simulate_apogee(n, seed=seed, **sim_kwargs)
    x = np.empty((n, contract.n_pixels), np.float32)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        x[a:b] = to_contract(sim.flux[a:b], contract, error=sim.error[a:b], mask=sim.mask[a:b]).flux
    data = {"x": x, "y": sim.labels.astype(np.float32), "group": sim.group.astype(np.int64),
            "snr": sim.snr, "group_names": np.array(sim.group_names),
            "y_true": (sim.labels if sim.labels_true is None else sim.labels_true).astype(np.float32)}
    log(f"data: simulated and prepared {n} spectra in {time.time() - t0:.0f} s")
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        np.savez(path, **data)
    return data


#: Groups of the paper (Sec. 2), as simulated: index 0 is the large group, the others the small groups.
from zoo.families.apogeenet.simulate import GROUP_NAMES  # noqa: E402


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
    from zoo.families.apogeenet.apstar import read_apstar
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



# --------------------------------------------------------------------------- the task
#: The uncertainty-vs-S/N measurement (Sec. 3.5): fresh simulations over this S/N range, binned.
UNCERTAINTY_SIM = {"snr_median": 60.0, "snr_sigma": 0.9, "snr_range": (8.0, 500.0)}
SNR_BIN_EDGES = (8, 30, 60, 120, 500)


def _rounded(table: dict, nd: int) -> dict:
    return {a: {b: round(v, nd) for b, v in row.items()} for a, row in table.items()}


class ApogeeTask(Task):
    """APOGEE Net and StarNet on one protocol; a subclass sets ``name`` and adds :meth:`notes`.

    The recipe (:class:`zoo.families.apogeenet.recipes.ApogeeRecipe`) decides the
    optimizer (``optimizer``, ``momentum``, Adam's betas), early stopping,
    ReduceLROnPlateau (``reduce_lr``), the wall-clock budgets and whether
    stratified fine-tuning follows the main phase.
    """

    quick = {"n_spectra": 400, "epochs": 1, "minutes": 1.0, "ft_patience": 1, "ft_max_rounds": 1,
             "ft_minutes": 0.5, "n_uncertainty": 8, "realizations": 5}

    def notes(self, recipe, ctx) -> list[str]:
        """Card notes of this run (what differs from the paper, and why)."""
        from zoo.families.apogeenet.recipes import SIMULATION_FIELDS
        notes = []
        changed = {k: getattr(recipe, k) for k in SIMULATION_FIELDS
                   if getattr(recipe, k) != getattr(type(recipe)(), k)}
        if changed and not getattr(getattr(ctx, "args", None), "labels_csv", None):
            notes.append("Simulation changed from the default by the recipe's simulation fields "
                         f"{changed} (zoo.families.apogeenet.realism; docs/apogeenet.md).")
        if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
            notes.append("Training used TensorFlow's oneDNN CPU kernels (its default) for speed: runs are seeded "
                         "but not bitwise reproducible across machines (--deterministic turns them off).")
        return notes

    def add_arguments(self, p):
        p.add_argument("--labels-csv", default=None, metavar="CSV",
                       help="train on real apStar files instead of simulations: a CSV with columns "
                            "file,teff,logg,feh,group (group: large, mdwarf or yso); see "
                            "training.apogeenet.task.archive_dataset")
        p.add_argument("--cache", default=os.path.join(ROOT, "runs", "apogee_data"),
                       help="cache folder of the simulated data (default: runs/apogee_data)")

    # ---- data
    def data(self, recipe, ctx):
        contract = ctx.entry.card().input
        csv = ctx.args.labels_csv
        if csv:
            data = archive_dataset(csv, contract, log=ctx.log)
        else:
            from zoo.families.apogeenet.recipes import simulation_kwargs
            data = build_dataset(recipe.n_spectra, recipe.seed, contract, ctx.args.cache, log=ctx.log,
                                 sim_kwargs=simulation_kwargs(recipe))
        group = data["group"]
        gnames = [str(g) for g in data["group_names"]]
        sp = split_indices(group, recipe.seed, large=tuple(recipe.split_large), small=tuple(recipe.split_small))
        std = Standardizer.fit(data["y"][sp["train"]])
        ctx.log("splits: " + ", ".join(
            f"{k} {v.size} ({', '.join(f'{g} {(group[v] == i).sum()}' for i, g in enumerate(gnames))})"
            for k, v in sp.items()))
        ctx.log(f"target standardization (train): mean {np.round(std.mean, 3).tolist()}, "
                f"std {np.round(std.std, 3).tolist()}")
        ctx.data_info.update({
            "source": f"archive ({os.path.basename(csv)})" if csv else "simulated",
            "n_spectra": int(len(data["x"])), "seed": recipe.seed,
            "splits": {k: {g: int((group[v] == i).sum()) for i, g in enumerate(gnames)} for k, v in sp.items()},
            "target_mean": std.mean.tolist(), "target_std": std.std.tolist()})
        if csv:
            ctx.data_info["skipped_files"] = len(data.get("skipped", []))
        return {**data, "z": std.transform(data["y"]), "gnames": gnames, "splits": sp, "std": std,
                "contract": contract}

    # ---- training
    def optimizer(self, recipe):
        import keras
        if recipe.optimizer == "sgd":
            return keras.optimizers.SGD(learning_rate=recipe.learning_rate, momentum=recipe.momentum)
        if recipe.optimizer == "adam":
            return keras.optimizers.Adam(learning_rate=recipe.learning_rate, beta_1=recipe.beta_1,
                                         beta_2=recipe.beta_2, epsilon=recipe.epsilon)
        raise ValueError(f"optimizer must be 'sgd' or 'adam', not {recipe.optimizer!r}")

    def _evaluate_all(self, model, data, tag, ctx):
        """Standardized MSE per split and group, test scatter per group; logs the MSE."""
        z, group, gnames = data["z"], data["group"], data["gnames"]
        zp = np.asarray(model.predict(data["x"], batch_size=512, verbose=0)["labels"])
        mse = standardized_mse_table(z, zp, group, data["splits"], gnames)
        yp = data["std"].inverse(zp)
        scat = scatter_table(data["y"], yp, group, data["splits"]["test"], gnames, LABELS)
        ctx.log(f"{tag}: standardized MSE " + "; ".join(
            f"{s}: " + ", ".join(f"{g} {v:.4f}" for g, v in row.items()) for s, row in mse.items()))
        return yp, mse, scat

    def fit(self, model, data, recipe, ctx):
        import keras
        from training.apogeenet.stratified import keras_fit_epoch, stratified_finetune
        x, z, group, gnames = data["x"], data["z"], data["group"], data["gnames"]
        tr, dev = data["splits"]["train"], data["splits"]["dev"]
        model.compile(optimizer=self.optimizer(recipe), loss={"labels": "mse"})
        budget = _time_budget_callback(recipe.minutes * 60)
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.patience,
                                                min_delta=recipe.min_delta)
        cbs = ctx.callbacks() + [stopper, budget]
        if recipe.reduce_lr:
            factor, patience, min_delta, min_lr = recipe.reduce_lr
            cbs.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=factor, patience=int(patience),
                                                         min_delta=min_delta, min_lr=min_lr))
        t0 = time.time()
        hist = model.fit(x[tr], {"labels": z[tr]}, validation_data=(x[dev], {"labels": z[dev]}),
                         batch_size=recipe.batch_size, epochs=recipe.epochs, shuffle=True, callbacks=cbs,
                         verbose=2)
        t_train = time.time() - t0
        epochs_run = len(hist.history["loss"])
        best_epoch = int(np.argmin(hist.history["val_loss"])) + 1
        stopped_by = (f"early stopping (patience {recipe.patience})" if stopper.stopped_epoch
                      else f"time budget ({recipe.minutes:.0f} min)" if budget.hit
                      else f"epoch limit ({recipe.epochs})")
        ctx.load_best(model)
        ctx.log(f"phase 1: {epochs_run} epochs in {t_train / 60:.1f} min, best dev epoch {best_epoch}, "
                f"stopped by {stopped_by}")
        ctx.run_info.update(epochs_run=epochs_run, best_epoch=best_epoch, stopped_by=stopped_by)
        self.yp, mse, scat = self._evaluate_all(model, data, "after phase 1", ctx)
        self.phase1 = {"mse": mse, "scatter_test": scat, "epochs": epochs_run, "best_epoch": best_epoch,
                       "stopped_by": stopped_by, "minutes": round(t_train / 60, 2)}
        self.ft = None
        if recipe.stratified:
            small = [i for i in range(len(gnames)) if i != 0]

            def evaluate_dev(m):
                zd = np.asarray(m.predict(x[dev], batch_size=512, verbose=0)["labels"])
                se = np.mean((zd - z[dev]) ** 2, axis=1)
                gd = group[dev]
                ev = {g: float(se[gd == i].mean()) for i, g in enumerate(gnames)}
                ev["small"] = float(np.mean([ev[gnames[i]] for i in small]))
                return ev

            ft = stratified_finetune(model, keras_fit_epoch(x, z, recipe.batch_size), evaluate_dev, tr, group,
                                     large_group=0, fraction=recipe.ft_fraction, monitor="small",
                                     patience=recipe.ft_patience, round_patience=recipe.ft_round_patience,
                                     max_rounds=recipe.ft_max_rounds, time_budget_s=recipe.ft_minutes * 60,
                                     seed=recipe.seed, log=ctx.log)
            ctx.log(f"stratified fine-tuning: {ft.rounds} rounds, {ft.epochs} epochs, {ft.seconds / 60:.1f} min; "
                    f"{ft.stop_reason}; dev small {ft.initial['small']:.4f} -> {ft.best['small']:.4f}, "
                    f"dev large {ft.initial[gnames[0]]:.4f} -> {ft.best[gnames[0]]:.4f}")
            write_json(ft.history, ctx.path("stratified_history.json"))
            self.ft = ft
        return hist.history

    # ---- evaluation
    def evaluate(self, model, data, recipe, ctx):
        results = {"phase1": self.phase1}
        if self.ft is not None:   # (without fine-tuning the model is the one phase 1 scored)
            self.yp, mse, scat = self._evaluate_all(model, data, "after stratified fine-tuning", ctx)
            results["stratified"] = {**self.ft.summary(), "mse": mse, "scatter_test": scat}
        return results

    @staticmethod
    def _final(metrics):
        return metrics.get("stratified") or metrics.get("exported") or metrics["phase1"]

    def plots(self, model, data, metrics, ctx):
        name, gnames = ctx.model, data["gnames"]
        plot_history({k: v for k, v in ctx.history.items() if k in ("loss", "val_loss")},
                     ctx.path(f"{name}_history.png"), f"{name}: standardized MSE")
        if self.ft is not None:
            plot_stratified_history(self.ft.history, gnames, ctx.path(f"{name}_stratified.png"),
                                    f"{name}: stratified fine-tuning (dotted: before it)", self.ft.initial)
        plot_pred_vs_label(data["y"], self.yp, data["group"], data["splits"]["test"], gnames, LABELS, UNITS,
                           ctx.path(f"{name}_pred_vs_label.png"),
                           f"{name}: test set ({'archive' if ctx.args.labels_csv else 'simulated'}), "
                           "predicted vs label")

    def card_metrics(self, metrics, ctx):
        final = self._final(metrics)
        out = {"test_scatter": _rounded(final["scatter_test"], 4), "standardized_mse": _rounded(final["mse"], 5)}
        if "stratified" in metrics:
            out["standardized_mse_before_stratified"] = _rounded(metrics["phase1"]["mse"], 5)
            out["stratified_finetuning"] = {k: v for k, v in metrics["stratified"].items()
                                            if k not in ("mse", "scatter_test")}
        out["phase1"] = {k: metrics["phase1"][k] for k in ("epochs", "best_epoch", "stopped_by", "minutes")}
        return out

    # ---- export
    def complete_card(self, card, data, recipe, ctx):
        std = data["std"]
        outputs = [dataclasses.replace(card.outputs[0], mean=std.mean.tolist(), std=std.std.tolist()),
                   *card.outputs[1:]]
        info = dict(card.data)
        notes = self.notes(recipe, ctx)
        if ctx.args.labels_csv:   # real archive spectra replace the simulations
            info = {"train": f"apStar files and labels listed in {os.path.basename(ctx.args.labels_csv)}",
                    "provenance": "user-supplied APOGEE archive files (see the CSV)"}
            notes = [n for n in notes if "simulated spectra" not in n]
        info.update({k: v for k, v in ctx.data_info.items() if k != "source"})
        return card.replace(outputs=outputs, data=info, notes=list(card.notes) + notes)

    def export_flux(self, data, ctx):
        """The bundled real apStar spectra, on the contract."""
        self.real_names, prep = real_spectra(data["contract"])
        return prep.flux

    def after_export(self, directory, card, data, recipe, ctx):
        """Real apStar files through the exported Predictor (both backends) and the
        uncertainty-vs-S/N measurement on fresh simulations (Sec. 3.5, Fig. 4)."""
        from scipy.stats import spearmanr

        from zoo.families.apogeenet.simulate import simulate_apogee
        from zoo.predictor import Predictor
        preds = {b: Predictor(directory, backend=b).predict(REAL_FILES, return_uncertainty=True,
                                                            n_realizations=recipe.realizations, seed=0)
                 for b in ("keras", "onnx")}
        diff = max(float(np.max(np.abs(preds["keras"][k] - preds["onnx"][k]))) for k in LABELS)
        r = preds["onnx"]
        real = [{"file": os.path.basename(REAL_FILES[i]), "star": nm,
                 **{k: round(float(r[k][i]), 3) for k in LABELS},
                 **{f"{k}_std": round(float(r[f"{k}_std"][i]), 3) for k in LABELS},
                 "expected": REAL_EXPECTATIONS.get(nm, "")} for i, nm in enumerate(self.real_names)]
        ctx.log(f"real apStar files (onnx backend, mean +- std of {recipe.realizations} realizations; "
                f"keras-onnx max diff {diff:.2e}):")
        for row in real:
            ctx.log(f"  {row['star']}: Teff {row['teff']:.0f} +- {row['teff_std']:.0f} K, log g {row['logg']:.2f} +- "
                    f"{row['logg_std']:.2f}, [Fe/H] {row['feh']:+.2f} +- {row['feh_std']:.2f}   [{row['expected']}]")

        # uncertainty vs S/N on fresh simulated spectra, through the predictor (raw input)
        sim = simulate_apogee(recipe.n_uncertainty, seed=recipe.seed + 1000, **UNCERTAINTY_SIM)
        t0 = time.time()
        u = Predictor(directory, backend="onnx").predict(sim.flux, error=sim.error, mask=sim.mask,
                                                         return_uncertainty=True,
                                                         n_realizations=recipe.realizations, seed=1)
        sig = np.stack([u[f"{k}_std"] for k in LABELS], axis=1)
        bins = {}
        for lo, hi in zip(SNR_BIN_EDGES[:-1], SNR_BIN_EDGES[1:]):
            sel = (sim.snr >= lo) & (sim.snr < hi)
            bins[f"{lo}-{hi}"] = {"n": int(sel.sum()), **{k: float(np.median(sig[sel, j])) if sel.any() else None
                                                          for j, k in enumerate(LABELS)}}
        rho = {k: float(spearmanr(sim.snr, sig[:, j]).statistic) for j, k in enumerate(LABELS)}
        ctx.log(f"uncertainty vs S/N ({recipe.n_uncertainty} spectra, {time.time() - t0:.0f} s): median sigma per "
                f"S/N bin {bins}; Spearman rho(S/N, sigma) {rho}")
        plot_uncertainty_vs_snr(sim.snr, sig, LABELS, UNITS, ctx.path(f"{ctx.model}_uncertainty_vs_snr.png"),
                                f"{ctx.model}: uncertainty (std of {recipe.realizations} noise realizations) vs S/N",
                                sim.group, data["gnames"])
        return {"real_apstar": real, "real_apstar_keras_vs_onnx_max_diff": diff,
                "uncertainty_vs_snr": {"median_sigma_by_snr_bin": bins, "spearman_rho": rho,
                                       "n_spectra": recipe.n_uncertainty, "n_realizations": recipe.realizations}}

    # ---- report
    def report(self, metrics, ctx):
        """Tables in the layout of Olney et al. (2020) Table 2 (standardized MSE) and Table 3 (scatter)."""
        if "exported" in metrics:
            mse_cols = {"exported model": metrics["exported"]["mse"]}
            scat_cols = {"exported model": metrics["exported"]["scatter_test"]}
        elif "stratified" in metrics:
            mse_cols = {"ours, before fine-tuning": metrics["phase1"]["mse"],
                        "ours, after stratified fine-tuning": metrics["stratified"]["mse"]}
            scat_cols = {"before FT": metrics["phase1"]["scatter_test"],
                         "after FT": metrics["stratified"]["scatter_test"]}
        else:
            mse_cols = {"ours": metrics["phase1"]["mse"]}
            scat_cols = {"ours": metrics["phase1"]["scatter_test"]}
        gnames = [g for g in next(iter(next(iter(mse_cols.values())).values())) if g != "all"]
        md = ["## Standardized MSE per group (cf. Olney et al. 2020 Table 2)", "",
              markdown_mse_table(mse_cols, gnames), "",
              "## Test-set scatter per group (cf. Table 3)", "",
              markdown_scatter_table(scat_cols, gnames, LABELS, UNITS), ""]
        if metrics.get("real_apstar"):
            md += ["## Bundled real apStar files (exported model, ONNX)", "",
                   "| star | Teff [K] | log g [dex] | [Fe/H] [dex] | expected |", "|---|---|---|---|---|"]
            md += [f"| {r['star']} | {r['teff']:.0f} ± {r['teff_std']:.0f} | {r['logg']:.2f} ± {r['logg_std']:.2f} "
                   f"| {r['feh']:+.2f} ± {r['feh_std']:.2f} | {r['expected']} |" for r in metrics["real_apstar"]]
            md.append("")
        return md

    def reproduction(self, card, cache_dir):
        """The card's own test split, rebuilt exactly (recipe seed, cached simulation)."""
        return {"sample": False, "flags": ["--cache", cache_dir]}

    def reproduction_checks(self, card, metrics):
        from training.skeleton import Check, ReproductionError
        n = metrics["exported"]["scatter_test"]["all"]["n"]
        n_card = card["metrics"]["test_scatter"]["all"]["n"]
        if n != n_card:
            raise ReproductionError(f"{card['name']}: {n} test spectra rebuilt, the card's test split has {n_card}")
        return [Check(f"{card['name']} standardized test MSE [{g}]", metrics["exported"]["mse"]["test"][g], full,
                      n, n_card, "mse") for g, full in card["metrics"]["standardized_mse"]["test"].items()]

    def evaluate_exported(self, recipe, ctx):
        """Rebuild the data and splits (same seed, cached) and score the exported model."""
        from zoo.predictor import Predictor
        p = Predictor(ctx.export_dir, backend=ctx.args.backend)
        data = self.data(recipe, ctx)
        out = p.card.outputs[0]
        mean, std = np.asarray(out.mean), np.asarray(out.std)
        zp = p.forward(data["x"])["labels"]          # inputs are already on the contract
        mse = standardized_mse_table((data["y"] - mean) / std, zp, data["group"], data["splits"], data["gnames"])
        scat = scatter_table(data["y"], mean + std * zp, data["group"], data["splits"]["test"], data["gnames"],
                             LABELS)
        return {"exported": {"mse": mse, "scatter_test": scat}}
