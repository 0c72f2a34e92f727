"""Be-star H-alpha classifiers: end-to-end files/s and model-only spectra/s, Keras vs ONNX Runtime,
in one run.

    python benchmarks/bestars_throughput.py [--n 8192] [--repeats 3] [--files GLOB]

Model alone: spectra/s of ``emission_fc`` and ``emission_cnn`` on the same batch of
standardized 140-pixel inputs (simulated spectra through the thesis's path), for
Keras (a compiled ``tf.function``) and ONNX Runtime.  End to end: files/s of
``Predictor.predict`` file by file (read FITS -> regrid -> standardize -> network ->
trust score) on LAMOST files (default: the bundled ones, repeated to --n-files),
for both backends.  The thesis's figure for comparison (Sec. 9.4): 2,202,000 LAMOST
DR1 spectra in 96 s (~22,900 spectra/s, interpolation and scaling included) on a
GeForce GTX 980.  Uses the exported models (exported/emission_fc, exported/emission_cnn).
"""
from __future__ import annotations

import argparse
import glob
import os
import time
from importlib import resources

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _timing import best_of  # noqa: E402




def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8192, help="spectra per model-only call")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--files", default=str(resources.files("zoo") / "data" / "lamost" / "*.fits"))
    ap.add_argument("--n-files", type=int, default=60, help="file predictions per end-to-end timing")
    args = ap.parse_args()

    import onnxruntime as ort
    import tensorflow as tf

    import zoo
    from training.common import machine_description
    from zoo.families.bestars.simulate import simulate_dataset

    contract = zoo.get_card("emission_cnn").input
    per = int(np.ceil(args.n / 3))
    x = simulate_dataset({"emission": per, "absorption": per, "double-peak": per}, contract, seed=99).x[: args.n]
    x = np.ascontiguousarray(x, np.float32)
    files = sorted(glob.glob(args.files))
    files = (files * int(np.ceil(args.n_files / len(files))))[: args.n_files]
    print(f"Be-star H-alpha classifiers, {machine_description()}, TF {tf.__version__}, ORT {ort.__version__}")
    print(f"model alone: batch of {len(x)} standardized spectra; end to end: {len(files)} LAMOST file "
          f"predictions ({len(set(files))} distinct files)")
    for name in ("emission_fc", "emission_cnn"):
        for backend in ("keras", "onnx"):
            m = zoo.load_model(name, backend=backend)
            t = best_of(lambda: m.forward(x, batch_size=len(x)), args.repeats)
            t0 = time.perf_counter()
            for f in files:
                m.predict(f)
            te = time.perf_counter() - t0
            print(f"  {name:13s} {backend:6s} model {len(x) / t:10,.0f} spectra/s   "
                  f"end to end {len(files) / te:8,.1f} files/s")


if __name__ == "__main__":
    main()
