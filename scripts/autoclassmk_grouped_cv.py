"""AutoClassMK on stars it has not seen: grouped cross-validation by star, with bootstrap intervals.

    python scripts/autoclassmk_grouped_cv.py                  # the documented run (~30 min on 2 cores), prints the tables
    python scripts/autoclassmk_grouped_cv.py --record         # ... and writes docs/results/autoclassmk_grouped_cv.json
                                                              # (rendered into docs/autoclassmk.md) and the plot
    python scripts/autoclassmk_grouped_cv.py --quick          # a few minutes: checks the script, numbers meaningless

Why.  libr18_27, the paper's test atlas, holds the same standard stars as the
training atlas libr18 at a lower resolution, so the paper's protocol (and the
card's 0.927) measures how well the network recognizes its own training stars
observed differently.  Here whole stars are held out
(:mod:`zoo.families.autoclassmk.grouped_cv`: 5 folds, the two stars of a cell in
different folds, every spectral class keeps stars in training).  For each
fold a network is trained on the libr18 stars of the other folds and tested on

- **B: the libr18_27 spectra of its held-out stars** (the paper's test
  protocol, 30 augmentations per spectrum, restricted to stars the network has
  not seen: the closest answer to "what would the paper's number be for new
  stars?"; it also carries libr18_27's lower resolution, as the paper's test
  does), and
- **A: the libr18 spectra of its held-out stars** (30 augmentations each with
  the paper's perturbations): new stars at the training resolution.

Training on the lower-resolution libr18_27 stars instead would test on the
higher-resolution ones, the reverse of real use; it is not done.

The reduced recipe (documented; the paper's 250 epochs of plain SGD take
~21 min per run on 2 free cores, far more on shared ones, and five folds
need five runs plus a reference): the paper's network (Table 3, N(0, 0.1)
initialization), loss (2 CE_SC + CE_LC)/3 and Sec. II augmentation, but 50
augmentations per star instead of 300, batch 100 instead of 200, Adam at
3e-4 (halved every 16 epochs) instead of SGD at 0.01, and early stopping on the
validation loss (patience 8, min_delta 1e-3; fresh augmentations of the
*training* stars, never a held-out star; best weights restored) within a cap of
200 epochs that it does not reach (the first version capped every run at 32
epochs, where all of them were still improving; its figures are in git history).  Plain SGD at the paper's rate needs ~11k steps to reach a
validation SC accuracy of 0.86; this recipe is chosen to get there within a
few thousand.  A reference network trained with the same reduced recipe on
all stars is scored on the same spectra: seen versus unseen stars with
everything else equal, and its paper-protocol accuracy says how far the
reduced recipe is from the exported model.

Scoring.  Every accuracy comes with a 95 % percentile-bootstrap interval over
*stars* (2000 resamples; a star's 30 copies are not independent test cases).
A held-out star that is the only one of its cell (spectral x luminosity class)
leaves that cell empty in training; its exact subclass was never shown to the
network, so those stars are scored with the tolerance of one class step
(both numbers are printed).  "Beats the paper" is claimed only where the
interval's lower end lies above the paper's Table 1 value.  The intervals
cover the choice of stars, not the training seed.

Outputs: ``runs/autoclassmk_grouped_cv/`` (per-fold predictions, cached under a hash of the
recipe, seed and folds: a rerun of the same command skips finished folds; ``results.json``; ``tables.md``), the plot
``docs/img/autoclassmk_grouped_cv.png`` and, with ``--record``, ``docs/results/autoclassmk_grouped_cv.json``
(inputs, recipe, machine, load, duration, every score), which ``evaluation/autoclassmk.py`` renders
into docs/autoclassmk.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

from zoo.families.autoclassmk.grouped_cv import (bootstrap_accuracy, bootstrap_difference, single_star_cells,  # noqa: E402
                                        star_folds)

HEADS = ("spectral_class", "luminosity_class")
PAPER = {"spectral_class": 0.88, "luminosity_class": 0.97}   # Short (2026) Table 1 accuracies
IMG = os.path.join(REPO, "docs", "img", "autoclassmk_grouped_cv.png")
RESULTS = os.path.join(REPO, "docs", "results", "autoclassmk_grouped_cv.json")
#: Seeds of the fixed test augmentations (no training run uses them).
TEST_A_SEED = 9001


def log(*a):
    print(*a, flush=True)


# ----------------------------------------------------------------------------- data
def load_data(test_variants: int, seed: int = 0):
    """Card, pruned libr18, the paper-protocol test set B (exactly the card's: the training
    module's builder, seed 0) and test set A (libr18 stars, paper perturbations, fixed seed)."""
    from training.autoclassmk import build_datasets
    from zoo.families.autoclassmk.augment import AugmentConfig, augment_dataset
    from zoo.registry import get_entry
    card = get_entry("autoclassmk").card()
    sets, libr18, libr18_27, _ = build_datasets(card, 0, 0, test_variants, seed)
    classes = {h: list(card.output(h).classes) for h in HEADS}

    def labels(atlas):
        return {"spectral_class": np.array([classes["spectral_class"].index(t) for t in atlas.spectral_type]),
                "luminosity_class": np.array([classes["luminosity_class"].index(t) for t in atlas.luminosity_class])}
    wave = card.input.wavelength()
    xa, ya, srca = augment_dataset(libr18.flux, labels(libr18), wave, test_variants, TEST_A_SEED,
                                   AugmentConfig.paper(), libr18.mask, card.input.fill_value, shuffle=False)
    B = {"x": sets["test"]["x"], "y": sets["test"]["y"], "star": np.array(libr18_27.files)[sets["test"]["source"]]}
    A = {"x": xa, "y": ya, "star": np.array(libr18.files)[srca]}
    return card, classes, labels, libr18, libr18_27, {"A": A, "B": B}


# ----------------------------------------------------------------------------- training
def reduced_recipe(args) -> dict:
    return {"variants": args.variants, "val_variants": args.val_variants, "epochs": args.epochs,
            "patience": args.patience, "min_delta": args.min_delta, "learning_rate": args.lr,
            "lr_halving_every": args.halving, "optimizer": args.optimizer, "momentum": args.momentum,
            "batch_size": args.batch,
            "head_weights": [2.0, 1.0], "augmentation": "the paper's (Sec. II)"}


def train(atlas, labels, card, recipe: dict, seed: int, model_name: str = "autoclassmk", build=None,
          verbose: bool = True):
    """Train the registered network on ``atlas`` (its stars only) with the reduced recipe.

    Returns ``(model, info)``; the weights are those of the best validation loss.
    ``build(seed)`` overrides how the network is built (default: the registered factory).
    """
    import keras

    from training.common import set_determinism, step_decay
    from zoo.families.autoclassmk.augment import AugmentConfig, augment_dataset
    from zoo.registry import get_entry
    set_determinism(seed)
    wave, fill = card.input.wavelength(), card.input.fill_value
    aug = AugmentConfig.paper()
    lab = labels(atlas)
    x, y, _ = augment_dataset(atlas.flux, lab, wave, recipe["variants"], 1000 + seed, aug, atlas.mask, fill)
    xv, yv, _ = augment_dataset(atlas.flux, lab, wave, recipe["val_variants"], 2000 + seed, aug, atlas.mask, fill)
    if build is None:
        model = get_entry(model_name).build(n_spectral=len(card.output("spectral_class").classes),
                                            n_luminosity=len(card.output("luminosity_class").classes), seed=seed)
    else:
        model = build(seed)
    w_sc, w_lc = recipe["head_weights"]
    if recipe["optimizer"] == "adam":
        opt = keras.optimizers.Adam(learning_rate=recipe["learning_rate"])
    else:
        opt = keras.optimizers.SGD(learning_rate=recipe["learning_rate"], momentum=recipe["momentum"])
    model.compile(optimizer=opt,
                  loss={h: "sparse_categorical_crossentropy" for h in HEADS},
                  loss_weights={"spectral_class": w_sc / (w_sc + w_lc), "luminosity_class": w_lc / (w_sc + w_lc)},
                  metrics={h: ["accuracy"] for h in HEADS})

    class Best(keras.callbacks.Callback):
        best, best_epoch, wait, weights = np.inf, -1, 0, None

        def on_epoch_end(self, epoch, logs=None):
            v = logs["val_loss"]
            if verbose:
                log(f"  epoch {epoch + 1}: loss {logs['loss']:.4f} val_loss {v:.4f} val SC "
                    f"{logs['val_spectral_class_accuracy']:.3f} LC {logs['val_luminosity_class_accuracy']:.3f}")
            if v < self.best - recipe["min_delta"]:
                self.best, self.best_epoch, self.wait, self.weights = v, epoch, 0, self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= recipe["patience"]:
                    self.model.stop_training = True
    best = Best()
    sched = keras.callbacks.LearningRateScheduler(step_decay(recipe["learning_rate"], 0.5, recipe["lr_halving_every"]))
    t0 = time.time()
    hist = model.fit(x, y, batch_size=recipe["batch_size"], epochs=recipe["epochs"], validation_data=(xv, yv),
                     shuffle=True, callbacks=[sched, best], verbose=0)
    model.set_weights(best.weights)
    h = hist.history
    e = best.best_epoch
    info = {"epochs_run": len(h["loss"]), "best_epoch": e + 1, "val_loss": float(h["val_loss"][e]),
            "val_sc_acc": float(h["val_spectral_class_accuracy"][e]),
            "val_lc_acc": float(h["val_luminosity_class_accuracy"][e]), "train_s": round(time.time() - t0, 1),
            "n_train": int(len(x)), "n_val": int(len(xv)),
            "history": {k: [float(v) for v in vs] for k, vs in h.items()}}
    return model, info


def same_star_counts(libr18, libr18_27) -> list[str]:
    """How often the nearest libr18 spectrum (Euclidean, unperturbed, missing pixels filled with
    the continuum) of a libr18_27 spectrum is the same star (same file name)."""
    from zoo.families.autoclassmk.trust import gaussian_smooth
    from zoo.preprocess import fill_missing
    a = fill_missing(libr18.flux, libr18.mask, 1.0)
    b = fill_missing(libr18_27.flux, libr18_27.mask, 1.0)
    lines = []
    for what, aa in (("libr18 as is", a), ("libr18 broadened by 1.5 px (libr18_27's resolution)",
                                           gaussian_smooth(a, 1.5))):
        d = (b ** 2).sum(1)[:, None] - 2.0 * b @ aa.T + (aa ** 2).sum(1)[None]
        same = np.array(libr18.files)[d.argmin(1)] == np.array(libr18_27.files)
        lines.append(f"nearest neighbour among {what}: the same star for {same.sum()} of {len(same)} "
                     "libr18_27 spectra")
    return lines


def chi2_predict(x, atlas, gain: float = 5000.0):
    from training.autoclassmk import chi2_template_baseline
    return chi2_template_baseline(x, atlas, 1.0, gain)


# ----------------------------------------------------------------------------- one run
def run_fold(fold, folds, ctx, args):
    """Train on the stars outside ``fold`` (all stars for fold -1, the reference) and predict
    every test spectrum of its held-out stars (the reference: every test spectrum)."""
    import hashlib
    key = hashlib.sha256(json.dumps([reduced_recipe(args), args.seed, args.folds, args.test_variants],
                                    sort_keys=True).encode()).hexdigest()[:10]
    path = os.path.join(args.out, ("reference" if fold < 0 else f"fold_{fold}") + f"_{key}.npz")
    if os.path.exists(path) and not args.retrain:
        d = np.load(path)                                   # numbers and strings only: no pickle
        log(f"fold {fold}: cached ({path})")
        return {k: d[k] for k in d.files}
    libr18, card, labels = ctx["libr18"], ctx["card"], ctx["labels"]
    held = np.zeros(len(libr18), bool) if fold < 0 else folds == fold
    train_atlas = libr18.subset(~held)
    held_stars = set(np.array(libr18.files)[held])
    assert not held_stars & set(train_atlas.files)
    model, info = train(train_atlas, labels, card, reduced_recipe(args), args.seed)
    out = {"info": np.array(json.dumps(info))}
    names = {h: np.array(ctx["classes"][h]) for h in HEADS}
    for key, t in ctx["tests"].items():
        rows = np.ones(len(t["star"]), bool) if fold < 0 else np.isin(t["star"], sorted(held_stars))
        x = t["x"][rows]
        probs = model.predict(x, batch_size=2048, verbose=0) if rows.any() else {h: np.zeros((0, 1)) for h in HEADS}
        base = chi2_predict(x, train_atlas) if rows.any() else {h: np.array([]) for h in HEADS}
        out[f"{key}_rows"] = np.flatnonzero(rows)
        for h in HEADS:
            out[f"{key}_{h}"] = names[h][np.argmax(probs[h], 1)] if rows.any() else np.array([], str)
            out[f"{key}_{h}_chi2"] = np.asarray(base[h]).astype(str)
    np.savez(path, **out)
    log(f"fold {fold}: {len(train_atlas)} training stars, {len(held_stars)} held out; best epoch "
        f"{info['best_epoch']}/{info['epochs_run']}, val SC {info['val_sc_acc']:.3f} LC {info['val_lc_acc']:.3f}, "
        f"{info['train_s']:.0f} s")
    return out


# ----------------------------------------------------------------------------- scoring
def class_step(pred, true, order):
    idx = {c: i for i, c in enumerate(order)}
    return np.abs(np.array([idx[c] for c in pred]) - np.array([idx[c] for c in true]))


def score_rows(star, true, pred, order, n_boot, mask=None, tol=0):
    """Bootstrap accuracy over stars; SC with ``tol`` class steps of tolerance."""
    ok = (class_step(pred, true, order) <= tol) if tol else (np.asarray(pred) == np.asarray(true))
    if mask is not None:
        star, ok = star[mask], ok[mask]
    return bootstrap_accuracy(star, ok, n_boot=n_boot, seed=1)


def evaluate(ctx, runs, args):
    """Pool the folds and score: per test set, model, group."""
    classes, tests, libr18 = ctx["classes"], ctx["tests"], ctx["libr18"]
    sc_order = classes["spectral_class"]
    single = dict(zip(libr18.files, single_star_cells(libr18.spectral_type, libr18.luminosity_class)))
    res = {}
    for key, t in tests.items():
        true = {h: np.array(classes[h])[t["y"][h]] for h in HEADS}
        pooled = {who: {h: np.full(len(t["star"]), "", dtype=object) for h in HEADS} for who in ("cv", "cv_chi2")}
        for fold, r in runs.items():
            if fold < 0:
                continue
            rows = r[f"{key}_rows"]
            for h in HEADS:
                pooled["cv"][h][rows] = r[f"{key}_{h}"]
                pooled["cv_chi2"][h][rows] = r[f"{key}_{h}_chi2"]
        ref = runs[-1]
        full = {h: np.full(len(t["star"]), "", dtype=object) for h in HEADS}
        for h in HEADS:
            full[h][ref[f"{key}_rows"]] = ref[f"{key}_{h}"]
        preds = {"unseen: grouped CV, network": pooled["cv"],
                 "unseen: grouped CV, chi2 (training stars)": pooled["cv_chi2"],
                 "seen: reference network (all stars)": full}
        have = np.array([p != "" for p in pooled["cv"]["spectral_class"]])
        star = t["star"]
        one = np.array([single.get(s, False) for s in star])
        out = {}
        for who, p in preds.items():
            sel = have
            out[who] = {
                "SC exact, all stars": score_rows(star, true["spectral_class"], p["spectral_class"], sc_order,
                                                  args.boot, sel),
                "SC within 1 step, all stars": score_rows(star, true["spectral_class"], p["spectral_class"], sc_order,
                                                          args.boot, sel, tol=1),
                "SC exact, stars of two-star cells": score_rows(star, true["spectral_class"], p["spectral_class"],
                                                                sc_order, args.boot, sel & ~one),
                "SC within 1 step, stars of single-star cells": score_rows(
                    star, true["spectral_class"], p["spectral_class"], sc_order, args.boot, sel & one, tol=1),
                "SC exact, stars of single-star cells": score_rows(star, true["spectral_class"], p["spectral_class"],
                                                                   sc_order, args.boot, sel & one),
                "LC, all stars": score_rows(star, true["luminosity_class"], p["luminosity_class"], sc_order,
                                            args.boot, sel),
            }
        diffs = {}
        for h in HEADS:
            a = pooled["cv"][h][have] == true[h][have]
            b = pooled["cv_chi2"][h][have] == true[h][have]
            c = full[h][have] == true[h][have]
            diffs[f"{h}: network - chi2 (unseen)"] = bootstrap_difference(star[have], a, b, args.boot, seed=2)
            diffs[f"{h}: seen - unseen (network)"] = bootstrap_difference(star[have], c, a, args.boot, seed=3)
        res[key] = {"scores": out, "differences": diffs, "n_single_star_cell_stars": int(len(set(star[have & one]))),
                    "n_stars": int(len(set(star[have])))}
    return res


def evaluate_exported(ctx, args):
    """The published paper-protocol numbers (test set B, all stars: seen) with intervals."""
    import zoo
    from training.autoclassmk import chi2_template_baseline
    t = ctx["tests"]["B"]
    classes = ctx["classes"]
    true = {h: np.array(classes[h])[t["y"][h]] for h in HEADS}
    rows = {}
    for name in ("autoclassmk", "autoclassmk_broad"):
        m = zoo.load_model(name, backend="onnx")
        probs = m.predict_proba(t["x"])
        rows[f"exported {name}"] = {h: np.array(classes[h])[np.argmax(probs[h], 1)] for h in HEADS}
    rows["chi2 nearest libr18 standard (all stars)"] = {
        h: np.asarray(v).astype(str) for h, v in chi2_template_baseline(t["x"], ctx["libr18"], 1.0, 5000.0).items()}
    ref = ctx["runs"][-1]
    rows["reduced recipe, reference (all stars)"] = {h: ref[f"B_{h}"] for h in HEADS}
    out = {}
    for who, p in rows.items():
        out[who] = {"SC exact": score_rows(t["star"], true["spectral_class"], p["spectral_class"],
                                           classes["spectral_class"], args.boot),
                    "SC within 1 step": score_rows(t["star"], true["spectral_class"], p["spectral_class"],
                                                   classes["spectral_class"], args.boot, tol=1),
                    "LC": score_rows(t["star"], true["luminosity_class"], p["luminosity_class"],
                                     classes["spectral_class"], args.boot)}
    return out


# ----------------------------------------------------------------------------- report
def plot(results, published, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    entries = []   # (label, result, head)
    for who, r in published.items():
        entries.append((f"seen, {who}", r["SC exact"], r["LC"]))
    for key in ("B", "A"):
        s = results[key]["scores"]
        for who in s:
            if who.startswith("seen"):
                continue
            tag = "libr18_27" if key == "B" else "libr18"
            entries.append((f"{who.replace('unseen: grouped CV, ', 'unseen, ')} [{tag}]", s[who]["SC exact, all stars"],
                            s[who]["LC, all stars"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.42 * len(entries) + 1.6), sharey=True)
    y = np.arange(len(entries))[::-1]
    for ax, j, head in ((axes[0], 1, "spectral_class"), (axes[1], 2, "luminosity_class")):
        for yi, e in zip(y, entries):
            r = e[j]
            col = "C0" if e[0].startswith("seen") else "C3"
            ax.errorbar(r["acc"], yi, xerr=[[r["acc"] - r["lo"]], [r["hi"] - r["acc"]]], fmt="o", color=col, capsize=3)
        ax.axvline(PAPER[head], color="k", ls="--", lw=1)
        ax.set_title(f"{'SC exact' if j == 1 else 'LC'} accuracy, 95 % bootstrap over stars\n"
                     f"(dashed: paper Table 1, {PAPER[head]})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_yticks(y, [e[0] for e in entries], fontsize=8)
    fig.suptitle("AutoClassMK: stars seen in training (blue) vs held out by grouped cross-validation "
                 "(red; reduced recipe)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and of training")
    p.add_argument("--epochs", type=int, default=200, help="most epochs per run (early stopping ends them first)")
    p.add_argument("--halving", type=int, default=16, help="halve the learning rate every N epochs")
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--min-delta", type=float, default=1e-3)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (--optimizer sgd)")
    p.add_argument("--variants", type=int, default=50, help="training augmentations per star")
    p.add_argument("--val-variants", type=int, default=5)
    p.add_argument("--test-variants", type=int, default=30)
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--only", type=int, nargs="*", default=None, help="run only these folds (-1: the reference)")
    p.add_argument("--retrain", action="store_true", help="ignore the per-fold cache")
    p.add_argument("--out", default=os.path.join(REPO, "runs", "autoclassmk_grouped_cv"))
    p.add_argument("--record", action="store_true",
                   help="write docs/results/autoclassmk_grouped_cv.json (rendered into docs/autoclassmk.md) and the plot")
    p.add_argument("--quick", action="store_true", help="tiny run to check the script (own output folder)")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.variants, args.val_variants, args.test_variants, args.boot = 2, 5, 2, 2, 200
        args.out = args.out + "_quick"
        args.record = False
    os.makedirs(args.out, exist_ok=True)
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)
    from evaluation.autoclassmk import grouped_cv_markdown
    from training.common import recorded_result, write_json
    card, classes, labels, libr18, libr18_27, tests = load_data(args.test_variants)
    folds = star_folds(libr18.spectral_type, libr18.luminosity_class, args.folds, args.seed)
    with open(os.path.join(args.out, "folds.json"), "w") as fh:
        json.dump({f: int(k) for f, k in zip(libr18.files, folds)}, fh, indent=0)
    ctx = {"card": card, "classes": classes, "labels": labels, "libr18": libr18, "tests": tests}
    todo = [-1] + list(range(args.folds)) if args.only is None else args.only
    runs = {f: run_fold(f, folds, ctx, args) for f in todo}
    if args.only is not None and set(runs) != {-1, *range(args.folds)}:
        log("partial run (--only): no tables")
        return
    ctx["runs"] = runs
    results = evaluate(ctx, runs, args)
    published = evaluate_exported(ctx, args)
    info = {str(f): {k: v for k, v in json.loads(str(runs[f]["info"])).items() if k != "history"}   # curves: runs/
            for f in sorted(runs)}
    cmd = "python scripts/autoclassmk_grouped_cv.py " + " ".join(sys.argv[1:] if argv is None else argv)
    res = recorded_result(cmd.strip(), t0, load0, {
        "experiment": "autoclassmk_grouped_cv", "folds": args.folds, "seed": args.seed,
        "test_variants": args.test_variants, "boot": args.boot, "paper_table1": PAPER,
        "recipe": reduced_recipe(args), "same_star": same_star_counts(libr18, libr18_27),
        "grouped_cv": results, "paper_protocol": published, "runs": info})
    body = grouped_cv_markdown(res)
    print(body)
    with open(os.path.join(args.out, "tables.md"), "w") as fh:
        fh.write(body + "\n")
    write_json(res, os.path.join(args.out, "results.json"))
    if args.record:
        write_json(res, RESULTS)
        plot(results, published, IMG)
        log(f"wrote {os.path.relpath(RESULTS, REPO)} and {os.path.relpath(IMG, REPO)}")
    else:
        plot(results, published, os.path.join(args.out, "autoclassmk_grouped_cv.png"))

if __name__ == "__main__":
    main()
