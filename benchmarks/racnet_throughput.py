"""RAC-Net family throughput: Keras vs ONNX Runtime, spectra/s for the three networks, one run.

    python benchmarks/racnet_throughput.py [--n 512] [--repeats 3] [--json out.json]

For C-Net, RC-Net and RAC-Net (the DS1 heads) it times, on the same batch of
``n`` simulated, prepared spectra: Keras ``model.predict`` (batch 256), a
compiled ``tf.function`` on the whole batch, and ONNX Runtime (CPU provider) on
the whole batch, best of ``repeats`` after a warm-up.  RAC-Net is the exported
``exported/racnet_ds1`` when present; C-Net and RC-Net (never exported) are
untrained models converted to ONNX in a temporary folder (same graph, same
cost).  Prints a Markdown table and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _timing import best_of  # noqa: E402




def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import onnxruntime as ort
    import tensorflow as tf

    import zoo
    from training.common import machine_description
    from training.racnet.data import prepare
    from zoo.export import export_onnx
    from zoo.families.racnet.simulate import simulate
    from zoo.predictor import exported_dir

    card = zoo.get_card("racnet_ds1", trained=False)
    sim = simulate(["STAR", "GALAXY", "QSO", "UNKNOWN"] * (args.n // 4), 0)
    x = np.ascontiguousarray(prepare(sim, card.input)[: args.n], np.float32)
    rows = []
    for name in ("cnet_ds1", "rcnet_ds1", "racnet_ds1"):
        d = exported_dir(name)
        if os.path.exists(os.path.join(d, "model.onnx")):
            model = zoo.load_model(name, backend="keras").model     # model.keras, or derived from ONNX
            onnx_path, source = os.path.join(d, "model.onnx"), f"exported/{name}"
        else:
            model = zoo.create_model(name, seed=0)
            onnx_path = os.path.join(tempfile.mkdtemp(), "model.onnx")
            export_onnx(model, onnx_path, card.input.n_pixels)
            source = "untrained (same graph)"
        fn = tf.function(lambda v: model(v, training=False))
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0].name
        xt = tf.constant(x)
        t_predict = best_of(lambda: model.predict(x, batch_size=256, verbose=0), args.repeats)
        t_fn = best_of(lambda: fn(xt), args.repeats)
        t_onnx = best_of(lambda: sess.run(None, {inp: x}), args.repeats)
        k = np.asarray(fn(xt)["class"])
        o = sess.run(["class"], {inp: x})[0]
        rows.append({"model": name, "source": source, "params": int(model.count_params()),
                     "keras_predict": args.n / t_predict, "tf_function": args.n / t_fn, "onnxruntime": args.n / t_onnx,
                     "max_abs_diff": float(np.abs(k - o).max())})
    print(f"{args.n} spectra of 3899 pixels, best of {args.repeats}; {machine_description()}; "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}\n")
    print("| network | params | Keras predict [spectra/s] | tf.function | ONNX Runtime | ONNX/Keras predict "
          "| max abs diff |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} ({r['source']}) | {r['params']:,} | {r['keras_predict']:.0f} | {r['tf_function']:.0f} | "
              f"{r['onnxruntime']:.0f} | {r['onnxruntime'] / r['keras_predict']:.1f}x | {r['max_abs_diff']:.1e} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"n": args.n, "repeats": args.repeats, "machine": machine_description(), "rows": rows}, fh,
                      indent=1)


if __name__ == "__main__":
    main()
