"""Inference throughput of the exported APOGEE regressors: Keras ``predict_on_batch`` vs ONNX Runtime.

    python benchmarks/apogeenet_throughput.py [--models apogeenet starnet] [--batch 256] [--repeats 5]

Prints spectra/s for each backend and their ratio in one run, on the same
prepared inputs (the stored real test spectra, tiled to ``--batch``).  Needs
``exported/<name>/`` (``python -m training.<name>``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import zoo  # noqa: E402


def bench(fn, x, repeats):
    fn(x)                                            # warm-up (graph tracing, allocations)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t)
    return x.shape[0] / best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["apogeenet", "starnet"])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: default)")
    args = p.parse_args(argv)

    import keras
    import onnxruntime as ort

    from training.common import machine_description
    from zoo.export import read_test_data
    from zoo.predictor import exported_dir
    print(f"# {machine_description()}; batch {args.batch}, best of {args.repeats}; "
          f"keras {keras.__version__}, onnxruntime {ort.__version__}")
    print(f"{'model':<11} {'keras predict_on_batch':>24} {'onnxruntime':>14} {'ort/keras':>10}")
    for name in args.models:
        d = exported_dir(name)
        if not os.path.exists(os.path.join(d, "card.json")):
            print(f"{name:<11} not exported (python -m training.{name})")
            continue
        flux, _ = read_test_data(d)
        x = np.ascontiguousarray(np.resize(flux, (args.batch, flux.shape[1])), np.float32)
        model = zoo.load_model(os.path.basename(d), backend="keras", directory=d).model   # derived from model.onnx
        so = ort.SessionOptions()
        if args.threads:
            so.intra_op_num_threads = args.threads
        sess = ort.InferenceSession(os.path.join(d, "model.onnx"), so, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0].name
        k = bench(lambda a: model.predict_on_batch(a), x, args.repeats)
        o = bench(lambda a: sess.run(None, {inp: a}), x, args.repeats)
        print(f"{name:<11} {k:>20.0f} sp/s {o:>10.0f} sp/s {o / k:>9.2f}x")


if __name__ == "__main__":
    main()
