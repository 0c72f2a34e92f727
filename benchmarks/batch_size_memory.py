"""Spectra/s and peak memory of ``Predictor.forward`` (ONNX backend) per network-call size.

    python -m benchmarks.batch_size_memory [NAME] [--sizes 64 256 1024] [--n 2048]

One subprocess per size (so that each peak resident memory is its own): the model loaded, one
warm-up call, then ``--n`` spectra (the stored real test spectra tiled) in calls of that size.
The basis of ``zoo.onnx_kit.BATCH_SIZE``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _one(name: str, size: int, n: int) -> dict:
    import resource

    import numpy as np

    import zoo
    from zoo.export import read_test_data
    from zoo.predictor import exported_dir
    p = zoo.load_model(name, backend="onnx")
    flux, _ = read_test_data(exported_dir(name))
    x = np.ascontiguousarray(np.resize(flux, (n, flux.shape[1])), np.float32)
    p.forward(x[:size], batch_size=size)
    t = time.perf_counter()
    p.forward(x, batch_size=size)
    dt = time.perf_counter() - t
    return {"size": size, "spectra_per_s": n / dt,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", nargs="?", default="apogeenet")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_one(args.name, args.child, args.n)))
        return 0
    print(f"# python -m benchmarks.batch_size_memory {args.name} ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} "
          f"UTC, load average {os.getloadavg()[0]:.1f})")
    for size in args.sizes:
        out = subprocess.run([sys.executable, "-m", "benchmarks.batch_size_memory", args.name, "--child",
                              str(size), "--n", str(args.n)], cwd=REPO, capture_output=True, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if out.returncode:
            print(f"{size}: failed: {out.stderr[-300:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{args.name}: calls of {size:5d}: {r['spectra_per_s']:8,.0f} spectra/s, "
              f"peak memory {r['peak_rss_mb']:6,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
