"""Archive-scale batch inference: spectrum files in, Parquet (or CSV) shards out, resumable.

    python -m zoo predict NAME 'archive/**/*.fits' --out results/                 # local engine
    python -m zoo predict NAME archive/ --out results/ --engine dask --workers 8  # a LocalCluster
    python -m zoo predict NAME archive/ --out results/ --engine dask --scheduler tcp://host:8786

The inputs (files, globs, directories) are expanded and sorted; shard ``i`` is files
``i*shard_size ... (i+1)*shard_size - 1`` of that list.  Each shard runs
read -> preprocess (to the model's input contract) -> batch -> model, with reading and
preprocessing in a thread pool that keeps ``prefetch`` spectra ahead of the model, and is
written to a temporary name and renamed into place (``os.replace``).  A shard is done
exactly when its final file exists and every failure in its error log was the file's fault
(``cause: "file"``: unreadable, corrupt, refused by the input contract), so an interrupted run
started again with the same arguments skips the done shards and redoes the rest: nothing is
lost or written twice.  A failure that is not the file's fault (``cause: "zoo"``: the zoo's
own state, the machine) is retried once at once and, should it persist, its shard is redone
by the next run.  The output directory holds::

    manifest.json              the run: model, backend, format, shard and batch size, inputs' hash
    part-000000.parquet        one per shard (``.csv`` with ``fmt="csv"``): one row per good file
    errors/part-000000.jsonl   the files of that shard that failed: path, error type, message, cause
    errors.jsonl               every failure, gathered at the end of each run

Columns: ``path`` (absolute), the file's identifiers (:data:`ID_COLUMNS`: ``object``,
``obsid``, ``ra``, ``dec``; null where the format has none), then :meth:`Predictor.predict`'s
outputs (labels, ``<head>_probability``, ``<label>_std`` ...), every class probability as
``<head>_p_<class>``, and ``domain_score`` / ``out_of_domain`` where the model has them.
Parquet shards carry each column's unit as field metadata (``unit``: K, dex, deg) and, as file
metadata, ``zoo.model``, ``zoo.card_sha256`` (the card the rows came from), ``zoo.version``,
``zoo.backend`` and ``zoo.units``.
A file that cannot be read or brought to the contract is logged and skipped; it never
costs the other rows.

Engines: ``local`` (one process, one model session) and ``dask`` (dask.distributed: one task
per shard, one model session per worker, each worker writes its own shards; the client
only collects their statuses).  Both run the same shard function with the same batches,
so their tables are identical.  Parquet and the Dask engine need the ``[scale]`` extra
(``pip install "stellar-spectra-zoo[scale]"``; from a clone ``pip install -e ".[scale]"``); CSV output with the local engine needs
nothing beyond the base install.
"""
from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import importlib
import itertools
import json
import os
import sys
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .errors import ZooError

__all__ = ["predict_archive", "expand_inputs", "read_rows", "read_table", "BatchResult", "ID_COLUMNS",
           "column_units", "file_fault",
           "MissingExtraError", "BatchStateError", "FORMATS", "ENGINES", "SCALE_EXTRA"]

FORMATS = ("parquet", "csv")
ENGINES = ("local", "dask")
SCALE_EXTRA = ('pip install "stellar-spectra-zoo[scale]" (from a clone of the repository: '
               'pip install -e ".[scale]")')
#: the file identifiers written beside each row, from the reader's ``meta`` (None where a format
#: has none): ``object`` (LAMOST designation, APOGEE id, the Ondrejov object name), ``obsid``
#: (LAMOST), ``ra`` / ``dec`` (ICRS degrees, as the file's header gives them)
ID_COLUMNS = ("object", "obsid", "ra", "dec")
MANIFEST = "manifest.json"
ERRORS = "errors.jsonl"
_MANIFEST_VERSION = 1


class MissingExtraError(ZooError, ImportError):
    """An optional dependency (the ``[scale]`` extra: pyarrow, dask.distributed) is not installed."""


class BatchStateError(ZooError, RuntimeError):
    """The output directory holds another run (other inputs, model or settings) than the one asked for."""


def _require(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"{what} needs {module.split('.')[0]}, which is not installed: "
                                f"{SCALE_EXTRA}") from exc


