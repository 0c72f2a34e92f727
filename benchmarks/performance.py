"""Every exported model on every backend, measured in one run: regenerates docs/performance.md.

    python -m benchmarks.performance [--models NAME ...] [--batch 512] [--repeats 3] [--out docs/performance.md]
    python benchmarks/performance.py --quick --models emission_fc --out /tmp/perf.md   # smoke test
    python benchmarks/performance.py --quick --models emission_fc --archive-models racnet_ds2 --out /tmp/perf.md

For each model in ``exported/`` (one subprocess per model, so that its peak memory is its own):

- spectra/s of the network alone on one batch (``--batch``) of its stored real test spectra
  (``test_data_set_0`` tiled): Keras ``model.predict``, ``predict_on_batch``, a
  ``tf.function``, XLA (``tf.function(jit_compile=True)``), the TF SavedModel (exported to a
  temporary folder, loaded with ``tf.saved_model.load``) and ONNX Runtime with 1 and 2
  intra-op threads (default session options otherwise: what a deployer gets);
- preprocessing spectra/s (``Predictor.prepare`` of the bundled real files the model reads:
  reading, contract, normalization) and end-to-end files/s (``Predictor.predict`` file by file,
  ONNX backend: read, prepare, network, trust score; with the card's noise-realization
  uncertainties for models that have them, and without);
- FLOPs per spectrum (counted on the ONNX graph: 2 x multiply-adds of Conv, MatMul, Gemm) and
  the fraction of the measured matmul roofline reached by the best backend;
- the noise-realization uncertainties (models that have them): stars/s at the card's number of
  realizations and at the paper's 100, beside the roofline bound at 100;
- peak resident memory of the model's subprocess (``ru_maxrss``: TensorFlow, ONNX Runtime and
  all backends loaded);
- archive mode (``--archive-models``, default RAC-Net DS2 on LAMOST files and APOGEE Net on apStar files;
  ``benchmarks/archive.py``, one ONNX-only subprocess per model): each stage's rate (read, contract,
  network, trust, write) beside ``python -m zoo predict NAME FILES --out DIR`` end to end with 0, 1 and 2
  worker processes (and a 2-worker Dask LocalCluster), on an archive of symlinks to the bundled real files.

The roofline is the fastest float32 matmul (2048 x 2048) of TensorFlow and ONNX Runtime (its MLAS
GEMM) in GFLOP/s on this machine, measured at the start of the run, in each model's process before
its measurements, and at the end (the largest is used: the machine's best demonstrated rate).
The network timings are the best of ``--repeats`` rounds that call every backend once, in turn
(after a warm-up call each), so that the ratios between backends hold even when the load changes
during the run; the other timings are the best of ``--repeats`` calls after a warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

try:
    from . import archive as archive_bench  # noqa: E402  (python -m benchmarks.performance)
    from ._timing import best_of, interleaved_best  # noqa: E402
except ImportError:
    import archive as archive_bench  # noqa: E402  (python benchmarks/performance.py)
    from _timing import best_of, interleaved_best  # noqa: E402

#: archive-mode models (benchmarks/archive.py) and the files each is measured on by default
ARCHIVE_FILES = {"racnet_ds2": 2000, "apogeenet": 400}

TF_BACKENDS = ("keras_predict", "predict_on_batch", "tf_function", "tf_chunked", "xla", "savedmodel")
ORT_BACKENDS = ("onnx_1t", "onnx_2t", "onnx_zoo")
BACKENDS = TF_BACKENDS + ORT_BACKENDS
HEADERS = {"keras_predict": "Keras predict", "predict_on_batch": "predict_on_batch",
           "tf_function": "tf.function", "tf_chunked": "tf.function, best chunk", "xla": "XLA",
           "savedmodel": "SavedModel", "onnx_1t": "ONNX RT 1 thr", "onnx_2t": "ONNX RT 2 thr",
           "onnx_zoo": "zoo ONNX (auto chunk)"}
#: chunks of the batch that ``tf_chunked`` tries (the whole batch is ``tf_function``)
TF_CHUNKS = (32, 64, 128, 256)


# --------------------------------------------------------------------------- measurements
def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """TensorFlow float32 matmul GFLOP/s (an n x n by n x n product), best of ``repeats``."""
    import tensorflow as tf
    a = tf.random.normal((n, n), seed=1)
    b = tf.random.normal((n, n), seed=2)
    mm = tf.function(lambda: tf.matmul(a, b))
    t = best_of(lambda: mm().numpy(), repeats)
    return 2.0 * n ** 3 / t / 1e9


def ort_matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """ONNX Runtime float32 MatMul GFLOP/s (n x n by n x n, default threads), best of ``repeats``:
    the other BLAS on this machine (ONNX Runtime's MLAS)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper
    rng = np.random.default_rng(1)
    b = helper.make_tensor("b", TensorProto.FLOAT, (n, n), rng.standard_normal((n, n)).astype(np.float32).ravel())
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, (n, n))],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, (n, n))], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a = rng.standard_normal((n, n)).astype(np.float32)
    t = best_of(lambda: sess.run(None, {"a": a}), repeats)
    return 2.0 * n ** 3 / t / 1e9


