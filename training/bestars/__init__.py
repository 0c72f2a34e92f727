"""What ``training.emission_fc`` and ``training.emission_cnn`` share (Podsztavek 2017, ch. 9).

Data: simulated spectra (``zoo/families/bestars/simulate.py``, the preset named by the
recipe's ``simulator``) in the thesis's class counts (Table 6.1), each through its
instrument's path: Ondřejov CCD700-like spectra through the thesis's Ondřejov path (air
-> vacuum, blur, regrid, standardize), and -- with the default ``survey`` preset, half of
them -- spectra rendered as LAMOST records them (R ~ 1800, vacuum, S/N 8-150 per pixel)
through the LAMOST path (regrid, standardize); a stratified split, test 10 % and
validation 20 % of the rest (Sec. 9.2.1, Table 9.1); SMOTE on the training set only
(Sec. 9.2.2).
Training (Sec. 9.2.3): Adam (lr, betas, epsilon of the recipe), categorical
cross-entropy, batch 256, up to 250 epochs, early stopping on the validation loss with
the best weights restored (ours; the thesis ran its epochs out), a wall-clock cap
(ours), TensorBoard.  Evaluation: per-class accuracy beside the thesis's (Fig. 9.4),
confusion matrices, the real spectra (γ Cas, Vega, the BT CMi pair), and the
out-of-domain score (``zoo/families/bestars/trust.py``): threshold from validation,
false flags on the test set, hits on flat lines, pure noise and wrong-range spectra.
Every number is in ``zoo/families/bestars/recipes.py``.
"""
from __future__ import annotations

import os


import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from training.common import plot_confusion, write_json  # noqa: E402
from training.skeleton import REPO, Task  # noqa: E402
from zoo.families.bestars.paper import PER_CLASS as THESIS_PER_CLASS  # noqa: E402
from zoo.families.bestars.paper import TABLE_9_1 as THESIS_TABLE_9_1  # noqa: E402

__all__ = ["EmissionTask", "stratified_split", "smote_balance", "split_and_balance", "per_class_accuracy",
           "THESIS_PER_CLASS", "THESIS_TABLE_9_1", "real_files", "trust_probes", "RESULTS_JSON", "TRUST_CAVEATS"]

CLASSES = ("emission", "absorption", "double-peak")
#: What the thesis says of its Ondřejov set's stars: no spectral types, only these (quoted in the caveat).
THESIS_ONDREJOV_SET = ('the archive "is specialized on Be stars observations" (Sec. 2.7), it is "focused on observing '
                       'emission and double-peak spectra" (Sec. 8.1) and "composed of not noisy well captured spectra" '
                       '(Sec. 9.4); the thesis gives no spectral types for its absorption spectra')
#: What the out-of-domain flag means on real data, by the recipe's ``simulator`` (docs/bestars.md measures it).
TRUST_CAVEATS = {
    "legacy": ("Most real LAMOST spectra of G/K/M stars (weak H-alpha among metal lines and molecular bands) or of "
               "low S/N come out of domain: the simulated training set's absorption class holds B/A/F stars only, all "
               "rendered as Ondřejov spectra at S/N 20-400 per CCD700 pixel (ours). Of the thesis's Ondřejov set, "
               + THESIS_ONDREJOV_SET + "; it found its LAMOST misclassifications among noisy spectra (Sec. 9.4)."),
    "survey": ("The simulated training set's absorption class holds B/A/F stars (analytic H-alpha) and G/K/M stars "
               "(DESI redrock archetypes), and half of all spectra are rendered as LAMOST records them at S/N 8-150 "
               "per pixel (ours, scripts/bestars_sim_realism.py); spectra unlike all of these (other objects, "
               "damaged spectra, S/N below ~8) come out of domain. Of the thesis's Ondřejov set, "
               + THESIS_ONDREJOV_SET + "; it found its LAMOST misclassifications among noisy spectra (Sec. 9.4)."),
}
#: Bins of the continuum S/N per pixel of the 140-point input (simulated test set).
INPUT_SNR_BINS = ((3, 10), (10, 30), (30, 100), (100, 300), (300, 1000), (1000, 3000))
#: Where training runs with --docs record their test results (read by scripts/bestars_figures.py).
RESULTS_JSON = os.path.join(REPO, "docs", "img", "emission_results.json")


