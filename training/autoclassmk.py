"""Train, evaluate and export AutoClassMK (Short 2026) from the bundled MK atlases.

    python -m training.autoclassmk            # the paper's recipe: 250 epochs, then evaluate + export
    python -m training.autoclassmk --quick    # smoke run of about a minute
    python -m training.autoclassmk --help

Data (Sec. II): libr18 pruned to spectral classes that have I, III and V,
300 augmentations per spectrum for training (stored shuffled); a separate draw
of libr18 augmentations for validation (never libr18_27); 30 augmentations of
each libr18_27 spectrum of a trained class as the test set.
Recipe (Sec. III, Table 2): SGD, batch 200, lr 0.01 halved every 50 epochs,
CE_TOTAL = (2 CE_SC + CE_LC) / 3, best validation checkpoint kept, TensorBoard.
"""
from __future__ import annotations

import os
import time

from training import common  # noqa: F401  (sets TF environment first)
from training.common import (base_parser, classification_summary, early_stopping_probe,
                             machine_description, plot_confusion, plot_history, set_determinism,
                             standard_callbacks, step_decay, write_json, EpochTimer)

import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADS = ("spectral_class", "luminosity_class")
PAPER_TABLE1 = {"spectral_class": {"accuracy": 0.88, "macro_f1": 0.86},
                "luminosity_class": {"accuracy": 0.97, "macro_f1": 0.97}}


# ----------------------------------------------------------------------------- data
def build_datasets(card, n_train: int = 300, n_val: int = 30, n_test: int = 30, seed: int = 0,
                   config=None):
    """Augmented train / validation (libr18) and test (libr18_27) sets on the card's grid.

    ``config`` perturbs train and validation; the test set always uses the
    paper's Sec. II perturbations, so every variant is scored on one protocol.
    """
    from zoo.families.mk.atlas import load_atlas, prune_complete
    from zoo.families.mk.augment import AugmentConfig, augment_dataset
    config = config or AugmentConfig()
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
        cfg = AugmentConfig() if name == "test" else config
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


# ----------------------------------------------------------------------------- report
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
    main_key = "best_checkpoint" if "best_checkpoint" in results else "exported"
    for h in HEADS:
        lines += ["", f"classification_report, {h}:", results[main_key][h]["report"]]
    return lines


def evaluate_exported(args) -> dict:
    """Rebuild the test set (same seed) and score the committed model against the paper."""
    import zoo
    card = zoo.get_card(args.model)
    t0 = time.time()
    sets, train_atlas, _, aug = build_datasets(card, 0, 0, args.test_variants, args.seed)
    model = zoo.load_model(args.model, backend=args.backend)
    probs = model.predict_proba(sets["test"]["x"])
    names = {h: np.asarray(card.output(h).classes) for h in HEADS}
    results = {"exported": {h: classification_summary(names[h][sets["test"]["y"][h]],
                                                      names[h][np.argmax(probs[h], 1)], list(names[h]))
                            for h in HEADS}}
    base = chi2_template_baseline(sets["test"]["x"], train_atlas, card.input.fill_value, aug.gain)
    results["chi2_baseline"] = {h: classification_summary(names[h][sets["test"]["y"][h]], base[h],
                                                          list(names[h])) for h in HEADS}
    lines = report_lines(args.model, len(sets["test"]["x"]), results)
    # MK types are ordered: how often is the spectral class right to within one class step?
    order = {c: i for i, c in enumerate(names["spectral_class"])}
    true_i = sets["test"]["y"]["spectral_class"]
    for label, pred in (("exported model", names["spectral_class"][np.argmax(probs["spectral_class"], 1)]),
                        ("chi2 baseline", base["spectral_class"])):
        within = float(np.mean(np.abs(np.array([order[c] for c in pred]) - true_i) <= 1))
        results.setdefault("sc_within_one_class", {})[label] = within
        lines.append(f"spectral class within +-1 class step, {label}: {within:.3f}")
    lines.append(f"evaluated with backend {args.backend} in {time.time() - t0:.0f} s on {machine_description()}")
    print("\n".join(lines))
    return results


# ----------------------------------------------------------------------------- main
def evaluate(model, sets, card) -> dict:
    probs = model.predict(sets["test"]["x"], batch_size=2048, verbose=0)
    out = {}
    for h in HEADS:
        names = np.asarray(card.output(h).classes)
        out[h] = classification_summary(names[sets["test"]["y"][h]], names[np.argmax(probs[h], 1)],
                                        list(names))
    return out


