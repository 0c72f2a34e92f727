"""Train, evaluate and export AutoClassMK (Short 2026) from the bundled MK atlases.

    python -m training.autoclassmk            # the paper's recipe, then evaluate + export
    python -m training.autoclassmk --quick    # smoke run of about a minute
    python -m training.autoclassmk --model autoclassmk_broad   # a registered variant
    python -m training.autoclassmk --evaluate # score the exported model (paper's Table 1 protocol)
    python -m training.autoclassmk --help     # every recipe field, with its default

Data (Sec. II): libr18 pruned to spectral classes that have I, III and V,
augmented for training (stored shuffled); a separate draw of libr18
augmentations for validation (never libr18_27); augmentations of each
libr18_27 spectrum of a trained class as the test set (libr18_27 holds the
same standard stars as libr18 at a lower resolution: this protocol measures
recognition of the training stars; ``scripts/autoclassmk_grouped_cv.py``
measures stars the network has not seen).  Training (Sec. III): SGD with a
step-halving learning rate, CE_TOTAL a weighted mean of CE_SC and CE_LC.
Ours, not the paper's: the best checkpoint on our validation set (libr18
augmentations) is kept — the paper monitors its test set — and TensorBoard
logs are written.  Every number (epochs,
batch, learning rate and its halving, head weights, augmentation counts and
widths, the early-stopping probe) is in ``zoo/families/autoclassmk/recipes.py``; the
run itself is :mod:`training.skeleton`.
"""
from __future__ import annotations

from training.skeleton import Task, main  # (sets the TF environment first)
from training.common import (classification_summary, early_stopping_probe, plot_confusion, plot_history,
                             step_decay)

import numpy as np  # noqa: E402

from zoo.families.autoclassmk.paper import TABLE1 as PAPER_TABLE1  # noqa: E402  (the paper's results)

HEADS = ("spectral_class", "luminosity_class")
#: Real libr18_27 spectra exported as test_data_set_0.
N_EXPORT_SPECTRA = 8


# ----------------------------------------------------------------------------- data
def build_datasets(card, n_train: int, n_val: int, n_test: int, seed: int = 0, config=None):
    """Augmented train / validation (libr18) and test (libr18_27) sets on the card's grid:
    ``n_train``, ``n_val``, ``n_test`` augmentations per spectrum.

    ``config`` (an ``AugmentConfig``) perturbs train and validation; the test
    set always uses the paper's perturbations (the registered ``autoclassmk``
    recipe, Sec. II), so every variant is scored on one protocol.
    """
    from zoo.families.autoclassmk.atlas import load_atlas, prune_complete
    from zoo.families.autoclassmk.augment import AugmentConfig, augment_dataset
    paper = AugmentConfig.paper()
    config = config or paper
    classes = {h: card.output(h).classes for h in HEADS}
    wave = card.input.wavelength()
    train_atlas = prune_complete(load_atlas("libr18"))
    test_atlas = load_atlas("libr18_27")
    test_atlas = test_atlas.subset(np.isin(test_atlas.spectral_type, classes["spectral_class"]),
                                   reason="spectral class not in the training label set")

    def labels(atlas):
        return {"spectral_class": np.array([classes["spectral_class"].index(t) for t in atlas.spectral_type]),
                "luminosity_class": np.array([classes["luminosity_class"].index(t)
                                              for t in atlas.luminosity_class])}

    fill = card.input.fill_value
    sets = {}
    for name, atlas, n, s in (("train", train_atlas, n_train, seed), ("val", train_atlas, n_val, seed + 1),
                              ("test", test_atlas, n_test, seed + 2)):
        cfg = paper if name == "test" else config
        x, y, src = augment_dataset(atlas.flux, labels(atlas), wave, n, s, cfg, atlas.mask, fill)
        sets[name] = {"x": x, "y": y, "source": src}
    return sets, train_atlas, test_atlas, config