# --------------------------------------------------------------------------- inputs
def expand_inputs(inputs) -> list[str]:
    """Files, globs (``**`` recursive) and directories (walked, hidden names skipped) as one
    sorted list of unique absolute paths.  A name that matches nothing stays in the list, so
    that it is reported in the error log rather than silently dropped."""
    out = set()
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            for d, dirs, files in os.walk(item):
                dirs[:] = sorted(x for x in dirs if not x.startswith("."))
                out.update(os.path.join(d, f) for f in files if not f.startswith("."))
        elif glob.has_magic(item):
            hits = [h for h in glob.glob(item, recursive=True) if os.path.isfile(h)]
            out.update(hits or [item])
        else:
            out.add(item)
    return sorted({os.path.abspath(p) for p in out})


def _inputs_hash(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()


def _shard_name(index: int, fmt: str) -> str:
    return f"part-{index:06d}.{fmt}"


# --------------------------------------------------------------------------- one shard
def _file_fault_types():
    """``(types that are the file's fault, types that never are)``: the one list both the live
    classification and the reading of older error logs use."""
    from .errors import ArtifactError, SpectrumError, SpectrumFileError
    return (SpectrumError, SpectrumFileError, OSError, EOFError, UnicodeError), (ArtifactError,)


def file_fault(exc: BaseException) -> bool:
    """Whether an exception is the file's fault (unreadable, corrupt, missing, or a spectrum the
    model's input contract refuses), as opposed to the zoo's own state or the machine (a
    registry not yet filled, a lost worker, memory): those are retried, never logged as a bad
    file."""
    fault, never = _file_fault_types()
    return isinstance(exc, fault) and not isinstance(exc, never)


def _error_entry(path, exc) -> dict:
    """An error-log line: ``cause`` is ``"file"`` (skipped for good) or ``"zoo"`` (not the file's
    fault: a resumed run redoes its shard)."""
    return {"path": path, "error": type(exc).__name__, "message": str(exc),
            "cause": "file" if file_fault(exc) else "zoo"}


def _angle_deg(v, hours: bool):
    """A header coordinate as float degrees (numbers as they are; sexagesimal strings parsed)."""
    if v is None:
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    try:
        import astropy.units as u
        from astropy.coordinates import Angle
        return float(Angle(str(v), unit=u.hourangle if hours else u.deg).deg)
    except Exception:  # noqa: BLE001  (an unparsable header value is left out, not an error)
        return None


def file_ids(meta: dict) -> dict:
    """:data:`ID_COLUMNS` from a reader's ``meta``."""
    meta = meta or {}
    obsid = meta.get("obsid")
    return {"object": None if meta.get("object") is None else str(meta["object"]).strip(),
            "obsid": None if obsid is None else int(obsid),
            "ra": _angle_deg(meta.get("ra"), hours=True), "dec": _angle_deg(meta.get("dec"), hours=False)}


def _prepare_one(predictor, path, instrument=None):
    """``(path, Prepared, None, ids)`` or ``(path, None, error entry, None)``.  A failure that is
    not the file's fault is retried once, after making sure every family is registered."""
    from .io import read
    for attempt in (0, 1):
        try:
            spec = read(path)
            return path, predictor.prepare(spec, instrument=instrument), None, file_ids(spec.meta)
        except Exception as exc:  # noqa: BLE001  (a batch reports every failure and goes on)
            if attempt or file_fault(exc):
                return path, None, _error_entry(path, exc), None
            from .registry import load_families
            load_families()


def _predict_prepared(predictor, prep, predict_kw):
    """``Predictor.predict_prepared`` on spectra prepared in the reader threads: the same outputs,
    uncertainties and trust columns as ``predict(files)``, and the raw outputs (class probabilities)
    of the same network call."""
    kw = {k: v for k, v in predict_kw.items() if k != "instrument"}   # a prepare-stage option
    return predictor.predict_prepared(prep, return_raw=True, **kw)


def _columns(card, paths, pred, raw, ids) -> dict[str, np.ndarray]:
    """``path``, the file identifiers, the predicted columns, ``<head>_p_<class>``; the trust
    columns last."""
    cols = {"path": np.asarray(paths, dtype=object)}
    for k in ID_COLUMNS:
        cols[k] = np.asarray([i[k] for i in ids], dtype=object)
    trust = {k: pred[k] for k in ("domain_score", "out_of_domain") if k in pred}
    cols.update({k: np.asarray(v) for k, v in pred.items() if k not in trust})
    for o in card.outputs:
        if o.kind == "class" and o.name in raw:
            p = np.asarray(raw[o.name])
            cols.update({f"{o.name}_p_{c}": p[:, j] for j, c in enumerate(o.classes)})
    cols.update({k: np.asarray(v) for k, v in trust.items()})
    return cols


def column_units(card) -> dict[str, str]:
    """Units of the output columns: each regressed label and its ``_std`` / ``_std_noise`` in the
    card's units (K, dex), ``ra`` / ``dec`` in deg; columns without a unit are absent."""
    units = {"ra": "deg", "dec": "deg"}
    for o in card.outputs:
        for lab, unit in zip(o.labels, o.units or []):
            if unit:
                units.update({lab: unit, f"{lab}_std": unit, f"{lab}_std_noise": unit})
    return units


def _concat(parts: list[dict]) -> dict:
    if not parts:
        return {}
    keys = list(parts[0])
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in keys}


