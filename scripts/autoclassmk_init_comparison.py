"""Paper initialization N(0, 0.1) vs Keras' default (Glorot) for AutoClassMK (Sec. III.4).

    python -m training.autoclassmk --no-export --out runs/init_normal
    python -m training.autoclassmk --model autoclassmk_kerasinit --no-export --out runs/init_keras
    python scripts/autoclassmk_init_comparison.py runs/init_normal runs/init_keras

Prints validation loss and accuracies at selected epochs from each run's
history.csv, the epoch each first reaches 99 % validation SC accuracy, and
both best checkpoints scored on the augmented libr18_27 test set.
"""
import argparse
import csv
import os

import numpy as np


def history(run):
    with open(os.path.join(run, "history.csv")) as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="training output directories (with history.csv, best.keras)")
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 25, 50, 100, 150, 250])
    args = ap.parse_args()
    import keras
    import zoo
    from training.autoclassmk import HEADS, build_datasets
    from zoo import layers  # noqa: F401
    card = zoo.get_card("autoclassmk", trained=False)
    sets, *_ = build_datasets(card, 0, 0, 30, 0)
    print(f"{'run':36s} {'epoch':>5s} {'val_loss':>9s} {'val SC':>7s} {'val LC':>7s}")
    for run in args.runs:
        h = history(run)
        for e in args.epochs:
            if e <= len(h["val_loss"]):
                print(f"{run:36s} {e:5d} {h['val_loss'][e - 1]:9.4f} "
                      f"{h['val_spectral_class_accuracy'][e - 1]:7.4f} {h['val_luminosity_class_accuracy'][e - 1]:7.4f}")
        reach = np.nonzero(h["val_spectral_class_accuracy"] >= 0.99)[0]
        print(f"{run:36s} first epoch with val SC >= 0.99: {reach[0] + 1 if reach.size else 'never'}")
    print()
    for run in args.runs:
        m = keras.saving.load_model(os.path.join(run, "best.keras"), safe_mode=True, compile=False)
        p = m.predict(sets["test"]["x"], batch_size=2048, verbose=0)
        acc = {h: float(np.mean(np.argmax(p[h], 1) == sets["test"]["y"][h])) for h in HEADS}
        print(f"{run:36s} test (augmented libr18_27): SC acc {acc['spectral_class']:.3f}, "
              f"LC acc {acc['luminosity_class']:.3f}")


if __name__ == "__main__":
    main()