def node_flops(path) -> dict[str, float]:
    """FLOPs per spectrum of each Conv, MatMul and Gemm node of an ONNX model, by node name:
    2 x multiply-adds, from shapes inferred for batch 1."""
    import onnx
    from onnx import shape_inference
    m = onnx.load(os.fspath(path))
    for d in m.graph.input[0].type.tensor_type.shape.dim[:1]:
        d.ClearField("dim_param")
        d.dim_value = 1
    del m.graph.value_info[:]
    m = shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    out = {}
    for n in m.graph.node:
        if n.op_type == "Conv":
            w, y = shapes.get(n.input[1]), shapes.get(n.output[0])
            if w and y:
                out[n.name] = 2.0 * np.prod(y) * np.prod(w[1:])        # out elements x (Cin/group x kernel)
        elif n.op_type in ("MatMul", "Gemm"):
            a, y = shapes.get(n.input[0]), shapes.get(n.output[0])
            if a and y:
                k = a[-1]
                if n.op_type == "Gemm" and any(at.name == "transA" and at.i for at in n.attribute):
                    k = a[0]
                out[n.name] = 2.0 * np.prod(y) * k
    return out


def onnx_flops(path) -> float:
    """FLOPs per spectrum of an ONNX model: 2 x multiply-adds of Conv, MatMul and Gemm nodes
    (element-wise ops, pooling and activations not counted), from shapes inferred for batch 1."""
    return float(sum(node_flops(path).values()))


def bundled_files(predictor, limit: int = 8) -> list[str]:
    """Bundled real files (:func:`zoo.example_files`) the model reads and accepts, at most ``limit``."""
    import zoo
    candidates = sorted(zoo.example_files("*/*.fits") + zoo.example_files("*/*/*.rbn"))
    good = []
    for f in candidates:
        try:
            predictor.prepare(f)
        except Exception:  # noqa: BLE001  (another format or another model's range)
            continue
        good.append(f)
        if len(good) >= limit:
            break
    return good