def _run_shard(predictor, items, batch_size: int, predict_kw: dict, on_file=None):
    """Consume ``(path, Prepared | None, error | None)`` in order, run the model on batches of
    ``batch_size`` good files; returns ``(columns, errors)``.  Should a whole batch fail in the
    model stage, its files are run one by one so that only the culprit is lost."""
    from .preprocess import Prepared
    parts, errors, pending = [], [], []

    def run(batch):
        errs = [p.error for _, p, _ in batch]
        prep = Prepared(np.concatenate([p.flux for _, p, _ in batch]),
                        None if any(e is None for e in errs) else np.concatenate(errs),
                        np.concatenate([p.mask for _, p, _ in batch]))
        pred, raw = _predict_prepared(predictor, prep, predict_kw)
        return _columns(predictor.card, [path for path, _, _ in batch], pred, raw,
                        [ids for _, _, ids in batch])

    def flush():
        if not pending:
            return
        try:
            parts.append(run(pending))
        except Exception:  # noqa: BLE001
            for one in pending:
                try:
                    parts.append(run([one]))
                except Exception as exc:  # noqa: BLE001
                    errors.append(_error_entry(one[0], exc))
        pending.clear()

    for path, prep, err, ids in items:
        if err is not None:
            errors.append(err)
        else:
            pending.append((path, prep, ids))
            if len(pending) >= batch_size:
                flush()
        if on_file is not None:
            on_file(err is not None)
    flush()
    return _concat(parts), errors


def _subclass_names(*bases) -> set[str]:
    names, todo = set(), list(bases)
    while todo:
        c = todo.pop()
        if c.__name__ not in names:
            names.add(c.__name__)
            todo += c.__subclasses__()
    return names


def _entry_is_files_fault(entry: dict) -> bool:
    """An error-log line's cause; lines written before causes were recorded are judged by the
    error's type name (a zoo-state failure such as ``ValueError: unknown flux normalization``
    was logged as a bad file by older runs)."""
    if "cause" in entry:
        return entry["cause"] == "file"
    fault, never = _file_fault_types()
    return entry.get("error") in _subclass_names(*fault) - _subclass_names(*never)


def _shard_done(out: str, index: int, fmt: str) -> bool:
    """A shard is done when its table exists and every failure in its error log was the file's
    fault; a shard with a failure that was not (the zoo's state, the machine) is redone."""
    if not os.path.exists(os.path.join(out, _shard_name(index, fmt))):
        return False
    err_path = os.path.join(out, "errors", f"part-{index:06d}.jsonl")
    if not os.path.exists(err_path):
        return True
    with open(err_path, encoding="utf-8") as fh:
        entries = [json.loads(ln) for ln in fh if ln.strip()]
    return all(_entry_is_files_fault(e) for e in entries)