# ----------------------------------------------------------------------------- splits and SMOTE
def stratified_split(y, test_fraction: float, val_fraction: float, seed: int):
    """Indices ``(train, val, test)``: stratified, test = ``test_fraction`` of all, validation =
    ``val_fraction`` of the rest (thesis Sec. 9.2.1)."""
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction, stratify=y[rest], random_state=seed + 1)
    return np.sort(train), np.sort(val), np.sort(test)


def smote_balance(x, y, k_neighbors: int = 5, seed: int = 0):
    """SMOTE (imbalanced-learn) until every class has the majority class's count.

    The thesis called ``SMOTE().fit_sample`` N_CLASSES - 1 times (imbalanced-learn 0.2
    oversampled one minority class per call); today's ``SMOTE()`` balances every minority
    class in one call, the same end state.  Returns ``(x, y, is_synthetic)``; the original
    rows come first, unchanged."""
    from imblearn.over_sampling import SMOTE
    xs, ys = SMOTE(k_neighbors=k_neighbors, random_state=seed).fit_resample(x, y)
    synthetic = np.zeros(len(ys), bool)
    synthetic[len(y):] = True
    return xs.astype(np.float32), ys, synthetic


def split_and_balance(x, y, recipe):
    """The thesis's split and (with ``recipe.smote``) SMOTE on the training part only."""
    tr, va, te = stratified_split(y, recipe.test_fraction, recipe.val_fraction, recipe.seed)
    sets = {"train": {"x": x[tr], "y": y[tr], "index": tr}, "val": {"x": x[va], "y": y[va], "index": va},
            "test": {"x": x[te], "y": y[te], "index": te}}
    if recipe.smote:
        xs, ys, syn = smote_balance(x[tr], y[tr], recipe.smote_k_neighbors, recipe.seed)
        sets["train_fit"] = {"x": xs, "y": ys, "synthetic": syn}
    else:
        sets["train_fit"] = {"x": x[tr], "y": y[tr], "synthetic": np.zeros(len(tr), bool)}
    return sets


def counts(y) -> dict:
    return {c: int(np.sum(np.asarray(y) == i)) for i, c in enumerate(CLASSES)}


