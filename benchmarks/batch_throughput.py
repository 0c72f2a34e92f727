"""Archive-scale batch inference throughput (docs/scale.md): files/s of the per-file loop, the
local engine and a 2-worker Dask LocalCluster, on copies of the bundled real spectra.

    python benchmarks/batch_throughput.py [--copies 4] [--models autoclassmk apogeenet emission_cnn]

For each model: ``Predictor.iter_predict_files`` (one file at a time: read, preprocess, model),
``python -m zoo predict ... --out DIR`` with the local engine (worker processes + batched model)
and with ``--engine dask --workers 2 --onnx-threads 1`` (processes, one thread each; the cluster is started and
the model loaded on each worker before the clock starts, and the start time is printed
apart).  Checks that the Dask table equals the local one.  All on the ONNX backend.
"""
from __future__ import annotations

import argparse
import glob
import os
import platform
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ZOO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo")
SOURCES = {  # model -> its bundled real files
    "autoclassmk": os.path.join(ZOO, "families", "autoclassmk", "data", "mk_atlas", "libr18_27", "*.rbn"),
    "apogeenet": os.path.join(ZOO, "families", "apogeenet", "data", "apogee", "apStar-*.fits"),
    "emission_cnn": os.path.join(ZOO, "data", "lamost", "*.fits"),
}


def machine() -> str:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()}-core {cpu}, Python {platform.python_version()}, load average {load:.1f} at start"


def archive(model: str, copies: int, root: str) -> str:
    """``copies`` copies (symlinks) of the model's bundled files in one folder per copy."""
    d = os.path.join(root, model)
    for c in range(copies):
        os.makedirs(os.path.join(d, f"copy{c:03d}"))
        for f in sorted(glob.glob(SOURCES[model])):
            os.symlink(f, os.path.join(d, f"copy{c:03d}", os.path.basename(f)))
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=4, help="copies of each model's bundled files")
    ap.add_argument("--models", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--shard-size", type=int, default=100)
    args = ap.parse_args()

    import distributed

    import zoo
    from zoo.batch import expand_inputs, predict_archive, read_table

    print(f"machine: {machine()}")
    t = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    start = time.perf_counter() - t
    print(f"Dask LocalCluster (2 worker processes, 1 thread each) started in {start:.1f} s\n")
    print("| model | files | per-file loop files/s | local engine files/s | Dask 2 workers files/s "
          "| local / loop | Dask / local | Dask table == local |")
    print("|---|---|---|---|---|---|---|---|")
    root = tempfile.mkdtemp(prefix="zoo-batch-bench-")
    try:
        for model in args.models:
            src = archive(model, args.copies, root)
            files = expand_inputs([src])
            kw = dict(batch_size=args.batch_size, shard_size=args.shard_size, progress=False)
            # warm: model loaded in this process and on each worker, files in the page cache
            predict_archive(model, files[:4], os.path.join(root, f"{model}-warm-local"), **kw)
            predict_archive(model, files[:4], os.path.join(root, f"{model}-warm-dask"), engine="dask",
                            client=client, batch_size=args.batch_size, shard_size=2, onnx_threads=1,
                            progress=False)

            p = zoo.load_model(model, backend="onnx")
            t = time.perf_counter()
            n_loop = sum(row is not None for _, row, _ in p.iter_predict_files(files))
            loop = time.perf_counter() - t

            t = time.perf_counter()
            r_local = predict_archive(model, files, os.path.join(root, f"{model}-local"), **kw)
            local = time.perf_counter() - t
            t = time.perf_counter()
            r_dask = predict_archive(model, files, os.path.join(root, f"{model}-dask"), engine="dask",
                                     client=client, onnx_threads=1, **kw)
            dask = time.perf_counter() - t
            assert n_loop == r_local.rows == r_dask.rows, (n_loop, r_local.rows, r_dask.rows)
            same = read_table(os.path.join(root, f"{model}-dask")).equals(
                read_table(os.path.join(root, f"{model}-local")))
            n = len(files)
            print(f"| {model} | {n} | {n / loop:.1f} | {n / local:.1f} | {n / dask:.1f} "
                  f"| {loop / local:.2f}x | {local / dask:.2f}x | {same} |", flush=True)
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