def _replace_atomically(path: str, write) -> None:
    """``write(tmp)`` then ``os.replace(tmp, path)``: readers see the whole file or none."""
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_csv(path, cols):
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(list(cols) or ["path"])
            n = len(next(iter(cols.values()))) if cols else 0
            arrays = [np.asarray(v) for v in cols.values()]
            for i in range(n):
                w.writerow([_plain(a[i]) for a in arrays])
    _replace_atomically(path, write)


def _plain(v):
    v = v.item() if isinstance(v, np.generic) else v
    return repr(v) if isinstance(v, float) else v


def _write_parquet(path, cols, meta=None):
    """A Parquet shard; ``meta`` (:func:`_table_metadata`) gives each column's unit (field metadata
    ``unit``) and the file's ``zoo.*`` metadata (model, card sha256, zoo version)."""
    pa = _require("pyarrow", "Parquet output")
    pq = _require("pyarrow.parquet", "Parquet output")
    meta = meta or {}
    units = meta.get("units", {})
    if not cols:
        table = pa.table({"path": pa.array([], pa.string())})
    else:
        arrays = {k: pa.array(np.asarray(v).tolist() if np.asarray(v).dtype.kind in "OU" else v)
                  for k, v in cols.items()}
        fields = [pa.field(k, a.type, metadata={"unit": units[k]} if k in units else None)
                  for k, a in arrays.items()]
        table = pa.Table.from_arrays(list(arrays.values()), schema=pa.schema(fields))
    file_meta = {f"zoo.{k}": (v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **file_meta})
    _replace_atomically(path, lambda tmp: pq.write_table(table, tmp))


def _table_metadata(predictor) -> dict:
    """What every shard says of itself: the model, the sha256 of its card, the zoo's version and
    the columns' units."""
    from . import __version__
    from .artifacts import sha256
    card_file = os.path.join(predictor.directory, "card.json")
    return {"model": predictor.card.name, "card_sha256": sha256(card_file), "version": __version__,
            "backend": predictor.backend, "units": column_units(predictor.card)}


def _write_shard(out: str, index: int, fmt: str, cols: dict, errors: list, meta=None) -> None:
    """The shard's error log first, then its table: the table's final name marks the shard done."""
    err_path = os.path.join(out, "errors", f"part-{index:06d}.jsonl")
    if errors:
        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as fh:
                for e in errors:
                    fh.write(json.dumps({**e, "shard": index}) + "\n")
        _replace_atomically(err_path, write)
    elif os.path.exists(err_path):
        os.remove(err_path)
    target = os.path.join(out, _shard_name(index, fmt))
    if fmt == "parquet":
        _write_parquet(target, cols, meta)
    else:
        _write_csv(target, cols)


def _prepared(predictor, jobs, readers: int, prefetch: int, instrument=None):
    """``(key, path, Prepared | None, error | None)`` for ``(key, path)`` jobs, in order, read and
    prepared by ``readers`` threads that keep at most ``prefetch`` files ahead of the consumer."""
    pool = ThreadPoolExecutor(max(1, readers))
    window: deque = deque()
    jobs = iter(jobs)
    try:
        while True:
            while len(window) < max(1, prefetch):
                nxt = next(jobs, None)
                if nxt is None:
                    break
                window.append((nxt[0], pool.submit(_prepare_one, predictor, nxt[1], instrument)))
            if not window:
                return
            key, fut = window.popleft()
            yield (key, *fut.result())
    finally:  # interrupted: files not yet started are dropped, the running ones finish
        pool.shutdown(wait=True, cancel_futures=True)


def _process_shard(predictor, out, index, paths, fmt, batch_size, predict_kw, readers, prefetch):
    """Read + prepare ``paths`` in a thread pool, predict, write the shard; a status dict."""
    t0 = time.perf_counter()
    with contextlib.closing(_prepared(predictor, ((index, p) for p in paths), readers, prefetch,
                                      predict_kw.get("instrument"))) as stream:
        cols, errors = _run_shard(predictor, (item[1:] for item in stream), batch_size, predict_kw)
    _write_shard(out, index, fmt, cols, errors, _table_metadata(predictor))
    n = len(cols["path"]) if cols else 0
    return {"shard": index, "files": len(paths), "rows": n, "failed": len(errors),
            "seconds": time.perf_counter() - t0}