def measure_model(name: str, batch: int, repeats: int, quick: bool) -> dict:
    """All measurements of one model (run in its own subprocess)."""
    import onnxruntime as ort
    import tensorflow as tf

    import zoo
    from zoo.export import export_saved_model, read_test_data
    from zoo.onnx_kit import OnnxModel
    from zoo.predictor import exported_dir

    d = exported_dir(name)
    res: dict = {"model": name, "batch": batch}
    # the roofline once more, in this process, before the model (the run's roofline is the
    # fastest of all these measurements: the machine's best demonstrated matmul rate)
    n_mm, r_mm = (512, 2) if quick else (2048, 5)
    res["roofline_gflops"] = {"tensorflow": matmul_gflops(n_mm, r_mm), "onnxruntime": ort_matmul_gflops(n_mm, r_mm)}
    flux, _ = read_test_data(d)
    x = np.ascontiguousarray(np.resize(flux, (batch, flux.shape[1])), np.float32)
    res["n_pixels"] = int(x.shape[1])
    res["flops"] = onnx_flops(os.path.join(d, "model.onnx"))
    keras_pred = zoo.load_model(name, backend="keras")
    model = keras_pred.model
    xt = tf.constant(x)
    fns = {"keras_predict": lambda: model.predict(x, batch_size=batch, verbose=0),
           "predict_on_batch": lambda: model.predict_on_batch(x)}
    fn = tf.function(lambda v: model(v, training=False))
    fns["tf_function"] = lambda: {k: v.numpy() for k, v in fn(xt).items()}
    errors = {}
    if quick:
        errors.update(xla="skipped (--quick)", savedmodel="skipped (--quick)")
    else:
        fx = tf.function(lambda v: model(v, training=False), jit_compile=True)
        fns["xla"] = lambda: {k: v.numpy() for k, v in fx(xt).items()}
        tmp = tempfile.mkdtemp(prefix=f"perf_{name}_")
        try:
            sig = tf.saved_model.load(export_saved_model(model, tmp, x.shape[1])).signatures["serving_default"]
            fns["savedmodel"] = lambda: {k: v.numpy() for k, v in sig(flux=xt).items()}
        except Exception as exc:  # noqa: BLE001
            errors["savedmodel"] = f"{type(exc).__name__}: {exc}"[:160]
    # TensorFlow at its best chunk of the batch too (its speed depends on the call size as ONNX Runtime's
    # does): the fastest of TF_CHUNKS, best of two after a warm-up each, then measured with the others
    if quick:
        tf_chunk = batch
    else:
        parts = {c: [tf.constant(x[i:i + c]) for i in range(0, batch, c)] for c in TF_CHUNKS if c < batch}
        sweep = {c: best_of(lambda p=p: [{k: v.numpy() for k, v in fn(t).items()} for t in p], 2)
                 for c, p in parts.items()}
        sweep[batch] = best_of(fns["tf_function"], 2)
        tf_chunk = min(sweep, key=sweep.get)
        res["tf_chunk_sweep_s"] = {str(c): t for c, t in sweep.items()}
    res["tf_chunk"] = tf_chunk
    tf_parts = [tf.constant(x[i:i + tf_chunk]) for i in range(0, batch, tf_chunk)]
    fns["tf_chunked"] = lambda: [{k: v.numpy() for k, v in fn(p).items()} for p in tf_parts]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess1 = ort.InferenceSession(os.path.join(d, "model.onnx"), so, providers=["CPUExecutionProvider"])
    fns["onnx_1t"] = lambda: sess1.run(None, {sess1.get_inputs()[0].name: x})
    # the deployment path as a user gets it (zoo.onnx_kit.OnnxModel, chunk="auto": tuned on its first
    # calls, before the clock) and its session (ONNX Runtime's default threads: one per core) alone with
    # the whole batch in one call: one thread pool for both
    kit = OnnxModel(d, device="cpu")
    fns["onnx_2t"] = lambda: kit.session.run(None, {kit.input_name: x})
    fns["onnx_zoo"] = lambda: kit(x)
    for _ in range(40):              # chunk="auto" tunes on its first calls (their own rows): before the clock
        if kit.chunk_info is not None:
            break
        kit(x)
    # every backend once per round, in turn: a change of the machine's load hits all alike
    best, err = interleaved_best(fns, repeats)
    errors.update(err)
    speed = {k: (batch / best[k] if k in best else None) for k in BACKENDS}
    res["onnx_chunk"] = kit.chunk_info
    if errors:
        res["errors"] = errors
    res["spectra_per_s"] = speed

    # preprocessing and end to end on bundled real files (ONNX backend: the deployment path)
    pred = zoo.load_model(name, backend="onnx")
    files = bundled_files(pred, limit=1 if quick else 8)
    res["files"] = [os.path.relpath(f, REPO) for f in files]
    if files:
        reps = 1 if quick else max(2, repeats)
        res["prepare_per_s"] = len(files) / best_of(lambda: [pred.prepare(f) for f in files], reps)
        res["end_to_end_files_per_s"] = len(files) / best_of(
            lambda: [pred.predict(f, return_uncertainty=False) for f in files], reps)
        unc = (pred.card.trust or {}).get("uncertainty")
        if unc:
            n_real = int(unc.get("n_realizations", 100))
            res["n_realizations"] = n_real
            res["end_to_end_uncertainty_files_per_s"] = len(files) / best_of(
                lambda: [pred.predict(f) for f in files], reps)
            # one batched call for a chunk of stars (already prepared): the network's share
            prep = pred.prepare(files)
            res["uncertainty_stars_per_s_batched"] = len(files) / best_of(
                lambda: pred.predict(prep.flux, error=prep.error, mask=prep.mask, return_uncertainty=True), reps)
            # the paper's 100 realizations (Olney et al. 2020, Sec. 3.5), a chunk of stars (the
            # bundled ones, tiled) per call
            n_stars = 2 if quick else 20
            fl, er, mk = (np.resize(a, (n_stars,) + a.shape[1:]) for a in (prep.flux, prep.error, prep.mask))
            res["uncertainty_100_stars"] = n_stars
            res["uncertainty_100_stars_per_s"] = n_stars / best_of(
                lambda: pred.predict(fl, error=er, mask=mk, return_uncertainty=True, n_realizations=100), reps)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    res["versions"] = {"tensorflow": tf.__version__, "onnxruntime": ort.__version__}
    return res


