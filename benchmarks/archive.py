"""Archive mode, stage by stage: the measurements behind docs/performance.md's "Archive mode" section.

Run by ``benchmarks/performance.py`` (one subprocess per model, ONNX Runtime only: TensorFlow is never
imported); by hand::

    python benchmarks/archive.py racnet_ds2 [--files 2000] [--json out.json] [--quick]

On an archive of ``--files`` symlinks to the bundled real files the model reads (the LAMOST files of
``zoo/data/lamost`` and ``tests/data/lamost_dev``: three wavelength grids; the apStar files of
``zoo/families/apogeenet/data/apogee``), it measures, each in this one process and one after the other:

- **read** [files/s]: ``zoo.io.read`` of each file (one core);
- **contract** [spectra/s]: ``Predictor.prepare_many`` on chunks of ``zoo.batch.CHUNK_SIZE`` read
  spectra (one core; the spectra of a chunk that share a grid in one call);
- **network** [spectra/s]: ``Predictor.predict_prepared(..., trust=None)`` on batches of ``--batch``
  prepared spectra (ONNX Runtime with its default threads, as the archive's main process runs it; for a
  regressor with the card's uncertainties, the noise realizations are part of it);
- **trust** [spectra/s]: ``Predictor.domain`` on the same batches (one core), for each trust mode;
- **write** [rows/s]: the shard's columns and its Parquet file;
- **end to end** [files/s]: ``zoo.batch.predict_archive`` over the whole archive with 0 (threads of
  one process), 1 and 2 worker processes, wall time of the call: the model's load, the worker pool's
  start, reading, writing and all; and with ``--dask`` a LocalCluster of 2 single-threaded worker
  processes (started before the clock; the same shard function).

Configurations: RAC-Net with the card's trust (``full``: ``pca_knn_tpl``) and ``--trust fast``
(``pca_knn_tpl:fast``); APOGEE Net with the card's uncertainties (30 noise realizations) and without.
The stage rates are one-core (or, for the network, one-process) rates; end to end the stages overlap
in different processes, so the end-to-end rate can exceed the slowest stage's one-core rate.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: configurations per model: (label, predict_archive keyword arguments)
CONFIGS = {
    "racnet": [("trust full", {"trust": "full"}), ("trust fast", {"trust": "fast"})],
    "apogeenet": [("uncertainties", {}), ("no uncertainties", {"predict_kw": {"return_uncertainty": False}})],
}
WORKERS = (0, 1, 2)


def configs(name: str) -> list:
    for prefix, cfg in CONFIGS.items():
        if name.startswith(prefix):
            return cfg
    return [("default", {})]


def source_files(predictor) -> list[str]:
    """The bundled real files (:func:`zoo.example_files`: zoo/data and every family's data; tests/data)
    the model reads and accepts."""
    import zoo
    files = sorted(zoo.example_files("*/*.fits") + zoo.example_files("*/*/*.rbn")
                   + glob.glob(os.path.join(REPO, "tests", "data", "*", "*.fits")))
    good = []
    for f, p in zip(files, predictor.prepare_many(files)):
        if not isinstance(p, BaseException):
            good.append(f)
    return good


def make_archive(files: list[str], n: int, root: str) -> list[str]:
    """``n`` symlinks to ``files`` (cycled) in ``root``, in folders of 500."""
    out = []
    for i in range(n):
        src = files[i % len(files)]
        d = os.path.join(root, f"d{i // 500:03d}")
        os.makedirs(d, exist_ok=True)
        dst = os.path.join(d, f"{i:06d}-{os.path.basename(src)}")
        os.symlink(src, dst)
        out.append(dst)
    return out


def _best(fn, repeats):
    """Best wall time of ``repeats`` calls after a warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_archive(name: str, n_files: int = 2000, batch: int = 256, repeats: int = 3, quick: bool = False,
                    dask: bool = False) -> dict:
    import numpy as np

    import zoo
    from zoo.batch import CHUNK_SIZE, _columns, _concat, _table_metadata, _write_parquet, predict_archive
    from zoo.io import read
    from zoo.preprocess import Prepared

    pred = zoo.load_model(name, backend="onnx")
    src = source_files(pred)
    res = {"model": name, "sources": [os.path.relpath(f, REPO) for f in src], "batch": batch,
           "chunk_size": CHUNK_SIZE, "cpus": os.cpu_count()}
    if not src:
        return {**res, "error": "no bundled file this model reads"}
    root = tempfile.mkdtemp(prefix=f"zoo-archive-{name}-")
    try:
        files = make_archive(src, n_files, os.path.join(root, "in"))
        res["files"] = len(files)
        sample = files[:min(len(files), 64 if quick else 512)]
        n = len(sample)
        reps = 1 if quick else repeats
        specs = [read(f) for f in sample]                     # warm: page cache, imports
        stages = {"read": n / _best(lambda: [read(f) for f in sample], reps)}

        def contract():
            out = []
            for i in range(0, n, CHUNK_SIZE):
                out += pred.prepare_many(specs[i:i + CHUNK_SIZE])
            return out
        parts = contract()
        stages["contract"] = n / _best(contract, reps)
        prep = Prepared(np.concatenate([p.flux for p in parts]),
                        None if any(p.error is None for p in parts) else np.concatenate([p.error for p in parts]),
                        np.concatenate([p.mask for p in parts]))
        batches = [Prepared(prep.flux[i:i + batch], None if prep.error is None else prep.error[i:i + batch],
                            prep.mask[i:i + batch]) for i in range(0, n, batch)]
        ids = [{"object": None, "obsid": None, "ra": None, "dec": None}] * n
        res["configs"] = []
        for label, cfg in configs(name):
            kw = dict(cfg.get("predict_kw", {}))
            trust = cfg.get("trust", "full")
            row = {"config": label, "trust_method": pred.trust_method(trust), "stages": dict(stages)}
            outs = []

            def network():
                outs.clear()
                outs.extend(pred.predict_prepared(b, return_raw=True, trust=None, **kw) for b in batches)
            network()
            row["stages"]["network"] = n / _best(network, reps)
            if row["trust_method"]:
                row["stages"]["trust"] = n / _best(
                    lambda: [pred.domain(b, raw, trust) for b, (_, raw) in zip(batches, outs)], reps)
            cols = _concat([_columns(pred.card, sample[i * batch:(i + 1) * batch], p, raw, ids[i * batch:(i + 1) * batch])
                            for i, (p, raw) in enumerate(outs)])
            meta = _table_metadata(pred, trust)
            target = os.path.join(root, "write.parquet")
            row["stages"]["write"] = n / _best(lambda: _write_parquet(target, cols, meta), reps)
            e2e = {}
            for w in WORKERS:
                out = os.path.join(root, f"out-{label.replace(' ', '_')}-{w}")
                t = time.perf_counter()
                r = predict_archive(name, files, out, workers=w, batch_size=batch, progress=False, **cfg)
                e2e[str(w)] = len(files) / (time.perf_counter() - t)
                assert r.rows == len(files) and r.failed == 0, (r.rows, r.failed)
                shutil.rmtree(out, ignore_errors=True)
            row["end_to_end"] = e2e
            # start-up of a run (model load, worker pool): one chunk with 2 workers
            out = os.path.join(root, "out-start")
            t = time.perf_counter()
            predict_archive(name, files[:min(8, len(files))], out, workers=2, batch_size=batch, progress=False, **cfg)
            row["start_s"] = time.perf_counter() - t
            shutil.rmtree(out, ignore_errors=True)
            if dask and not quick:
                row["dask_2"] = _dask_rate(name, files, os.path.join(root, f"dask-{label.replace(' ', '_')}"),
                                           batch, cfg)
            res["configs"].append(row)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return res


def _dask_rate(name, files, root, batch, cfg):
    """files/s of the Dask engine on a LocalCluster of 2 single-threaded worker processes (started and the
    model loaded on each before the clock); ``root``: a folder of this configuration's own (a batch
    folder holds one run's settings)."""
    try:
        import distributed
    except ImportError:
        return None
    from zoo.batch import predict_archive
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        kw = dict(engine="dask", client=client, onnx_threads=1, batch_size=batch, progress=False, **cfg)
        predict_archive(name, files[:8], os.path.join(root, "dask-warm"), shard_size=4, **kw)
        t = time.perf_counter()
        predict_archive(name, files, os.path.join(root, "dask"), shard_size=max(1, len(files) // 8), **kw)
        return len(files) / (time.perf_counter() - t)
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- report
def _f(v):
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def markdown(results: list[dict]) -> list[str]:
    """The "Archive mode" section of docs/performance.md."""
    lines = ["", "## Archive mode: each stage and end to end", "",
             "`python -m zoo predict NAME FILES --out DIR` (`zoo.batch.predict_archive`) on an archive of symlinks "
             "to the bundled real files the model reads (benchmarks/archive.py). Stages: one core each (the "
             "network: one process, ONNX Runtime's default threads), on the same files; end to end: the whole "
             "call (model load, worker start, reading, writing) with 0 (threads of one process), 1 and 2 worker "
             "processes reading and preparing chunks and scoring the trust while the main process runs the "
             "network. *bound*: min(network, 2 x read), the most two cores could give without the other "
             "stages.", "",
             "| model | configuration | files | read [files/s] | contract [spectra/s] | network [spectra/s] | "
             "trust [spectra/s] | write [rows/s] | end to end, 0 / 1 / 2 workers [files/s] | 2 / 1 workers | "
             "Dask, 2 workers [files/s] | start-up [s] | bound [files/s] | end to end / bound |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error'][:200]} |")
            continue
        for c in r["configs"]:
            s, e = c["stages"], c["end_to_end"]
            bound = min(s["network"], 2 * s["read"])
            best = max(e.values())
            trust = f"{_f(s['trust'])} ({c['trust_method']})" if "trust" in s else "-"
            lines.append(
                f"| {r['model']} | {c['config']} | {r['files']} | {_f(s['read'])} | {_f(s['contract'])} | "
                f"{_f(s['network'])} | {trust} | {_f(s['write'])} | "
                f"{' / '.join(_f(e[str(w)]) for w in WORKERS)} | {e['2'] / e['1']:.2f}x | "
                f"{_f(c.get('dask_2'))} | {c['start_s']:.1f} | {_f(bound)} | {best / bound:.0%} |")
    lines += ["", "- Sources: " + "; ".join(f"{r['model']}: {len(r.get('sources', []))} bundled files"
                                           for r in results) + ", repeated by symlinks; batch "
              f"{results[0].get('batch') if results else ''} spectra, chunks of "
              f"{results[0].get('chunk_size') if results else ''} files.",
              "- *trust fast*: `--trust fast`, the trust method's registered cheaper variant (RAC-Net: "
              "`pca_knn_tpl:fast`, the knn part alone, a lower bound of the full score: it flags a subset of what "
              "`pca_knn_tpl` flags); the manifest and each shard's metadata record the method.",
              "- Scaling: the worker processes run the CPU stages (read, contract, trust) in parallel with the "
              "network in the main process; with more cores, `--workers N` scales them until the network (one "
              "session) is the limit. The Dask engine runs the same pipeline (the same chunk and trust functions, "
              "in threads of each worker) once per shard, on as many worker processes and machines as the "
              "cluster has: one model session per worker, so it scales past the one network session of the "
              "local engine (docs/scale.md)."]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dask", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    try:
        res = measure_archive(args.model, args.files, args.batch, args.repeats, args.quick, args.dask)
    except Exception as exc:  # noqa: BLE001
        res = {"model": args.model, "error": f"{type(exc).__name__}: {exc}"}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh)
    else:
        print("\n".join(markdown([res])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