def _load_predictor(directory, backend, device, onnx_threads=None):
    """The model session of a run.  ``onnx_threads``: ONNX Runtime's intra-op threads (its default
    is one per core in every session, which oversubscribes a node running one single-threaded
    worker per core)."""
    from .predictor import Predictor
    predictor = Predictor(directory, backend=backend, device=device)
    kit = getattr(predictor, "onnx_model", None)
    if onnx_threads and kit is not None:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(onnx_threads)
        so.inter_op_num_threads = 1
        kit.session = ort.InferenceSession(kit.path, so, providers=kit.session.get_providers())
        predictor.session = kit.session
    return predictor


# --------------------------------------------------------------------------- Dask workers
_WORKER_PREDICTORS: dict = {}
_WORKER_LOCK = threading.Lock()


def _worker_predictor(spec: dict):
    """One model session per worker (per worker process; per worker id when workers are threads)."""
    try:
        from distributed import get_worker
        wid = get_worker().id
    except (ImportError, ValueError):
        wid = None
    key = (spec["directory"], spec["backend"], spec["device"], spec["onnx_threads"], wid)
    with _WORKER_LOCK:
        if key not in _WORKER_PREDICTORS:
            _WORKER_PREDICTORS[key] = _load_predictor(spec["directory"], spec["backend"], spec["device"],
                                                      spec["onnx_threads"])
        return _WORKER_PREDICTORS[key]


def _dask_shard(spec: dict, index: int, paths: list[str]) -> dict:
    """The task of one shard on a Dask worker: it writes the shard itself and returns its status."""
    predictor = _worker_predictor(spec)
    status = _process_shard(predictor, spec["out"], index, paths, spec["format"], spec["batch_size"],
                            spec["predict_kw"], spec["readers"], spec["prefetch"])
    try:
        from distributed import get_worker
        status["worker"] = get_worker().address
    except (ImportError, ValueError):
        pass
    return status


# --------------------------------------------------------------------------- the run
@dataclass
class BatchResult:
    """What a :func:`predict_archive` call did."""

    out: str
    n_files: int                    # inputs in the run (all shards)
    n_shards: int
    shards_skipped: int             # already done before this call
    shards_written: int             # written by this call
    rows: int                       # rows written by this call
    failed: int                     # files in the error log (all done shards)
    failed_shards: list = field(default_factory=list)   # (shard, message): tasks that crashed
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.shards_skipped + self.shards_written == self.n_shards

    @property
    def ok(self) -> bool:
        return self.complete and not self.failed and not self.failed_shards


def _check_manifest(out: str, manifest: dict) -> None:
    path = os.path.join(out, MANIFEST)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            old = json.load(fh)
        diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
        if diff:
            raise BatchStateError(
                f"{out} holds another run ({', '.join(f'{k}: {old.get(k)!r} there, {manifest.get(k)!r} now' for k in diff)}); "
                "resume it with the same inputs and settings, or give another --out")
        return
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1)
    _replace_atomically(path, write)


def _gather_errors(out: str, fmt: str, n_shards: int) -> int:
    """errors.jsonl from the error logs of the done shards; the number of failed files."""
    lines = []
    for i in range(n_shards):
        p = os.path.join(out, "errors", f"part-{i:06d}.jsonl")
        if os.path.exists(p) and os.path.exists(os.path.join(out, _shard_name(i, fmt))):
            with open(p, encoding="utf-8") as fh:
                lines += [ln for ln in fh if ln.strip()]

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
    _replace_atomically(os.path.join(out, ERRORS), write)
    return len(lines)


def _remove_stale_temps(out: str) -> None:
    for d in (out, os.path.join(out, "errors")):
        for p in glob.glob(os.path.join(d, ".*.tmp")):
            try:
                os.remove(p)
            except OSError:
                pass


