"""Does giving each AutoClassMK head its own initializer stream change training?  A short check.

    python scripts/autoclassmk_head_seeds.py --record   # 5 seeds x {shared, own} head seeds (~6 min on 2 cores);
                                                        # docs/results/autoclassmk_head_seeds.json, rendered into
                                                        # docs/autoclassmk.md
    python scripts/autoclassmk_head_seeds.py --seeds 0 1 2 --epochs 20   # prints only

Before the fix, the factory gave both heads the seed of the first hidden
layer, so their N(0, 0.1) kernels repeated that layer's first random values
(and each other's).  Now every layer has its own seed (hidden layers seed,
seed + 1, seed + 2; heads seed + 3, seed + 4: ``zoo.families.autoclassmk.models.head_seeds``).
"shared" rebuilds the old initialization exactly (the heads' kernels drawn
with ``RandomNormal(0, 0.1, seed=seed)``), "own" is the registered factory.
Both are trained with the same short recipe on the same data (libr18, all
stars; the reduced recipe of ``scripts/autoclassmk_grouped_cv.py`` with
fewer augmentations and epochs) and compared on the *validation* set only
(fresh libr18 augmentations, never the test atlas): the difference between
the two is set against the spread between seeds.  TensorFlow runs with its oneDNN kernels (the
training recipe's default; seeded, not bitwise reproducible).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import autoclassmk_grouped_cv as CV  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--variants", type=int, default=20)
    p.add_argument("--record", action="store_true", help="write docs/results/autoclassmk_head_seeds.json")
    args = p.parse_args(argv)
    load0 = round(os.getloadavg()[0], 2)
    import keras

    from zoo.families.autoclassmk.atlas import load_atlas, prune_complete
    from zoo.registry import get_entry
    entry = get_entry("autoclassmk")
    card = entry.card()
    classes = {h: list(card.output(h).classes) for h in CV.HEADS}

    def labels(atlas):
        return {"spectral_class": np.array([classes["spectral_class"].index(t) for t in atlas.spectral_type]),
                "luminosity_class": np.array([classes["luminosity_class"].index(t) for t in atlas.luminosity_class])}
    atlas = prune_complete(load_atlas("libr18"))
    recipe = {"variants": args.variants, "val_variants": 5, "epochs": args.epochs, "patience": 10 ** 6,
              "min_delta": 0.0, "learning_rate": 3e-4, "lr_halving_every": 10 ** 6, "optimizer": "adam",
              "momentum": 0.0, "batch_size": 100, "head_weights": [2.0, 1.0]}

    def build(mode):
        def fn(seed):
            m = entry.build(n_spectral=35, n_luminosity=3, seed=seed)
            if mode == "shared":
                for h in CV.HEADS:
                    layer = m.get_layer(h)
                    k, b = layer.get_weights()
                    k = np.asarray(keras.initializers.RandomNormal(0.0, 0.1, seed=seed)(k.shape))
                    layer.set_weights([k, b])
            return m
        return fn

    rows = []
    t0 = time.time()
    for seed in args.seeds:
        for mode in ("shared", "own"):
            _, info = CV.train(atlas, labels, card, recipe, seed, build=build(mode), verbose=False)
            h = info["history"]
            rows.append((seed, mode, h["val_loss"][-1], h["val_spectral_class_accuracy"][-1],
                         h["val_luminosity_class_accuracy"][-1], info["train_s"]))
            print(f"seed {seed} {mode:6s} heads: val_loss {rows[-1][2]:.4f}  val SC {rows[-1][3]:.3f}  "
                  f"val LC {rows[-1][4]:.3f}  ({rows[-1][5]:.0f} s)", flush=True)
    r = np.array([[x[2], x[3], x[4]] for x in rows]).reshape(len(args.seeds), 2, 3)
    diff = r[:, 1] - r[:, 0]
    print()
    print(f"after {args.epochs} epochs ({args.variants} augmentations per star), over {len(args.seeds)} seeds:")
    for j, name in enumerate(("val_loss", "val SC", "val LC")):
        print(f"  {name:8s} shared {r[:, 0, j].mean():.4f} +- {r[:, 0, j].std(ddof=1):.4f}   own "
              f"{r[:, 1, j].mean():.4f} +- {r[:, 1, j].std(ddof=1):.4f}   own - shared per seed "
              f"{' '.join(f'{d:+.4f}' for d in diff[:, j])}")
    print(f"({(time.time() - t0) / 60:.1f} min)")
    if args.record:
        from training.common import recorded_result, write_json
        path = os.path.join(os.path.dirname(HERE), "docs", "results", "autoclassmk_head_seeds.json")
        cmd = "python scripts/autoclassmk_head_seeds.py " + " ".join(sys.argv[1:] if argv is None else argv)
        res = recorded_result(cmd.strip(), t0, load0, {
            "experiment": "autoclassmk_head_seeds", "epochs": args.epochs, "variants": args.variants,
            "seeds": args.seeds, "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "recipe": recipe,
            "runs": [{"seed": x[0], "heads": x[1], "val_loss": x[2], "val_sc": x[3], "val_lc": x[4], "train_s": x[5]}
                     for x in rows]})
        write_json(res, path)
        print(f"wrote {os.path.relpath(path, os.path.dirname(HERE))}")


if __name__ == "__main__":
    main()