# --------------------------------------------------------------------------- report
def _plan(info):
    """The tuned plan of the zoo's ONNX path, for a table cell: ``64`` or ``64 x 2 thr``."""
    if not info or not info.get("chunk"):
        return None
    return f"{info['chunk']} x {info['threads']} thr" if info.get("parallel") else info["chunk"]


def _fmt(v, digits=0):
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.{max(digits, 1)}f}"


#: variables that change what TensorFlow / ONNX Runtime / BLAS do; recorded with every run
ENV_VARS = ("TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TF_XLA_FLAGS",
            "CUDA_VISIBLE_DEVICES")


def other_cores(seconds: float = 1.0) -> float:
    """CPU cores used by processes other than this one and its children, over ``seconds``
    (psutil; the load average would count the run's own model processes)."""
    import psutil
    me = psutil.Process()
    mine = {me.pid} | {c.pid for c in me.children(recursive=True)}
    procs = []
    for p in psutil.process_iter():
        if p.pid in mine:
            continue
        try:
            p.cpu_percent(None)
            procs.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    time.sleep(seconds)
    total = 0.0
    for p in procs:
        try:
            total += p.cpu_percent(None)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 100.0


def run_child(cmd: list, out: str, name: str) -> dict:
    """Run one benchmark child process (TensorFlow's defaults, :func:`child_env`) that writes its result
    as JSON to ``out``; the result, or an error naming the exit status, with its wall time."""
    t = time.time()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=child_env())
    try:
        with open(out) as fh:
            res = json.load(fh)
    except (OSError, ValueError):
        res = {"model": name, "error": f"subprocess exit {proc.returncode}: {proc.stderr[-300:]}"}
    finally:
        if os.path.exists(out):
            os.remove(out)
    res["wall_s"] = time.time() - t
    return res


def child_env() -> dict:
    """The model processes' environment: the user's, less ``TF_ENABLE_ONEDNN_OPTS`` (a training switch
    for bitwise reproducibility, ~3x slower inference here): every backend runs as a user gets it."""
    return {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}


def run_environment() -> dict:
    """What the model processes ran with: the variables of :data:`ENV_VARS` (unset: None), TensorFlow's
    and ONNX Runtime's thread settings (0: the library's default, one per core)."""
    env = child_env()
    out = {k: env.get(k) for k in ENV_VARS}
    out["TF_ENABLE_ONEDNN_OPTS"] = out["TF_ENABLE_ONEDNN_OPTS"] or "unset (TensorFlow's default: oneDNN kernels on)"
    out["cpus"] = os.cpu_count()
    out["tensorflow_threads"] = "intra/inter-op: TensorFlow's defaults (0 = one per core)"
    out["onnxruntime_threads"] = "intra-op: ONNX Runtime's default (one per core) and 1 and 2 in the columns that say so"
    return out