def predict_archive(name: str, inputs, out, *, engine: str = "local", fmt: str = "parquet",
                    backend: str = "auto", device: str = "auto", directory=None,
                    batch_size: int = 256, shard_size: int = 1000, readers: int | None = None,
                    prefetch: int | None = None, scheduler=None, workers: int | None = None,
                    max_shards: int | None = None, onnx_threads: int | None = None, progress: bool = True,
                    predict_kw: dict | None = None, client=None) -> BatchResult:
    """Predict every file of ``inputs`` with model ``name`` into shards in directory ``out``.

    Parameters
    ----------
    inputs : files, globs and directories (:func:`expand_inputs`).
    engine : ``"local"`` or ``"dask"``.
    fmt : ``"parquet"`` (pyarrow) or ``"csv"``.
    backend, device, directory : as :func:`zoo.load_model` (default ``"auto"``: ONNX Runtime, no
        TensorFlow).
    batch_size : spectra per model call; shard_size : files per output shard.
    readers : reader threads (read + preprocess); default the number of CPUs (local) or 2
        per worker (dask).  prefetch : spectra prepared ahead of the model (local; default
        ``2 * batch_size``).
    scheduler : a Dask scheduler address (``tcp://...``) or scheduler file (``.json``, written by
        ``dask scheduler --scheduler-file``); default a LocalCluster of ``workers``
        processes (default 2) with one thread each.  client : an existing
        ``distributed.Client`` instead.
    max_shards : stop after writing this many shards (an archive in slices, e.g. within a job's
        wall time); the next call goes on where this one stopped.
    onnx_threads : ONNX Runtime intra-op threads per model session (default: its own, one per
        core); give 1 with one single-threaded Dask worker per core.
    predict_kw : keyword arguments of :meth:`Predictor.predict` (``return_uncertainty`` ...).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    if batch_size < 1 or shard_size < 1:
        raise ValueError("batch_size and shard_size must be positive")
    if fmt == "parquet":
        _require("pyarrow.parquet", "Parquet output (or use CSV: --format csv)")
    if engine == "dask":
        _require("distributed", "the Dask engine")
    t0 = time.perf_counter()
    from .predictor import AUTO_BACKEND, BACKENDS
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    backend = AUTO_BACKEND if backend == "auto" else backend    # the manifest records what runs
    from . import model_dir
    from .registry import get_entry
    if directory is None:
        directory = model_dir(name)          # a model of the user's own
    if directory is None:
        get_entry(name)
        from .hub import locate
        directory = locate(name)
    directory = os.path.abspath(os.fspath(directory))
    out = os.path.abspath(os.fspath(out))
    paths = expand_inputs(inputs)
    predict_kw = dict(predict_kw or {})
    n_shards = (len(paths) + shard_size - 1) // shard_size
    os.makedirs(os.path.join(out, "errors"), exist_ok=True)
    _check_manifest(out, {"version": _MANIFEST_VERSION, "model": name, "backend": backend,
                          "format": fmt, "shard_size": shard_size, "batch_size": batch_size,
                          "predict_kw": predict_kw, "n_files": len(paths), "n_shards": n_shards,
                          "inputs_sha256": _inputs_hash(paths)})
    _remove_stale_temps(out)
    todo = [(i, paths[i * shard_size:(i + 1) * shard_size]) for i in range(n_shards)
            if not _shard_done(out, i, fmt)]
    skipped = n_shards - len(todo)
    done_files = len(paths) - sum(len(p) for _, p in todo)
    if max_shards is not None:
        todo = todo[:max(0, max_shards)]
    from tqdm.auto import tqdm
    bar = tqdm(total=len(paths), initial=done_files, unit="file", desc=name, disable=not progress,
               smoothing=0.1, file=sys.stderr)
    res = BatchResult(out=out, n_files=len(paths), n_shards=n_shards, shards_skipped=skipped,
                      shards_written=0, rows=0, failed=0)
    try:
        if engine == "local":
            _run_local(res, todo, directory, backend, device, out, fmt, batch_size, predict_kw,
                       readers or os.cpu_count() or 1, prefetch or 2 * batch_size, onnx_threads, bar)
        else:
            spec = {"directory": directory, "backend": backend, "device": device, "out": out,
                    "format": fmt, "batch_size": batch_size, "predict_kw": predict_kw,
                    "readers": readers or 2, "prefetch": prefetch or 2 * batch_size,
                    "onnx_threads": onnx_threads}
            _run_dask(res, todo, spec, scheduler, workers, client, bar)
    finally:
        bar.close()
        res.failed = _gather_errors(out, fmt, n_shards)
        res.seconds = time.perf_counter() - t0
    return res


def _run_local(res, todo, directory, backend, device, out, fmt, batch_size, predict_kw,
               readers, prefetch, onnx_threads, bar):
    """One model session; a reader pool keeps ``prefetch`` files prepared ahead of it, across
    shard boundaries, while the model runs on the current batch."""
    predictor = _load_predictor(directory, backend, device, onnx_threads)
    n_failed = [0]

    def on_file(failed):
        bar.update(1)
        if failed:
            n_failed[0] += 1
            bar.set_postfix(failed=n_failed[0], refresh=False)

    jobs = ((i, p) for i, paths in todo for p in paths)
    meta = _table_metadata(predictor)
    with contextlib.closing(_prepared(predictor, jobs, readers, prefetch, predict_kw.get("instrument"))) as stream:
        for i, group in itertools.groupby(stream, key=lambda item: item[0]):
            cols, errors = _run_shard(predictor, (item[1:] for item in group), batch_size, predict_kw,
                                      on_file)
            _write_shard(out, i, fmt, cols, errors, meta)
            res.shards_written += 1
            res.rows += len(cols["path"]) if cols else 0


def _run_dask(res, todo, spec, scheduler, workers, client, bar):
    distributed = _require("distributed", "the Dask engine")
    own = []
    if client is None:
        if scheduler and str(scheduler).endswith(".json") and os.path.exists(scheduler):
            client = distributed.Client(scheduler_file=scheduler)   # `dask scheduler --scheduler-file`
        elif scheduler:
            client = distributed.Client(scheduler)
        else:
            cluster = distributed.LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
            own.append(cluster)
            client = distributed.Client(cluster)
        own.insert(0, client)
    try:
        run = uuid.uuid4().hex[:8]
        futures = {client.submit(_dask_shard, spec, i, paths, key=f"zoo-shard-{i:06d}-{run}",
                                 pure=False, retries=1): (i, len(paths)) for i, paths in todo}
        n_failed = 0
        for fut in distributed.as_completed(list(futures)):
            i, n = futures[fut]
            try:
                status = fut.result()
            except Exception as exc:  # noqa: BLE001  (a crashed task: the shard is redone next run)
                res.failed_shards.append((i, f"{type(exc).__name__}: {exc}"))
                bar.update(n)
                continue
            res.shards_written += 1
            res.rows += status["rows"]
            n_failed += status["failed"]
            bar.update(status["files"])
            if n_failed:
                bar.set_postfix(failed=n_failed, refresh=False)
    finally:
        for obj in own:
            obj.close()


# --------------------------------------------------------------------------- reading results
def _manifest(out) -> dict:
    path = os.path.join(os.fspath(out), MANIFEST)
    if not os.path.exists(path):
        raise BatchStateError(f"{out}: no {MANIFEST}; not the output of `python -m zoo predict ... --out DIR`")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _shard_files(out) -> tuple[str, list[str]]:
    fmt = _manifest(out)["format"]
    return fmt, sorted(glob.glob(os.path.join(os.fspath(out), f"part-*.{fmt}")))


def read_table(out):
    """The done shards of a run as one ``pyarrow.Table`` (shards in order; needs pyarrow)."""
    pa = _require("pyarrow", "read_table")
    fmt, files = _shard_files(out)
    if fmt == "parquet":
        pq = _require("pyarrow.parquet", "read_table")
        tables = [t for t in (pq.read_table(f) for f in files) if t.num_rows]
    else:
        pcsv = _require("pyarrow.csv", "read_table")
        tables = [t for t in (pcsv.read_csv(f) for f in files) if t.num_rows]
    if not tables:
        return pa.table({"path": pa.array([], pa.string())})
    return pa.concat_tables(tables)


def read_rows(out) -> list[dict]:
    """The done shards of a run as a list of row dicts (Parquet: typed values; CSV: strings)."""
    fmt, files = _shard_files(out)
    if fmt == "parquet":
        return read_table(out).to_pylist()
    rows = []
    for f in files:
        with open(f, newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    return rows