def main(argv=None):
    p = base_parser(__doc__.split("\n")[0], epochs=250, lr=0.01, batch=200,
                    outdir=os.path.join(REPO, "runs", "autoclassmk"))
    p.add_argument("--model", default="autoclassmk",
                   help="registered variant to train (e.g. autoclassmk_kerasinit)")
    p.add_argument("--lr-halving", type=int, default=50, help="halve the learning rate every N epochs")
    p.add_argument("--head-weights", type=float, nargs=2, default=(2.0, 1.0), metavar=("SC", "LC"),
                   help="weights of CE_SC and CE_LC in CE_TOTAL (normalized to sum 1)")
    p.add_argument("--variants", type=int, default=300, help="augmentations per libr18 spectrum")
    p.add_argument("--val-variants", type=int, default=30, help="held-out libr18 augmentations per spectrum")
    p.add_argument("--test-variants", type=int, default=30, help="augmentations per libr18_27 spectrum")
    p.add_argument("--broadening-sigma", type=float, default=None,
                   help="sigma (px) of the half-normal distribution of broadening kernel widths "
                        "(paper: 0.3; default: the registered variant's recipe)")
    p.add_argument("--patience", type=int, default=20,
                   help="patience of the early-stopping probe (reports when it would stop)")
    p.add_argument("--min-delta", type=float, default=0.0,
                   help="smallest validation-loss decrease that counts as an improvement for the probe")
    p.add_argument("--stop-early", action="store_true",
                   help="let the probe really stop training (default: it only reports)")
    p.add_argument("--docs", action="store_true",
                   help="also write figures and results into docs/ (the committed run)")
    p.add_argument("--evaluate", action="store_true",
                   help="only score the exported model on the test set (paper's Table 1 protocol)")
    p.add_argument("--backend", default="onnx", choices=["keras", "onnx"], help="backend for --evaluate")
    args = p.parse_args(argv)
    if args.evaluate:
        return evaluate_exported(args)
    if args.quick:
        args.epochs, args.variants, args.val_variants, args.test_variants = 3, 20, 5, 5
        common.quick_out(args)
    t_start = time.time()
    set_determinism(args.seed)

    import keras
    import zoo
    from zoo.card import load_preset
    from zoo.export import export_model
    from zoo.preprocess import fill_missing

    from zoo.families.mk.augment import AugmentConfig
    entry = zoo.registry.get_entry(args.model)
    card = load_preset(entry.card).replace(name=args.model)
    aug_overrides = dict(entry.training)
    if args.broadening_sigma is not None:
        aug_overrides["broadening_sigma_px"] = args.broadening_sigma
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    sets, train_atlas, test_atlas, aug = build_datasets(card, args.variants, args.val_variants,
                                                       args.test_variants, args.seed,
                                                       AugmentConfig(**aug_overrides))
    t_data = time.time() - t0
    print(f"data: train {len(sets['train']['x'])}, val {len(sets['val']['x'])}, "
          f"test {len(sets['test']['x'])} spectra in {t_data:.1f} s "
          f"(libr18 kept {len(train_atlas)} in {len(train_atlas.spectral_classes)} spectral classes)")

    model = entry.build(n_spectral=len(card.output("spectral_class").classes),
                        n_luminosity=len(card.output("luminosity_class").classes), seed=args.seed)
    w_sc, w_lc = args.head_weights
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=args.lr),
                  loss={h: "sparse_categorical_crossentropy" for h in HEADS},
                  loss_weights={"spectral_class": w_sc / (w_sc + w_lc), "luminosity_class": w_lc / (w_sc + w_lc)},
                  metrics={h: ["accuracy"] for h in HEADS})
    probe = early_stopping_probe(monitor="val_loss", patience=args.patience, min_delta=args.min_delta,
                                 stop=args.stop_early)
    timer = EpochTimer.make()
    cbs = standard_callbacks(args.out, schedule=step_decay(args.lr, 0.5, args.lr_halving)) + [probe, timer]
    hist = model.fit(sets["train"]["x"], sets["train"]["y"], batch_size=args.batch, epochs=args.epochs,
                     validation_data=(sets["val"]["x"], sets["val"]["y"]), shuffle=True,
                     callbacks=cbs, verbose=2)
    t_train = time.time() - t0 - t_data
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}

    # best validation checkpoint (Sec. V keeps the best model)
    best = keras.saving.load_model(os.path.join(args.out, "best.keras"), safe_mode=True)
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    results = {"best_checkpoint": {"epoch": best_epoch, **evaluate(best, sets, card)}}
    es = probe.summary()
    if probe.weights_at_stop is not None:
        model.set_weights(probe.weights_at_stop)
        results["early_stopping"] = {**es, **evaluate(model, sets, card)}
    else:
        results["early_stopping"] = {**es, "note": "validation loss kept improving; never fired"}

    names = {h: np.asarray(card.output(h).classes) for h in HEADS}
    base = chi2_template_baseline(sets["test"]["x"], train_atlas, card.input.fill_value, aug.gain)
    results["chi2_baseline"] = {h: classification_summary(names[h][sets["test"]["y"][h]], base[h],
                                                          list(names[h])) for h in HEADS}
    results["paper_table1"] = PAPER_TABLE1

    # ---- report
    lines = report_lines(args.model, len(sets["test"]["x"]), results)
    per_epoch = float(np.median(timer.times)) if timer.times else float("nan")
    lines += ["", f"wall time: data {t_data:.0f} s, training {t_train:.0f} s ({per_epoch:.1f} s/epoch, "
                  f"{len(history['loss'])} epochs), total {time.time() - t_start:.0f} s on {machine_description()}"]
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(args.out, "report.txt"), "w") as fh:
        fh.write(report + "\n")
    write_json({"args": vars(args), "results": results, "history": history,
                "augmentation": aug.to_dict(), "dropped": train_atlas.dropped,
                "kept_libr18": train_atlas.files, "test_libr18_27": test_atlas.files,
                "timing_s": {"data": t_data, "train": t_train, "per_epoch_median": per_epoch}},
               os.path.join(args.out, "results.json"))

    fig_dir = os.path.join(REPO, "docs", "img") if args.docs and not args.quick else args.out
    os.makedirs(fig_dir, exist_ok=True)
    tag = args.model
    plot_history({k: v for k, v in history.items() if "loss" in k or "accuracy" in k},
                 os.path.join(fig_dir, f"{tag}_curves.png"), f"{tag}: loss and accuracy (Figs. 3-4)",
                 keys=["loss", "spectral_class_accuracy", "luminosity_class_accuracy"])
    probs = best.predict(sets["test"]["x"], batch_size=2048, verbose=0)
    pred = {h: names[h][np.argmax(probs[h], 1)] for h in HEADS}
    true = {h: names[h][sets["test"]["y"][h]] for h in HEADS}
    plot_confusion(true["luminosity_class"], pred["luminosity_class"], list(names["luminosity_class"]),
                   os.path.join(fig_dir, f"{tag}_lc_confusion.png"), f"{tag}: luminosity class (Fig. 6)")
    plot_sc_per_lc(true["spectral_class"], pred["spectral_class"], true["luminosity_class"],
                   list(names["spectral_class"]), list(names["luminosity_class"]),
                   os.path.join(fig_dir, f"{tag}_sc_per_lc.png"),
                   f"{tag}: predicted vs true spectral class per luminosity class (Fig. 5)")

    if not args.no_export:
        export_dir = common.export_dir(args, args.model)
        # test data for any runtime: unperturbed real libr18_27 spectra, filled per the contract
        pick = np.linspace(0, len(test_atlas) - 1, 8).astype(int)
        test_flux = fill_missing(test_atlas.flux[pick], test_atlas.mask[pick], card.input.fill_value)
        bc = results["best_checkpoint"]
        metrics = {
            "test_set": f"augmented libr18_27, {len(sets['test']['x'])} spectra ({args.test_variants} per spectrum)",
            "spectral_class": {k: bc["spectral_class"][k] for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")},
            "luminosity_class": {k: bc["luminosity_class"][k] for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")},
            "chi2_baseline": {h: {"accuracy": results["chi2_baseline"][h]["accuracy"],
                                  "macro_f1": results["chi2_baseline"][h]["macro_f1"]} for h in HEADS},
            "paper_table1": PAPER_TABLE1,
            "best_epoch": best_epoch,
            "command": "python -m training.autoclassmk " + " ".join(argv or []) if argv is not None else
                       "python -m training.autoclassmk",
            "wall_time_s": round(time.time() - t_start), "machine": machine_description(),
        }
        recipe = {**card.recipe, "learning_rate": args.lr, "epochs": args.epochs, "batch_size": args.batch,
                  "head_weights": [w_sc, w_lc], "seed": args.seed, "variants": args.variants,
                  "init": entry.defaults.get("init")}
        recipe["augmentation_config"] = aug.to_dict()
        if args.model != "autoclassmk":
            card = card.replace(title=f"{card.title} — variant {args.model}: {entry.description}")
        card = card.replace(metrics=metrics, recipe=recipe)
        export_model(best, card, export_dir, test_flux)
        print(f"exported to {export_dir}")
    return results


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
