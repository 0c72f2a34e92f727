"""AutoClassMK throughput: inference backends and augmentation, measured in one run.

    python benchmarks/autoclassmk_throughput.py [--n 4096] [--repeats 5]

Prints spectra/s for Keras ``model.predict``, ``predict_on_batch``, a compiled
``tf.function`` and ONNX Runtime on the same batch of real (augmented)
libr18_27 spectra, with ratios against ``model.predict``, and the build time
of the augmented training set (146 x 300 = 43,800 spectra).
Uses the committed model in exported/autoclassmk when present, otherwise an
untrained model exported to a temporary directory (same graph, same cost).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _timing import best_of  # noqa: E402




def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4096, help="spectra per inference call")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import onnxruntime as ort
    import tensorflow as tf

    import zoo
    from training.common import machine_description
    from zoo.families.autoclassmk.atlas import load_atlas, prune_complete
    from zoo.families.autoclassmk.augment import augment_dataset
    from zoo.registry import load_preset
    from zoo.export import export_model
    from zoo.predictor import exported_dir

    card = load_preset("autoclassmk")
    wave = card.input.wavelength()
    train = prune_complete(load_atlas("libr18"))
    t = time.perf_counter()
    x_train, _, _ = augment_dataset(train.flux, {"i": np.arange(len(train))}, wave, 300, 0, mask=train.mask)
    t_aug = time.perf_counter() - t
    test = load_atlas("libr18_27")
    x, _, _ = augment_dataset(test.flux, {"i": np.arange(len(test))}, wave,
                              int(np.ceil(args.n / len(test))), 1, mask=test.mask)
    x = np.ascontiguousarray(x[: args.n])

    d = exported_dir("autoclassmk")
    if not os.path.exists(os.path.join(d, "card.json")):
        d = tempfile.mkdtemp()
        export_model(zoo.create_model("autoclassmk", seed=0), card, d, x[:4], saved_model=False)
        source = "untrained model (no exported/autoclassmk)"
    else:
        source = "exported/autoclassmk"
    model = zoo.load_model(os.path.basename(d), backend="keras", directory=d).model   # derived from model.onnx
    fn = tf.function(lambda v: model(v, training=False))
    sess = ort.InferenceSession(os.path.join(d, "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    xt = tf.constant(x)
    single = x[:1]
    results = {
        f"keras model.predict (batch {args.n})": best_of(lambda: model.predict(x, batch_size=1024, verbose=0), args.repeats),
        f"keras predict_on_batch (batch {args.n})": best_of(lambda: model.predict_on_batch(x), args.repeats),
        f"tf.function (batch {args.n})": best_of(lambda: fn(xt), args.repeats),
        f"ONNX Runtime (batch {args.n})": best_of(lambda: sess.run(names, {"flux": x}), args.repeats),
    }
    one = {
        "keras model.predict (1 spectrum)": best_of(lambda: model.predict(single, verbose=0), args.repeats * 4),
        "keras predict_on_batch (1 spectrum)": best_of(lambda: model.predict_on_batch(single), args.repeats * 4),
        "tf.function (1 spectrum)": best_of(lambda: fn(tf.constant(single)), args.repeats * 4),
        "ONNX Runtime (1 spectrum)": best_of(lambda: sess.run(names, {"flux": single}), args.repeats * 4),
    }
    print(f"AutoClassMK inference, {source}, {machine_description()}, "
          f"TF {tf.__version__}, ORT {ort.__version__}")
    base = results[f"keras model.predict (batch {args.n})"]
    for k, v in results.items():
        print(f"  {k:40s} {args.n / v:12,.0f} spectra/s   x{base / v:6.2f} vs model.predict")
    base1 = one["keras model.predict (1 spectrum)"]
    for k, v in one.items():
        print(f"  {k:40s} {1e3 * v:9.2f} ms/call      x{base1 / v:6.2f} vs model.predict")
    print(f"augmentation: {len(x_train):,} training spectra built in {t_aug:.2f} s "
          f"({len(x_train) / t_aug:,.0f} spectra/s)")


if __name__ == "__main__":
    main()