def per_class_accuracy(y_true, y_pred) -> dict:
    """Share of each true class predicted correctly (the diagonal of thesis Fig. 9.4)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {c: float(np.mean(y_pred[y_true == i] == i)) if np.any(y_true == i) else float("nan")
            for i, c in enumerate(CLASSES)}


# ----------------------------------------------------------------------------- real files
def real_files() -> dict:
    """The bundled real spectra and what they are (thesis labels / the files' H-alpha)."""
    from importlib import resources
    root = resources.files("zoo") / "data"
    ond = resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov"
    return {str(ond / "gamma-cas-emission.fits"): "emission",
            str(ond / "alpha-lyr-absorption.fits"): "absorption",
            str(ond / "bt-cmi-ondrejov.fits"): "BT CMi",
            str(root / "lamost" / "bt-cmi-lamost.fits"): "BT CMi",
            str(ond / "oe270005.fits"): "absorption",
            str(root / "lamost" / "spec-56257-GAC089N38V2_sp01-008.fits"): "absorption",
            str(root / "lamost" / "spec-55939-B5593905_sp01-018.fits"): "absorption"}


def real_results(model, files=None) -> dict:
    """Each real file through ``predict_spectra`` (class probabilities) and ``Predictor.predict(path)``
    (the same instrument path, by the contract's instrument step: the two must agree)."""
    from zoo.families.bestars import predict_spectra
    files = files or real_files()
    out = {}
    for f, expected in files.items():
        fam = predict_spectra(model, f)
        core = model.predict(f)
        out[os.path.basename(f)] = {
            "expected": expected, "class": str(fam["halpha_class"][0]),
            "probabilities": dict(zip(CLASSES, np.round(fam["probabilities"][0], 4).tolist())),
            "domain_score": float(fam["domain_score"][0]), "out_of_domain": bool(fam["out_of_domain"][0])}
        assert str(core["halpha_class"][0]) == out[os.path.basename(f)]["class"], f   # one path, two entry points
    bt = [v["class"] for k, v in out.items() if v["expected"] == "BT CMi"]
    out["_summary"] = {
        "gamma_cas_emission": out["gamma-cas-emission.fits"]["class"] == "emission",
        "vega_absorption": out["alpha-lyr-absorption.fits"]["class"] == "absorption",
        "bt_cmi_one_class": len(set(bt)) == 1, "bt_cmi_classes": bt}
    return out


# ----------------------------------------------------------------------------- trust probes
def trust_probes(contract, n: int = 200, seed: int = 123) -> dict:
    """Inputs known to be outside the training domain, on the contract grid (standardized):
    flat lines (constant, and constant plus 0.1 % noise), pure noise (white noise of 5-30 %
    around a positive level), and wrong-range
    spectra (simulated Ondřejov spectra's blue part, 6282-6495 A without H-alpha, fed as
    if it were 6519-6732 A)."""
    from zoo.families.bestars.preprocess import air_to_vacuum_thesis, gaussian_blur
    from zoo.families.bestars.simulate import SimConfig, simulate_spectrum
    from zoo.preprocess import to_contract
    legacy = SimConfig.legacy()      # the probes stay what they were, whichever simulator trains
    rng = np.random.default_rng(seed)
    grid = contract.wavelength()
    flat = np.full((n, grid.size), 1.0) * rng.uniform(0.5, 2.0, (n, 1))
    flat_noisy = flat * (1 + 1e-3 * rng.normal(size=flat.shape))
    level = rng.uniform(0.5, 5.0, (n, 1))
    noise = level * (1 + rng.uniform(0.05, 0.3, (n, 1)) * rng.normal(size=(n, grid.size)))
    wrong = []
    for i in range(n):
        w, f, _ = simulate_spectrum(("emission", "absorption", "double-peak")[i % 3], rng, legacy)
        vac = air_to_vacuum_thesis(w)
        blue = (vac < vac[0] + 216)
        shifted = vac[blue] - vac[blue][0] + grid[0] - 1.0
        wrong.append(to_contract(gaussian_blur(f)[blue], contract, shifted, medium="vacuum").flux[0])
    prep = {name: to_contract(x, contract).flux for name, x in
            (("flat", flat), ("flat_noisy", flat_noisy), ("pure_noise", noise))}
    prep["wrong_range"] = np.stack(wrong)
    return prep


# ----------------------------------------------------------------------------- the task
class _TimeCap:
    """Keras callback: stop when the next epoch would pass ``minutes`` of training."""

    @staticmethod
    def make(minutes: float):
        import keras

        class _C(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.t0, self.capped, self.last = time.time(), False, 0.0

            def on_epoch_begin(self, epoch, logs=None):
                self.e0 = time.time()

            def on_epoch_end(self, epoch, logs=None):
                self.last = time.time() - self.e0
                if time.time() - self.t0 + self.last > 60 * minutes:
                    self.capped = True
                    self.model.stop_training = True
        return _C()


class EmissionTask(Task):
    """The thesis's recipe for either network (``name`` is the registered model)."""

    quick = {"epochs": 3, "n_emission": 300, "n_absorption": 340, "n_double_peak": 90, "max_minutes": 1.0}

    def reproduction(self, card, cache_dir):
        """A fresh sample from the card's simulator (recipe seed + 1000), 90 % of it scored."""
        return {"sample": True, "flags": ["--test-fraction", "0.9"]}

    def reproduction_checks(self, card, metrics):
        import json

        from training.skeleton import Check, ReproductionError
        from zoo.families.bestars.simulate import SimConfig
        trained_on = card["data"].get("simulator") or {}
        now = json.loads(json.dumps(SimConfig().to_dict()))     # tuples as the card's JSON lists
        changed = sorted(k for k in set(now) | set(trained_on) if trained_on.get(k) != now.get(k))
        if changed:
            raise ReproductionError(f"{card['name']} was trained on another simulator (fields {changed}): "
                                    "retrain and re-export")
        if metrics["test"]["n"] < 600:
            raise ReproductionError(f"{card['name']}: only {metrics['test']['n']} sample spectra scored (< 600)")
        full = card["metrics"]["test"]
        return [Check(f"{card['name']} test accuracy", metrics["test"]["accuracy"], full["accuracy"],
                      metrics["test"]["n"], full["n"])]

    def evaluate_exported(self, recipe, ctx):
        """Re-simulate the same data (same seed), score the exported model on its test split
        with ``--backend``, and the real files."""
        from zoo.predictor import Predictor
        data = self.data(recipe, ctx)
        model = Predictor(ctx.export_dir, backend=ctx.args.backend)
        te = data["sets"]["test"]
        pred = model.forward(te["x"])["halpha_class"].argmax(1)
        cm = np.array([[np.sum((te["y"] == i) & (pred == j)) for j in range(3)] for i in range(3)])
        return {"test": {"n": int(len(te["y"])), "accuracy": float(np.mean(pred == te["y"])),
                         "per_class_accuracy": per_class_accuracy(te["y"], pred),
                         "confusion_matrix": cm.tolist()},
                "thesis_per_class_accuracy": THESIS_PER_CLASS.get(ctx.model, {}),
                "real_files": real_results(model)}

    # ------------------------------------------------------------------ data
    def data(self, recipe, ctx):
        from zoo.families.bestars.simulate import simulate_dataset
        from zoo.families.bestars.trust import fit_reference
        card = ctx.entry.card()
        cfg = recipe.sim_config()
        t0 = time.time()
        sim = simulate_dataset(recipe.class_counts(), card.input, seed=recipe.seed, cfg=cfg)
        ctx.log(f"simulated {len(sim.y)} spectra ({recipe.simulator} simulator) in {time.time() - t0:.0f} s: "
                f"{counts(sim.y)}")
        sets = split_and_balance(sim.x, sim.y, recipe)
        ref = fit_reference(sets["train"]["x"], recipe.trust_components)
        ctx.data_info.update({
            "simulated": counts(sim.y), "simulator": cfg.to_dict(), "simulator_preset": recipe.simulator,
            "split": {k: counts(sets[k]["y"]) for k in ("train", "val", "test")},
            "train_after_smote": counts(sets["train_fit"]["y"]) if recipe.smote else None,
            "thesis_table_9_1": THESIS_TABLE_9_1})
        ctx.log(f"split {ctx.data_info['split']}; fit on {counts(sets['train_fit']['y'])}")
        return {"card": card, "sim": sim, "sets": sets, "trust_ref": ref}

    # ------------------------------------------------------------------ fit
    def fit(self, model, data, recipe, ctx):
        import keras
        tr, va = data["sets"]["train_fit"], data["sets"]["val"]
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=recipe.learning_rate, beta_1=recipe.beta_1,
                                                      beta_2=recipe.beta_2, epsilon=recipe.epsilon),
                      loss={"halpha_class": "categorical_crossentropy"},
                      metrics={"halpha_class": ["accuracy"]})
        onehot = np.eye(len(CLASSES), dtype=np.float32)
        self.cap = _TimeCap.make(recipe.max_minutes)
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.patience,
                                             restore_best_weights=False)
        hist = model.fit(tr["x"], {"halpha_class": onehot[tr["y"]]}, batch_size=recipe.batch_size,
                         epochs=recipe.epochs, shuffle=True, verbose=2,
                         validation_data=(va["x"], {"halpha_class": onehot[va["y"]]}),
                         callbacks=ctx.callbacks(monitor="val_loss") + [stop, self.cap])
        h = hist.history
        ctx.load_best(model)
        best = int(np.argmin(h["val_loss"]))
        ctx.run_info.update({
            "epochs_run": len(h["val_loss"]), "best_epoch": best + 1,
            "stopped_by": "early stopping" if stop.stopped_epoch else (
                "time cap" if self.cap.capped else "epoch limit"),
            "max_minutes": recipe.max_minutes, "patience": recipe.patience})
        ctx.log(f"stopped by {ctx.run_info['stopped_by']} after {len(h['val_loss'])} epochs; "
                f"best epoch {best + 1}")
        return h

    # ------------------------------------------------------------------ evaluate
    def _probs(self, model, x):
        return np.asarray(model.predict(x, batch_size=1024, verbose=0)["halpha_class"])

    def evaluate(self, model, data, recipe, ctx):
        from sklearn.metrics import confusion_matrix

        from zoo.families.bestars.trust import pca_score
        sets, sim = data["sets"], data["sim"]
        te = sets["test"]
        p = self._probs(model, te["x"])
        pred = p.argmax(1)
        cm = confusion_matrix(te["y"], pred, labels=range(len(CLASSES)))
        m = {"test": {"n": int(len(te["y"])), "accuracy": float(np.mean(pred == te["y"])),
                      "per_class_accuracy": per_class_accuracy(te["y"], pred),
                      "confusion_matrix": cm.tolist(), "classes": list(CLASSES)},
             "thesis_per_class_accuracy": THESIS_PER_CLASS.get(self._run_key(recipe, ctx), {}),
             "smote": recipe.smote}
        # double-peak recall against the simulated peak separation (what blurring to LAMOST's
        # resolution leaves resolvable)
        dp = np.nonzero(te["y"] == 2)[0]
        sep = np.array([sim.params[i]["peak_separation_kms"] for i in te["index"][dp]])
        bins = [100, 200, 300, 400, 500]
        m["double_peak_recall_by_separation_kms"] = {
            f"{lo}-{hi}": float(np.mean(pred[dp][(sep >= lo) & (sep < hi)] == 2))
            for lo, hi in zip(bins[:-1], bins[1:]) if np.any((sep >= lo) & (sep < hi))}
        snr = sim.input_snr[te["index"]]
        m["test_accuracy_by_input_snr"] = {f"{lo}-{hi}": float(np.mean(pred[(snr >= lo) & (snr < hi)] ==
                                                                       te["y"][(snr >= lo) & (snr < hi)]))
                                           for lo, hi in INPUT_SNR_BINS if np.any((snr >= lo) & (snr < hi))}
        inst = sim.instrument[te["index"]]
        m["per_class_accuracy_by_instrument"] = {
            r: per_class_accuracy(te["y"][inst == r], pred[inst == r]) for r in ("ondrejov", "lamost")
            if np.any(inst == r)}
        groups = np.array([sim.params[i].get("group", "none") for i in te["index"]])
        ab = te["y"] == 1
        m["absorption_accuracy_by_group"] = {g: float(np.mean(pred[ab & (groups == g)] == 1))
                                             for g in ("B", "A", "F", "G", "K", "M") if np.any(ab & (groups == g))}
        # trust: threshold from validation, false flags on test, hits on known-outside inputs
        ref = data["trust_ref"]
        val_scores = pca_score(sets["val"]["x"], ref)
        thr = float(np.quantile(val_scores, recipe.trust_quantile))
        probes = trust_probes(data["card"].input, n=60 if ctx.quick else 200, seed=recipe.seed + 123)
        m["trust"] = {"method": "emission_pca_distance", "threshold": thr, "quantile": recipe.trust_quantile,
                      "components": recipe.trust_components,
                      "validation_flag_rate": float(np.mean(val_scores > thr)),
                      "test_false_flag_rate": float(np.mean(pca_score(te["x"], ref) > thr)),
                      "hit_rate": {k: float(np.mean(pca_score(v, ref) > thr)) for k, v in probes.items()}}
        ctx.log(f"test accuracy {m['test']['accuracy']:.4f}; per class {m['test']['per_class_accuracy']}; "
                f"trust {m['trust']}")
        self.metrics = m
        return m

    def _run_key(self, recipe, ctx):
        return ctx.model + ("" if recipe.smote else "_imbalanced")

    # ------------------------------------------------------------------ plots
    def plots(self, model, data, metrics, ctx):
        super().plots(model, data, metrics, ctx)
        key = ctx.model + ("" if metrics["smote"] else "_imbalanced")
        te = data["sets"]["test"]
        pred = self._probs(model, te["x"]).argmax(1)
        plot_confusion(np.asarray(CLASSES)[te["y"]], np.asarray(CLASSES)[pred], list(CLASSES),
                       ctx.path(f"{key}_confusion.png"),
                       f"{key}: simulated test set ({'SMOTE' if metrics['smote'] else 'imbalanced'} training)")
        if ctx.docs:   # the committed results that scripts/bestars_figures.py draws from
            results = {}
            if os.path.exists(RESULTS_JSON):
                with open(RESULTS_JSON) as fh:
                    results = json.load(fh)
            results[key] = {"command": ctx.command, "test": metrics["test"],
                            "thesis_per_class_accuracy": metrics["thesis_per_class_accuracy"],
                            "double_peak_recall_by_separation_kms": metrics["double_peak_recall_by_separation_kms"],
                            "test_accuracy_by_input_snr": metrics["test_accuracy_by_input_snr"],
                            "per_class_accuracy_by_instrument": metrics["per_class_accuracy_by_instrument"],
                            "absorption_accuracy_by_group": metrics["absorption_accuracy_by_group"],
                            "trust": metrics["trust"], "run_info": dict(ctx.run_info)}
            os.makedirs(os.path.dirname(RESULTS_JSON), exist_ok=True)
            write_json(results, RESULTS_JSON)

    # ------------------------------------------------------------------ export
    def complete_card(self, card, data, recipe, ctx):
        t = self.metrics["trust"]
        trust = {"method": "emission_pca_distance", "threshold": t["threshold"],
                 "description": (
                     "0.5 * (Hotelling T^2 / k + residual Q / mean training Q) of the standardized 140-pixel "
                     f"input in the PCA space (k = {recipe.trust_components}) of the simulated training inputs "
                     "(reference in trust.npz, sha256 in artifacts); ~1 for a typical training spectrum; inf for "
                     f"a flat line. Threshold: the {recipe.trust_quantile:.0%} quantile of the validation scores. "
                     f"Measured: test false-flag rate {t['test_false_flag_rate']:.3f}; hit rates "
                     + ", ".join(f"{k} {v:.2f}" for k, v in t["hit_rate"].items())
                     + ". " + TRUST_CAVEATS[recipe.simulator]),
                 "test_false_flag_rate": t["test_false_flag_rate"], "hit_rate": t["hit_rate"]}
        data_block = {**card.data, "simulated_counts": ctx.data_info["simulated"],
                      "split": ctx.data_info["split"], "train_after_smote": ctx.data_info["train_after_smote"],
                      "simulator": ctx.data_info["simulator"]}
        rendered = ("Ondřejov CCD700-like spectra" if recipe.simulator == "legacy" else
                    "spectra, half Ondřejov CCD700-like and half rendered as LAMOST records them (S/N 8-150), with "
                    "G/K/M photospheres in the absorption class (simulator preset 'survey', ours)")
        notes = [
            f"Trained on simulated {rendered} (zoo/families/bestars/simulate.py), not the "
            "thesis's 12,937 labelled Ondřejov spectra (not available offline); test metrics are on simulated "
            "spectra. docs/bestars.md has the real-file results and the simulator's calibration.",
            "Early stopping on the validation loss (patience in the recipe) with the best weights restored, and a "
            "wall-clock cap (max_minutes), replace the thesis's fixed 250 epochs (ours; 2 shared CPU cores).",
            "Blur with boundary='extend' (ours): the thesis's astropy default boundary='fill' darkens the last "
            "~5 A of every Ondřejov spectrum, inside the 6519-6732 A grid.",
        ]
        return card.replace(trust=trust, data=data_block, notes=card.notes + notes)

    def export_flux(self, data, ctx):
        from zoo.families.bestars import prepare
        return prepare(data["card"].input, list(real_files())).flux

    def after_export(self, directory, card, data, recipe, ctx):
        from zoo.export import sha256
        from zoo.families.bestars.trust import TRUST_FILE, save_reference
        from zoo.predictor import Predictor
        path = save_reference(data["trust_ref"], directory)
        card.artifacts[TRUST_FILE] = {"sha256": sha256(path),
                                      "note": "PCA reference of the out-of-domain score (trust.py)"}
        card.to_json(os.path.join(directory, "card.json"))
        model = Predictor(directory, backend="onnx")
        te = data["sets"]["test"]
        p = model.forward(te["x"])["halpha_class"]
        real = real_results(model)
        ctx.log("real files: " + json.dumps({k: v["class"] if isinstance(v, dict) and "class" in v else v
                                             for k, v in real.items()}))
        return {"exported_onnx_test_accuracy": float(np.mean(p.argmax(1) == te["y"])), "real_files": real}

    # ------------------------------------------------------------------ report
    def report(self, metrics, ctx):
        t = metrics["test"]
        thesis = metrics.get("thesis_per_class_accuracy", {})
        lines = [f"Simulated test set: {t['n']} spectra, accuracy {t['accuracy']:.4f}", "",
                 "| class | ours | thesis |", "|---|---|---|"]
        for c in CLASSES:
            th = thesis.get(c)
            lines.append(f"| {c} | {t['per_class_accuracy'][c]:.3f} | {'' if th is None else f'{th:.2f}'} |")
        lines += ["", f"confusion matrix (rows true, columns predicted; {', '.join(CLASSES)}): "
                      f"{t.get('confusion_matrix')}", ""]
        for key, label in (("double_peak_recall_by_separation_kms", "double-peak recall by peak separation"),
                           ("test_accuracy_by_input_snr", "accuracy by input S/N"),
                           ("per_class_accuracy_by_instrument", "per-class accuracy by rendering"),
                           ("absorption_accuracy_by_group", "absorption accuracy by spectral group"),
                           ("trust", "trust")):
            if key in metrics:
                lines.append(f"{label}: {metrics[key]}")
        if "real_files" in metrics:
            lines += ["", "| file | expected | class (thesis path) | p | domain score |",
                      "|---|---|---|---|---|"]
            for k, v in metrics["real_files"].items():
                if k.startswith("_"):
                    continue
                lines.append(f"| {k} | {v['expected']} | {v['class']} | {max(v['probabilities'].values()):.3f} | "
                             f"{v['domain_score']:.2f}{' (OOD)' if v['out_of_domain'] else ''} |")
            lines.append(f"\n{metrics['real_files']['_summary']}")
        return lines