def markdown(results: list[dict], meta: dict, archive: list[dict] | None = None) -> str:
    roof = meta["roofline_gflops"]
    env = meta.get("environment") or {}
    lines = ["# Performance: every model on every backend", "",
             "Generated by `python -m benchmarks.performance` (do not edit by hand; rerun it).", ""]
    if not meta.get("comparable", True):
        lines += [f"**NOT COMPARABLE: other processes used up to {max(meta.get('other_cores') or [0]):.2f} CPU cores "
                  f"(limit {meta.get('max_load')}), or this was a --quick smoke test: these figures are not "
                  "reproducible. Rerun on a quiet machine.**", ""]
    lines += ["- environment of the model processes: " + ", ".join(f"{k}={v}" for k, v in env.items()
                                                                    if v is not None) if env else "",
             f"- date: {meta['date']} (UTC); duration of the run: {meta['duration_s']:.0f} s",
             f"- machine: {meta['machine']}; {meta['load_note']}",
             f"- load average (1 min) at start / end: {meta['load_start']:.1f} / {meta['load_end']:.1f}"
             + (f" (it counts this run's own processes); CPU cores used by other processes, before the run and "
                f"each model: at most {max(meta['other_cores']):.2f} (limit {meta['max_load']})"
                if meta.get("other_cores") else ""),
             f"- software: Python {meta['python']}, TensorFlow {meta['tensorflow']}, "
             f"ONNX Runtime {meta['onnxruntime']}",
             f"- matmul roofline: the fastest float32 2048x2048 matmul of TensorFlow and ONNX Runtime "
             f"measured during the run, {roof:.0f} GFLOP/s ({len(meta['roofline_samples'])} measurements: at "
             f"the start, before each model in its process, at the end; they ranged "
             f"{min(meta['roofline_samples']):.0f}-{max(meta['roofline_samples']):.0f}; at the end TensorFlow "
             f"{meta['roofline_tf_end']:.0f}, ONNX Runtime {meta['roofline_ort_end']:.0f})",
             f"- batch {meta['batch']} spectra (the stored real test spectra tiled); network: best of "
             f"{meta['repeats']} interleaved rounds (every backend once per round, in turn, after a warm-up)" + (" -- QUICK smoke-test mode, not a measurement"
                                                          if meta["quick"] else ""),
             "", "## The network alone: spectra/s", "",
             "| model | " + " | ".join(HEADERS[b] for b in BACKENDS) +
             " | ONNX best / TF best | MFLOP/spectrum | best GFLOP/s | of roofline |",
             "|---|" + "---:|" * (len(BACKENDS) + 4)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error'][:200]} |")
            continue
        sp = r["spectra_per_s"]
        tf_best = max((sp[b] for b in TF_BACKENDS if sp.get(b)), default=None)
        ort_best = max((sp[b] for b in ORT_BACKENDS if sp.get(b)), default=None)
        best = max(v for v in sp.values() if v) if any(sp.values()) else None
        ratio = f"{ort_best / tf_best:.2f}x" if tf_best and ort_best else "n/a"
        gflops = best * r["flops"] / 1e9 if best else None
        chunk = {"tf_chunked": r.get("tf_chunk"),
                 "onnx_zoo": _plan(r.get("onnx_chunk"))}
        lines.append(f"| {r['model']} | " + " | ".join(_fmt(sp.get(b)) + (f" ({chunk[b]})" if chunk.get(b) else "")
                                                       for b in BACKENDS) +
                     f" | {ratio} | {r['flops'] / 1e6:.2f} | {_fmt(gflops, 1)} | "
                     f"{(gflops / roof if gflops else 0):.0%} |")
    lines += ["", "## Preprocessing, end to end and memory", "",
              "| model | bundled files | prepare [spectra/s] | end to end [files/s] | with uncertainties "
              "[files/s] | uncertainties, one batched call [stars/s] | 100 realizations [stars/s] | "
              "roofline bound at 100 [stars/s] | peak memory [MB] |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            continue
        unc = r.get("end_to_end_uncertainty_files_per_s")
        lines.append(f"| {r['model']} | {len(r.get('files', []))} | {_fmt(r.get('prepare_per_s'))} | "
                     f"{_fmt(r.get('end_to_end_files_per_s'))} | "
                     f"{_fmt(unc) + ' (' + str(r['n_realizations']) + ' realizations)' if unc else '-'} | "
                     f"{_fmt(r.get('uncertainty_stars_per_s_batched')) if unc else '-'} | "
                     f"{_fmt(r.get('uncertainty_100_stars_per_s'), 1) if unc else '-'} | "
                     f"{_fmt(roof * 1e9 / (100 * r['flops']), 1) if unc else '-'} | "
                     f"{r['peak_rss_mb']:,.0f} |")
    notes = [(r["model"], k, v) for r in results for k, v in (r.get("errors") or {}).items()]
    lines += ["", "## Notes", "",
              "- *ONNX best / TF best*: the fastest ONNX Runtime setting over the fastest TensorFlow "
              "backend, measured in this run.",
              "- *tf.function, best chunk*: the batch in calls of the chunk in parentheses, the fastest of "
              f"{', '.join(map(str, TF_CHUNKS))} and the whole batch (best of two each, before the rounds); "
              "*zoo ONNX (auto chunk)*: `zoo.onnx_kit.OnnxModel` (the ONNX backend of `zoo.load_model`) with "
              "its default `chunk=\"auto\"`: calls of the chunk in parentheses, chosen by timing pieces of "
              "each candidate plan on its first calls (before the clock; those calls' outputs are the "
              "answers, nothing is computed only to measure): a chunk run by the session's threads, or "
              "*chunk x N thr*, N single-threaded calls of a chunk at once (data parallel); *ONNX RT 2 thr* is the same session with the whole batch in "
              "one call. The outputs are the same to the bit whatever the chunk.",
              "- *of roofline*: the best backend's FLOP/s (FLOPs counted on the ONNX graph: Conv, MatMul, "
              "Gemm) over the matmul roofline above (the fastest 2048x2048 matmul of the two libraries in the run; "
              "small layers can still beat it slightly when they stay in cache).",
              "- *prepare*: `Predictor.prepare(file)` on the bundled real files the model reads (reading, "
              "the input contract, normalization); *end to end*: `Predictor.predict(file)` with the ONNX "
              "backend (the same plus the network and the trust score), one file at a time.",
              "- *uncertainties*: `Predictor.predict(..., return_uncertainty=True)` on the prepared "
              "bundled files in one call, with the card's number of realizations; *100 realizations*: the "
              "paper's number, 20 stars (the bundled ones tiled) per call; *roofline bound*: the matmul "
              "roofline over 100 x the FLOPs per spectrum, the most any backend could give.",
              "- *peak memory*: `ru_maxrss` of the model's benchmark subprocess, with TensorFlow, every "
              "backend and ONNX Runtime loaded (an ONNX-only deployment needs much less).",
              "- The Conv1D exports are rewritten by `zoo.onnx_graph.fuse_conv1d` (ONNX Runtime fuses bias and "
              "activation into each convolution and keeps its blocked layout between them) and "
              "`zoo.onnx_graph.optimize` (everything between the convolutions runs channels-first: no "
              "layout transposes or tiles left) (docs/deploy.md, \"Speed\")."]
    lines += [f"- {m}: {k} -- {v}" for m, k, v in sorted(notes)]
    if archive:
        lines += archive_bench.markdown(archive)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- driver
def _child(args) -> int:
    try:
        res = measure_model(args.child, args.batch, args.repeats, args.quick)
    except Exception as exc:  # noqa: BLE001
        res = {"model": args.child, "error": f"{type(exc).__name__}: {exc}"}
    with open(args.json, "w") as fh:
        json.dump(res, fh)
    return 0


def exported_models() -> list[str]:
    from zoo.predictor import exported_dir
    root = exported_dir()
    return sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "card.json")))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=None, help="default: every exported model")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds (network) / calls")
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "performance.md"))
    ap.add_argument("--json", default=None,
                    help="also write the raw results here (default: docs/results/performance.json when --out is "
                         "docs/performance.md, which docs blocks are rendered from; else none)")
    ap.add_argument("--quick", action="store_true", help="smoke test: batch 16, one repeat, no XLA/SavedModel")
    ap.add_argument("--max-load", type=float, default=0.3,
                    help="CPU cores that other processes (not this run's) may use: measured for 2 s before the "
                         "run (above it: refused) and before each model (above it: the table is marked not "
                         "comparable). The load average counts this run's own processes, so it is recorded, not used")
    ap.add_argument("--allow-load", action="store_true",
                    help="run anyway on a busy machine: the table is marked not comparable")
    ap.add_argument("--archive-models", nargs="*", default=None,
                    help=f"archive mode for these models (default {' '.join(ARCHIVE_FILES)}; none: skip it)")
    ap.add_argument("--archive-files", type=int, default=None,
                    help=f"files of each archive (default {ARCHIVE_FILES}, other models 1000; --quick 24)")
    ap.add_argument("--archive-dask", action=argparse.BooleanOptionalAction, default=True,
                    help="archive mode: also a 2-worker Dask LocalCluster (not with --quick)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.repeats = min(args.batch, 16), 1
    if args.child:
        return _child(args)

    t0 = time.time()
    load_start = os.getloadavg()[0]
    others = [other_cores(2.0 if not args.quick else 0.2)]
    if others[0] > args.max_load and not (args.allow_load or args.quick):
        print(f"refused: other processes use {others[0]:.2f} CPU cores > --max-load {args.max_load} (the table "
              "would not be reproducible). Wait for a quiet machine, or --allow-load to write a table marked not "
              "comparable.", file=sys.stderr)
        return 3
    import onnxruntime as ort
    import tensorflow as tf

    from training.common import machine_description
    n_mm, r_mm = (512, 2) if args.quick else (2048, 5)
    roof_start = max(matmul_gflops(n_mm, r_mm), ort_matmul_gflops(n_mm, r_mm))
    models = args.models or exported_models()
    results = []
    for name in models:
        if args.quick:       # in process (one TensorFlow import): peak memory is the whole run's
            t = time.time()
            try:
                res = measure_model(name, args.batch, args.repeats, True)
            except Exception as exc:  # noqa: BLE001
                res = {"model": name, "error": f"{type(exc).__name__}: {exc}"}
            res["wall_s"] = time.time() - t
            results.append(res)
            continue
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            out = fh.name
        cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--json", out,
               "--batch", str(args.batch), "--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
        t = time.time()
        others.append(other_cores(1.0))
        res = run_child(cmd, out, name)
        results.append(res)
        print(f"{name}: {time.time() - t:.0f} s " + json.dumps(res.get("spectra_per_s") or res.get("error")),
              flush=True)
    archive = []
    for name in (list(ARCHIVE_FILES) if args.archive_models is None else args.archive_models):
        n_files = args.archive_files or (24 if args.quick else ARCHIVE_FILES.get(name, 1000))
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            out = fh.name
        cmd = [sys.executable, os.path.join(HERE, "archive.py"), name, "--files", str(n_files), "--json", out,
               "--batch", "256", "--repeats", str(min(args.repeats, 3))]
        cmd += ["--quick"] if args.quick else (["--dask"] if args.archive_dask else [])
        t = time.time()
        others.append(other_cores(1.0 if not args.quick else 0.2))
        res = run_child(cmd, out, name)
        archive.append(res)
        print(f"archive {name}: {time.time() - t:.0f} s " + json.dumps(
            [c.get("end_to_end") for c in res.get("configs", [])] or res.get("error")), flush=True)
    tf_end, ort_end = (roof_start, roof_start) if args.quick else (matmul_gflops(2048, 5), ort_matmul_gflops(2048, 5))
    roof_end = max(tf_end, ort_end)
    samples = [roof_start, roof_end] + [max(r["roofline_gflops"].values()) for r in results
                                        if r.get("roofline_gflops")]
    others.append(other_cores(1.0 if not args.quick else 0.2))
    busy = max(others) > args.max_load
    meta = {"date": time.strftime("%Y-%m-%d %H:%M", time.gmtime(t0)), "duration_s": time.time() - t0,
            "other_cores": others, "max_load": args.max_load, "comparable": not busy and not args.quick,
            "environment": run_environment(),
            "backends": {"tensorflow": list(TF_BACKENDS), "onnxruntime": list(ORT_BACKENDS)},
            "backend_titles": dict(HEADERS),
            "machine": machine_description(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "onnxruntime": ort.__version__,
            "load_start": load_start, "load_end": os.getloadavg()[0],
            "load_note": os.environ.get("ZOO_PERF_NOTE", "dedicated to this run unless the load average "
                                                         "below says otherwise"),
            "roofline_start": roof_start, "roofline_end": roof_end,
            "roofline_tf_end": tf_end, "roofline_ort_end": ort_end,
            "roofline_samples": samples, "roofline_gflops": max(samples),
            "batch": args.batch, "repeats": args.repeats, "quick": args.quick}
    text = markdown(results, meta, archive)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)
    if args.json is None and os.path.abspath(args.out) == os.path.join(REPO, "docs", "performance.md"):
        args.json = os.path.join(REPO, "docs", "results", "performance.json")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": results, "archive": archive}, fh, indent=1)
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