# ----------------------------------------------------------------------------- baseline
def chi2_template_baseline(x, atlas, fill_value: float, gain: float) -> dict:
    """Nearest libr18 standard by chi^2 (MKCLASS-style matching), Poisson weights 1/sigma^2 = gain/f."""
    from zoo.preprocess import fill_missing
    t = fill_missing(atlas.flux, atlas.mask, fill_value)
    w = gain / np.clip(t, 0.05, None)                       # inverse Poisson variance of the template
    x = np.asarray(x, float)
    chi2 = (x ** 2) @ w.T - 2.0 * x @ (t * w).T + np.sum(t ** 2 * w, axis=1)
    best = np.argmin(chi2, axis=1)
    return {"spectral_class": atlas.spectral_type[best], "luminosity_class": atlas.luminosity_class[best]}


# ----------------------------------------------------------------------------- plots
def plot_sc_per_lc(true_sc, pred_sc, true_lc, sc_classes, lc_classes, path, title):
    """Predicted vs true spectral class, one panel per luminosity class (paper Fig. 5)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(lc_classes), figsize=(13, 4.4), sharey=True)
    idx = {c: i for i, c in enumerate(sc_classes)}
    for ax, lc in zip(axes, lc_classes):
        sel = true_lc == lc
        t = np.array([idx[c] for c in true_sc[sel]])
        p = np.array([idx[c] for c in pred_sc[sel]])
        pairs, counts = np.unique(np.stack([t, p]), axis=1, return_counts=True)
        ax.plot([0, len(sc_classes) - 1], [0, len(sc_classes) - 1], color="0.8", lw=1)
        ax.scatter(pairs[0], pairs[1], s=4 + counts * 2, alpha=0.6)
        acc = float(np.mean(t == p)) if t.size else float("nan")
        ax.set_title(f"LC {lc}: {sel.sum()} spectra, accuracy {acc:.3f}", fontsize=9)
        ticks = range(0, len(sc_classes), 2)
        ax.set_xticks(list(ticks), [sc_classes[i] for i in ticks], rotation=90, fontsize=7)
        ax.set_yticks(list(ticks), [sc_classes[i] for i in ticks], fontsize=7)
        ax.set_xlabel("true spectral class")
    axes[0].set_ylabel("predicted spectral class")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- scoring
def class_names(card) -> dict:
    return {h: np.asarray(card.output(h).classes) for h in HEADS}


def score(probs: dict, y: dict, names: dict) -> dict:
    """Accuracy, macro P/R/F1 and the text report per head, from probabilities."""
    return {h: classification_summary(names[h][y[h]], names[h][np.argmax(probs[h], 1)], list(names[h]))
            for h in HEADS}


def baselines(probs: dict, test: dict, train_atlas, card, gain: float, label: str) -> dict:
    """The chi^2 template baseline on the same test set, and how often the spectral class is
    right to within one class step (MK types are ordered), for the model and the baseline."""
    names = class_names(card)
    base = chi2_template_baseline(test["x"], train_atlas, card.input.fill_value, gain)
    out = {"chi2_baseline": {h: classification_summary(names[h][test["y"][h]], base[h], list(names[h]))
                             for h in HEADS}}
    order = {c: i for i, c in enumerate(names["spectral_class"])}
    true_i = test["y"]["spectral_class"]
    within = {}
    for who, pred in ((label, names["spectral_class"][np.argmax(probs["spectral_class"], 1)]),
                      ("chi2 baseline", base["spectral_class"])):
        within[who] = float(np.mean(np.abs(np.array([order[c] for c in pred]) - true_i) <= 1))
    out["sc_within_one_class"] = within
    return out


def report_lines(model_name: str, n_test: int, results: dict) -> list[str]:
    """Table 1 of the paper beside ours and the chi^2 baseline, plus classification reports."""
    lines = [f"AutoClassMK ({model_name}) on the augmented libr18_27 test set ({n_test} spectra)", "",
             f"{'':34s}{'SC acc':>8s}{'SC F1':>8s}{'LC acc':>8s}{'LC F1':>8s}"]

    def row(label, r):
        return (f"{label:34s}{r['spectral_class']['accuracy']:8.3f}{r['spectral_class']['macro_f1']:8.3f}"
                f"{r['luminosity_class']['accuracy']:8.3f}{r['luminosity_class']['macro_f1']:8.3f}")
    lines.append(row("paper Table 1", PAPER_TABLE1))
    for key, label in (("best_checkpoint", "this model"), ("exported", "exported model")):
        if key in results:
            ep = results[key].get("epoch")
            lines.append(row(f"{label}" + (f" (best ckpt, epoch {ep})" if ep else ""), results[key]))
    es = results.get("early_stopping", {})
    if "spectral_class" in es:
        lines.append(row(f"early stopping (stops at ep {es['would_stop_at_epoch']})", es))
    lines.append(row("chi2 nearest libr18 standard", results["chi2_baseline"]))
    for who, v in results.get("sc_within_one_class", {}).items():
        lines.append(f"spectral class within +-1 class step, {who}: {v:.3f}")
    main_key = "best_checkpoint" if "best_checkpoint" in results else "exported"
    for h in HEADS:
        lines += ["", f"classification_report, {h}:", results[main_key][h]["report"]]
    return lines


# ----------------------------------------------------------------------------- the task
class AutoClassMK(Task):
    name = "autoclassmk"
    quick = {"epochs": 3, "variants": 20, "val_variants": 5, "test_variants": 5}
    aliases = {"lr_halving_every": ("--lr-halving",)}

    def data(self, recipe, ctx):
        from zoo.families.autoclassmk.augment import AugmentConfig
        card = ctx.entry.card()
        sets, train_atlas, test_atlas, aug = build_datasets(
            card, recipe.variants, recipe.val_variants, recipe.test_variants, recipe.seed,
            AugmentConfig(**recipe.augmentation()))
        ctx.log(f"data: train {len(sets['train']['x'])}, val {len(sets['val']['x'])}, "
                f"test {len(sets['test']['x'])} spectra "
                f"(libr18 kept {len(train_atlas)} in {len(train_atlas.spectral_classes)} spectral classes)")
        ctx.data_info.update({"n": {k: len(v["x"]) for k, v in sets.items()}, "augmentation": aug.to_dict(),
                              "dropped": train_atlas.dropped, "kept_libr18": train_atlas.files,
                              "test_libr18_27": test_atlas.files})
        return {"card": card, "sets": sets, "train_atlas": train_atlas, "test_atlas": test_atlas, "aug": aug}

    def build(self, recipe, ctx):
        card = ctx.entry.card()
        return ctx.entry.build(**{**ctx.arch_args, "n_spectral": len(card.output("spectral_class").classes),
                                  "n_luminosity": len(card.output("luminosity_class").classes),
                                  "seed": recipe.seed})

    def fit(self, model, data, recipe, ctx):
        import keras
        sets = data["sets"]
        w_sc, w_lc = recipe.head_weights
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=recipe.learning_rate, momentum=recipe.momentum),
                      loss={h: "sparse_categorical_crossentropy" for h in HEADS},
                      loss_weights={"spectral_class": w_sc / (w_sc + w_lc), "luminosity_class": w_lc / (w_sc + w_lc)},
                      metrics={h: ["accuracy"] for h in HEADS})
        self.probe = early_stopping_probe(monitor="val_loss", patience=recipe.patience,
                                          min_delta=recipe.min_delta, stop=recipe.stop_early)
        cbs = ctx.callbacks(schedule=step_decay(recipe.learning_rate, 0.5, recipe.lr_halving_every)) + [self.probe]
        hist = model.fit(sets["train"]["x"], sets["train"]["y"], batch_size=recipe.batch_size,
                         epochs=recipe.epochs, validation_data=(sets["val"]["x"], sets["val"]["y"]),
                         shuffle=True, callbacks=cbs, verbose=2)
        ctx.load_best(model)     # the best checkpoint on OUR validation set (libr18 augmentations); the paper monitors its test set
        ctx.run_info.update(epochs_run=len(hist.history["loss"]),
                            best_epoch=int(np.argmin(hist.history["val_loss"])) + 1)
        return hist.history

    def evaluate(self, model, data, recipe, ctx):
        card, test = data["card"], data["sets"]["test"]
        names = class_names(card)

        def predict():
            return model.predict(test["x"], batch_size=2048, verbose=0)
        self.probs = predict()
        results = {"test_set": f"augmented libr18_27, {len(test['x'])} spectra ({recipe.test_variants} per spectrum)",
                   "n_test": len(test["x"]),
                   "best_checkpoint": {"epoch": ctx.run_info["best_epoch"], **score(self.probs, test["y"], names)}}
        es = self.probe.summary()
        if self.probe.weights_at_stop is not None:
            best = model.get_weights()
            model.set_weights(self.probe.weights_at_stop)
            results["early_stopping"] = {**es, **score(predict(), test["y"], names)}
            model.set_weights(best)
        else:
            results["early_stopping"] = {**es, "note": "validation loss kept improving; never fired"}
        results.update(baselines(self.probs, test, data["train_atlas"], card, data["aug"].gain, "this model"))
        results["paper_table1"] = PAPER_TABLE1
        return results

    def plots(self, model, data, metrics, ctx):
        tag, card, test = ctx.model, data["card"], data["sets"]["test"]
        names = class_names(card)
        plot_history({k: v for k, v in ctx.history.items() if "loss" in k or "accuracy" in k},
                     ctx.path(f"{tag}_curves.png"), f"{tag}: loss and accuracy (Figs. 3-4)",
                     keys=["loss", "spectral_class_accuracy", "luminosity_class_accuracy"])
        pred = {h: names[h][np.argmax(self.probs[h], 1)] for h in HEADS}
        true = {h: names[h][test["y"][h]] for h in HEADS}
        plot_confusion(true["luminosity_class"], pred["luminosity_class"], list(names["luminosity_class"]),
                       ctx.path(f"{tag}_lc_confusion.png"), f"{tag}: luminosity class (Fig. 6)")
        plot_sc_per_lc(true["spectral_class"], pred["spectral_class"], true["luminosity_class"],
                       list(names["spectral_class"]), list(names["luminosity_class"]),
                       ctx.path(f"{tag}_sc_per_lc.png"),
                       f"{tag}: predicted vs true spectral class per luminosity class (Fig. 5)")

    def card_metrics(self, metrics, ctx):
        keys = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
        bc = metrics["best_checkpoint"]
        return {"test_set": metrics["test_set"],
                **{h: {k: bc[h][k] for k in keys} for h in HEADS},
                "chi2_baseline": {h: {k: metrics["chi2_baseline"][h][k] for k in ("accuracy", "macro_f1")}
                                  for h in HEADS},
                "paper_table1": PAPER_TABLE1}

    def export_flux(self, data, ctx):
        """Unperturbed real libr18_27 spectra, filled per the contract."""
        from zoo.preprocess import fill_missing
        atlas, card = data["test_atlas"], data["card"]
        pick = np.linspace(0, len(atlas) - 1, N_EXPORT_SPECTRA).astype(int)
        return fill_missing(atlas.flux[pick], atlas.mask[pick], card.input.fill_value)

    def report(self, metrics, ctx):
        return ["```", *report_lines(ctx.model, metrics["n_test"], metrics), "```"]

    def reproduction(self, card, cache_dir):
        """The card's augmented libr18_27 test set, rebuilt exactly (recipe seed)."""
        return {"sample": False, "flags": []}

    def reproduction_checks(self, card, metrics):
        from training.skeleton import Check, ReproductionError
        n = metrics["n_test"]
        if f"{n} spectra" not in card["metrics"]["test_set"]:
            raise ReproductionError(f"{card['name']}: {n} test spectra rebuilt, the card's test set is "
                                    f"{card['metrics']['test_set']!r}")
        return [Check(f"{card['name']} {head}", metrics["exported"][head]["accuracy"],
                      card["metrics"][head]["accuracy"], n, n) for head in ("spectral_class", "luminosity_class")]

    def evaluate_exported(self, recipe, ctx):
        """Rebuild the test set (same seed) and score the exported model against the paper."""
        from zoo.families.autoclassmk.augment import AugmentConfig
        from zoo.predictor import Predictor
        model = Predictor(ctx.export_dir, backend=ctx.args.backend)
        card = model.card
        sets, train_atlas, _, aug = build_datasets(card, 0, 0, recipe.test_variants, recipe.seed,
                                                   AugmentConfig(**recipe.augmentation()))
        test = sets["test"]
        probs = model.predict_proba(test["x"])
        results = {"test_set": f"augmented libr18_27, {len(test['x'])} spectra ({recipe.test_variants} per spectrum)",
                   "n_test": len(test["x"]),
                   "exported": score(probs, test["y"], class_names(card))}
        results.update(baselines(probs, test, train_atlas, card, aug.gain, "exported model"))
        return results


if __name__ == "__main__":
    main(AutoClassMK)
