"""Archive-scale batch inference: spectrum files in, Parquet (or CSV) shards out, resumable.

    python -m zoo predict NAME 'archive/**/*.fits' --out results/                 # local engine
    python -m zoo predict NAME archive/ --out results/ --engine dask --workers 8  # a LocalCluster
    python -m zoo predict NAME archive/ --out results/ --engine dask --scheduler tcp://host:8786

The inputs (files, globs, directories) are expanded and sorted; shard ``i`` is files
``i*shard_size ... (i+1)*shard_size - 1`` of that list.  Each shard runs
read -> preprocess (to the model's input contract) -> batch -> model -> trust score: worker
processes (``workers``) read chunks of ``chunk_size`` files and bring each chunk to the contract
(the spectra that share a wavelength grid in one call), ``prefetch`` files ahead of the model,
which runs in this process on batches of ``batch_size`` good files of one shard; the workers then
score the trust of each batch (:class:`_Pipeline`).  ``workers=0`` and the Dask engine run the same
stages in threads.  A shard is written to a temporary name and renamed into place (``os.replace``).  A shard is done
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

Engines: ``local`` (one model session in this process, worker processes for the CPU stages) and
``dask`` (dask.distributed: one task per shard, one model session per worker, each worker writes its
own shards; the client only collects their statuses).  Both run the same pipeline with the same
batches, so their tables are identical (the trust score's BLAS runs one thread in the local engine's
workers and in Dask workers; with ``workers=0`` it runs the library's default threads, which can move
it by ~1e-12).  Parquet and the Dask engine need the ``[scale]`` extra
(``pip install "stellar-spectra-zoo[scale]"``; from a clone ``pip install -e ".[scale]"``); CSV output with the local engine needs
nothing beyond the base install.
"""
from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
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
#: spectra per model call (``--batch-size``)
BATCH_SIZE = 256
#: files per shard (``--shard-size``): the unit of output, of resumption and of Dask tasks
SHARD_SIZE = 1000
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


def _read_one(path):
    """``(Spectrum, None)`` or ``(None, error entry)``; a failure that is not the file's fault is
    retried once, after making sure every family is registered."""
    from .io import read
    for attempt in (0, 1):
        try:
            spec = read(path)
            return spec, None
        except Exception as exc:  # noqa: BLE001  (a batch reports every failure and goes on)
            if attempt or file_fault(exc):
                return None, _error_entry(path, exc)
            from .registry import load_families
            load_families()


def _prepare_chunk(predictor, paths, instrument=None) -> list:
    """Read the files of a chunk and bring them to the model's contract together
    (:meth:`Predictor.prepare_many`: the spectra that share a wavelength grid in one call, each row the
    one-file call's to the bit).  Returns ``(path, Prepared, None, ids)`` or ``(path, None, error entry,
    None)`` per file, in order.  A failure that is not the file's fault is retried once for that file,
    after making sure every family is registered."""
    out: list = [None] * len(paths)
    good = []
    for i, path in enumerate(paths):
        spec, err = _read_one(path)
        if err is not None:
            out[i] = (path, None, err, None)
            continue
        try:
            good.append((i, spec, file_ids(spec.meta)))
        except Exception as exc:  # noqa: BLE001
            out[i] = (path, None, _error_entry(path, exc), None)
    preps = predictor.prepare_many([s for _, s, _ in good], instrument=instrument) if good else []
    for (i, spec, ids), prep in zip(good, preps):
        if isinstance(prep, BaseException) and not file_fault(prep):
            from .registry import load_families
            load_families()
            prep = predictor.prepare_many([spec], instrument=instrument)[0]
        if isinstance(prep, BaseException):
            out[i] = (paths[i], None, _error_entry(paths[i], prep), None)
        else:
            out[i] = (paths[i], prep, None, ids)
    return out


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


#: files read and prepared together: one task of a worker (the contract runs once per wavelength grid in it)
CHUNK_SIZE = 64
#: environment of the worker processes: one BLAS / OpenMP thread each (the processes are the parallelism)
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: worker-pool restarts allowed in one run after a worker died (killed, out of memory): the chunks it
#: held are tried once more, then logged with cause "zoo" (their shards are redone by the next run)
_MAX_RESTARTS = 3
_WORKER: dict = {}


def _watch_parent(parent: int) -> None:
    """Exit when the main process is gone (killed: SIGKILL, out of memory), instead of waiting on its
    task queue for ever."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(directory, parent: int | None = None) -> None:
    """A worker process of the local engine: the model's card, contract and trust method, no network."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is the main process's to handle
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="zoo-parent-watch").start()
    from .predictor import Predictor
    from .registry import load_families
    load_families()
    _WORKER["predictor"] = Predictor.without_network(directory)


def _worker_prepare(paths, instrument):
    return _prepare_chunk(_WORKER["predictor"], paths, instrument)


def _worker_domain(prep, raw, trust):
    return _WORKER["predictor"].domain(prep, raw, trust)


def _worker_ping():
    return os.getpid()


@contextlib.contextmanager
def _env(values: dict):
    """``os.environ`` with ``values`` where the user has not set them (for processes started inside)."""
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _main_not_rerun():
    """Start worker processes without re-running the ``__main__`` module in them: ``spawn`` imports it in
    each child (for functions pickled from it), which runs an unguarded script's top level again in every
    worker; the workers need nothing from it (their functions live in this module)."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            if "__spec__" in saved:
                main.__spec__ = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


class _Stages:
    """Where the CPU stages run (reading + the contract, per chunk; the trust score, per network batch):
    ``workers`` processes (spawned, each with the model's card and trust arrays but no network session),
    or, with ``workers=0``, ``threads`` threads of this process (a Dask worker's task).  Both run the same
    functions (:func:`_prepare_chunk`, :meth:`Predictor.domain`)."""

    def __init__(self, predictor, workers: int, threads: int, instrument, trust: str):
        self.predictor, self.workers, self.instrument, self.trust = predictor, int(workers), instrument, trust
        self.threads = max(1, int(threads or 1))
        self.restarts = 0
        self.generation = 0               # which pool a future came from (a dead worker breaks its pool's futures)
        self.pool = None
        self._start()

    def _start(self):
        self.pings = []
        if self.workers:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            with _env(_WORKER_ENV), _main_not_rerun():
                self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_worker_init,
                                                initargs=(self.predictor.directory, os.getpid()))
                # start them now, with the environment above (and in parallel with the model's load here)
                self.pings = [self.pool.submit(_worker_ping) for _ in range(self.workers)]
        else:
            self.pool = ThreadPoolExecutor(self.threads)

    def ready(self) -> None:
        """Wait for the worker processes to be up; should they fail to start at all, run the stages in
        threads of this process instead (with a warning)."""
        try:
            for f in self.pings:
                f.result()
        except Exception as exc:  # noqa: BLE001
            import warnings
            warnings.warn(f"the batch engine's worker processes could not start ({type(exc).__name__}: {exc}); "
                          f"reading, preparing and the trust score run in {self.threads} threads of this process",
                          RuntimeWarning, stacklevel=2)
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.workers = 0
            self._start()

    def _submit(self, fn, *args):
        if self.workers:
            with _main_not_rerun():      # should the pool start a process of its own
                return self.pool.submit(fn, *args)
        return self.pool.submit(fn, *args)

    def prepare(self, paths):
        if self.workers:
            return self._submit(_worker_prepare, paths, self.instrument)
        return self._submit(_prepare_chunk, self.predictor, paths, self.instrument)

    def domain(self, prep, raw):
        if self.workers:
            return self._submit(_worker_domain, prep, raw, self.trust)
        return self._submit(self.predictor.domain, prep, raw, self.trust)

    def restart(self) -> bool:
        """A new pool after a worker died (at most :data:`_MAX_RESTARTS` a run); False when none is left."""
        if not self.workers or self.restarts >= _MAX_RESTARTS:
            return False
        self.restarts += 1
        self.generation += 1
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._start()
        return True

    def close(self):
        if self.pool is not None:    # interrupted: files not yet started are dropped, running ones finish
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _broken(exc) -> bool:
    from concurrent.futures.process import BrokenProcessPool
    return isinstance(exc, BrokenProcessPool)


class _Shard:
    def __init__(self, index: int, n_chunks: int):
        self.index, self.chunks_left = index, n_chunks
        self.pending: list = []       # good files waiting for a full batch: (path, Prepared, ids)
        self.batches: list = []       # [columns, trust future or None, the batch's files]
        self.errors: list = []


class _Pipeline:
    """The stages of an archive run.  Chunks of ``chunk_size`` files of each shard are read and prepared
    by the stages (``depth`` chunks ahead of the network, across shard boundaries); batches of
    ``batch_size`` good files of one shard go through the network here, in order, and their trust score to
    the stages; ``write(shard, columns, errors)`` is called for each shard, in order, once its last score
    is in.  Memory: about ``(depth * chunk_size + (workers + 2) * batch_size)`` prepared spectra.  Should a
    whole batch fail in the network or trust stage, its files are run one by one here, so that only the
    culprit is lost."""

    def __init__(self, predictor, stages: _Stages, batch_size: int, predict_kw: dict, chunk_size: int,
                 depth: int, write, on_file=None):
        self.predictor, self.stages, self.batch_size, self.write = predictor, stages, batch_size, write
        self.kw = {k: v for k, v in predict_kw.items() if k != "instrument"}    # a prepare-stage option
        self.chunk_size, self.depth, self.on_file = max(1, int(chunk_size)), max(1, int(depth)), on_file
        self.has_trust = predictor.trust_method(stages.trust) is not None
        self.max_trust = max(1, stages.workers or stages.threads) + 1       # trust batches in flight

    # ------------------------------------------------------------------ the network
    def _columns(self, batch, pred, raw):
        return _columns(self.predictor.card, [p for p, _, _ in batch], pred, raw, [i for _, _, i in batch])

    @staticmethod
    def _stack(batch):
        from .preprocess import Prepared
        errs = [p.error for _, p, _ in batch]
        return Prepared(np.concatenate([p.flux for _, p, _ in batch]),
                        None if any(e is None for e in errs) else np.concatenate(errs),
                        np.concatenate([p.mask for _, p, _ in batch]))

    def _inline(self, batch):
        """Everything here, the trust score included (the fallback of a failed batch)."""
        prep = self._stack(batch)
        pred, raw = self.predictor.predict_prepared(prep, return_raw=True, trust=self.stages.trust, **self.kw)
        return self._columns(batch, pred, raw)

    def _one_by_one(self, shard, batch):
        for one in batch:
            try:
                shard.batches.append([self._inline([one]), None, [one]])
            except Exception as exc:  # noqa: BLE001
                shard.errors.append(_error_entry(one[0], exc))

    def _run_batch(self, shard):
        batch, shard.pending = shard.pending, []
        if not batch:
            return
        try:
            prep = self._stack(batch)
            pred, raw = self.predictor.predict_prepared(prep, return_raw=True, trust=None, **self.kw)
            cols = self._columns(batch, pred, raw)
            fut = self.stages.domain(prep, raw) if self.has_trust else None
        except Exception:  # noqa: BLE001
            self._one_by_one(shard, batch)
            return
        shard.batches.append([cols, fut, batch])

    # ------------------------------------------------------------------ writing, in order
    def _trust_in_flight(self):
        return [b[1] for s in self.open for b in s.batches if b[1] is not None and not b[1].done()]

    def _finish(self, shard):
        """The shard's trust scores into its columns (a failed score: its batch again, one by one, here)."""
        parts, errors = [], list(shard.errors)
        for cols, fut, batch in shard.batches:
            if fut is not None:
                try:
                    dom = fut.result()
                except Exception:  # noqa: BLE001
                    redo = _Shard(shard.index, 0)
                    self._one_by_one(redo, batch)
                    parts += [c for c, _, _ in redo.batches]
                    errors += redo.errors
                    continue
                cols.update({k: np.asarray(v) for k, v in dom.items()})
            parts.append(cols)
        self.write(shard.index, _concat(parts), errors)

    def _write_ready(self, block: bool = False):
        while self.open and self.open[0].chunks_left == 0:
            shard = self.open[0]
            if not block and any(f is not None and not f.done() for _, f, _ in shard.batches):
                return
            self.open.popleft()
            self._finish(shard)

    # ------------------------------------------------------------------ the run
    def _chunks(self, shards):
        for index, paths in shards:
            pieces = [paths[i:i + self.chunk_size] for i in range(0, len(paths), self.chunk_size)] or [[]]
            shard = _Shard(index, len(pieces))
            for piece in pieces:
                yield shard, piece

    def _result(self, piece, fut, generation):
        """A chunk's prepared files; a chunk whose worker died (or whose pool another chunk's worker took
        down) is tried once more in a new pool, then logged with cause "zoo" (not the files' fault: their
        shard is redone by the next run)."""
        try:
            return fut.result()
        except Exception as exc:  # noqa: BLE001
            if _broken(exc) and (generation != self.stages.generation or self.stages.restart()):
                try:
                    return self.stages.prepare(piece).result()
                except Exception as again:  # noqa: BLE001
                    exc = again
            entry = {"error": type(exc).__name__, "message": str(exc) or "a worker process died", "cause": "zoo"}
            return [(p, None, {"path": p, **entry}, None) for p in piece]

    def run(self, shards):
        self.open: deque = deque()
        inflight: deque = deque()
        chunks = self._chunks(shards)
        while True:
            while len(inflight) < self.depth:
                nxt = next(chunks, None)
                if nxt is None:
                    break
                shard, piece = nxt
                if not self.open or self.open[-1] is not shard:
                    self.open.append(shard)
                try:
                    fut = self.stages.prepare(piece)
                except Exception as exc:  # noqa: BLE001  (a broken pool: _result restarts it)
                    fut = Future()
                    fut.set_exception(exc)
                inflight.append((shard, piece, fut, self.stages.generation))
            if not inflight:
                break
            shard, piece, fut, generation = inflight.popleft()
            for path, prep, err, ids in self._result(piece, fut, generation):
                if err is not None:
                    shard.errors.append(err)
                else:
                    shard.pending.append((path, prep, ids))
                    if len(shard.pending) >= self.batch_size:
                        self._run_batch(shard)
                if self.on_file is not None:
                    self.on_file(err is not None)
            shard.chunks_left -= 1
            if shard.chunks_left == 0:
                self._run_batch(shard)
            self._write_ready()
            busy = self._trust_in_flight()
            while len(busy) > self.max_trust:        # back-pressure: the trust stage sets the pace
                wait(busy[:1])
                self._write_ready()
                busy = self._trust_in_flight()
        self._write_ready(block=True)


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


def _table_metadata(predictor, trust: str = "full") -> dict:
    """What every shard says of itself: the model, the sha256 of its card, the zoo's version, the
    columns' units and the trust method behind ``out_of_domain`` (``trust_method``: the card's, or
    ``"<method>:fast"`` with ``trust="fast"``, then with ``trust_description``: what it leaves out)."""
    from . import __version__
    from .artifacts import sha256
    card_file = os.path.join(predictor.directory, "card.json")
    meta = {"model": predictor.card.name, "card_sha256": sha256(card_file), "version": __version__,
            "backend": predictor.backend, "units": column_units(predictor.card)}
    method = predictor.trust_method(trust)
    if method:
        meta["trust_method"] = method
        if ":" in method:
            from .registry import trust_variant
            meta["trust_description"] = trust_variant(*method.split(":", 1))[1]
    return meta


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


def _process_shard(predictor, out, index, paths, fmt, batch_size, predict_kw, readers, prefetch,
                   chunk_size=None, trust="full"):
    """One shard in this process (a Dask worker's task): chunks read and prepared by ``readers`` threads,
    the network here, the trust score in the threads; writes the shard; a status dict."""
    t0 = time.perf_counter()
    chunk_size = chunk_size or CHUNK_SIZE
    status = {}

    def write(i, cols, errors):
        _write_shard(out, i, fmt, cols, errors, _table_metadata(predictor, trust))
        status.update(rows=len(cols["path"]) if cols else 0, failed=len(errors))

    with _Stages(predictor, 0, readers, predict_kw.get("instrument"), trust) as stages:
        _Pipeline(predictor, stages, batch_size, predict_kw, chunk_size,
                  max(1, -(-prefetch // chunk_size)), write).run([(index, paths)])
    return {"shard": index, "files": len(paths), "rows": status.get("rows", 0), "failed": status.get("failed", 0),
            "seconds": time.perf_counter() - t0}


def _load_predictor(directory, backend, device, onnx_threads=None, spin: bool = True):
    """The model session of a run.  ``onnx_threads``: ONNX Runtime's intra-op threads (its default
    is one per core in every session, which oversubscribes a node running one single-threaded
    worker per core).  ``spin=False``: its threads sleep between calls instead of spinning (the cores
    are the worker processes' meanwhile; the numbers are the same)."""
    from .predictor import Predictor
    predictor = Predictor(directory, backend=backend, device=device)
    kit = getattr(predictor, "onnx_model", None)
    if (onnx_threads or not spin) and kit is not None:
        import onnxruntime as ort
        so = ort.SessionOptions()
        if onnx_threads:
            so.intra_op_num_threads = int(onnx_threads)
            so.inter_op_num_threads = 1
        if not spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        kit.session = ort.InferenceSession(kit.path, so, providers=kit.session.get_providers())
        kit.parallel = 1                 # the threads are this run's to set: no parallel plans
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
                            spec["predict_kw"], spec["readers"], spec["prefetch"], spec.get("chunk_size"),
                            spec.get("trust", "full"))
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
    trust_method: str | None = None  # what out_of_domain comes from (the card's method, or "<method>:fast")

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
                    batch_size: int = BATCH_SIZE, shard_size: int = SHARD_SIZE, readers: int | None = None,
                    prefetch: int | None = None, scheduler=None, workers: int | None = None,
                    max_shards: int | None = None, onnx_threads: int | None = None, progress: bool = True,
                    predict_kw: dict | None = None, client=None, chunk_size: int = CHUNK_SIZE,
                    trust: str = "full") -> BatchResult:
    """Predict every file of ``inputs`` with model ``name`` into shards in directory ``out``.

    Parameters
    ----------
    inputs : files, globs and directories (:func:`expand_inputs`).
    engine : ``"local"`` or ``"dask"``.
    fmt : ``"parquet"`` (pyarrow) or ``"csv"``.
    backend, device, directory : as :func:`zoo.load_model` (default ``"auto"``: ONNX Runtime, no
        TensorFlow).
    batch_size : spectra per model call; shard_size : files per output shard.
    workers : worker processes.  Local engine: processes that read files and bring them to the
        contract (``chunk_size`` files a task, the spectra of a chunk that share a wavelength grid in one
        call) and compute the trust score of each network batch, while this process runs the network
        and writes the shards (default ``min(2, CPUs)``; ``0``: all in this process, with ``readers``
        threads).  Dask engine without ``scheduler``: the LocalCluster's worker processes (default 2).
    readers : threads for the CPU stages where they run in one process: the local engine with
        ``workers=0`` (default the number of CPUs) and each Dask worker (default 2).
    prefetch : files prepared ahead of the network (default ``2 * batch_size``): with the trust
        batches in flight, what bounds the memory (about ``prefetch + (workers + 2) * batch_size``
        prepared spectra).
    chunk_size : files per task of the CPU stages (default :data:`CHUNK_SIZE`); the results do not
        depend on it (the contract of a chunk gives each file's rows to the bit).
    trust : ``"full"`` (default: the card's trust method) or ``"fast"``: the method's registered cheaper
        variant where the family has one (RAC-Net: ``pca_knn_tpl:fast``, the knn part without the template
        fits, which flags a subset of what the full method flags); the manifest and every shard's
        metadata (``zoo.trust_method``, ``zoo.trust_description``) record it.
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
    if batch_size < 1 or shard_size < 1 or chunk_size < 1:
        raise ValueError("batch_size, shard_size and chunk_size must be positive")
    if workers is not None and workers < 0:
        raise ValueError("workers must be 0 or more")
    from .predictor import TRUST_MODES
    if trust not in TRUST_MODES:
        raise ValueError(f"trust must be one of {TRUST_MODES}, not {trust!r}")
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
                          "inputs_sha256": _inputs_hash(paths),
                          **({"trust": trust} if trust != "full" else {})})
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
    from .predictor import Predictor
    res = BatchResult(out=out, n_files=len(paths), n_shards=n_shards, shards_skipped=skipped,
                      shards_written=0, rows=0, failed=0,
                      trust_method=Predictor.without_network(directory).trust_method(trust))
    try:
        if engine == "local":
            _run_local(res, todo, directory, backend, device, out, fmt, batch_size, predict_kw,
                       min(2, os.cpu_count() or 1) if workers is None else workers,
                       readers or os.cpu_count() or 1, prefetch or 2 * batch_size, onnx_threads, bar,
                       chunk_size, trust)
        else:
            spec = {"directory": directory, "backend": backend, "device": device, "out": out,
                    "format": fmt, "batch_size": batch_size, "predict_kw": predict_kw,
                    "readers": readers or 2, "prefetch": prefetch or 2 * batch_size,
                    "onnx_threads": onnx_threads, "chunk_size": chunk_size, "trust": trust}
            _run_dask(res, todo, spec, scheduler, workers, client, bar)
    finally:
        bar.close()
        res.failed = _gather_errors(out, fmt, n_shards)
        res.seconds = time.perf_counter() - t0
    return res


def _run_local(res, todo, directory, backend, device, out, fmt, batch_size, predict_kw, workers,
               readers, prefetch, onnx_threads, bar, chunk_size=CHUNK_SIZE, trust="full"):
    """One model session here; ``workers`` processes (or, with none, ``readers`` threads) read and
    prepare chunks ``prefetch`` files ahead of it, across shard boundaries, and score the trust of the
    batches it has run, while it runs the next."""
    n_failed = [0]

    def on_file(failed):
        bar.update(1)
        if failed:
            n_failed[0] += 1
            bar.set_postfix(failed=n_failed[0], refresh=False)

    with _Stages(_DirectoryOnly(directory), workers, readers, predict_kw.get("instrument"), trust) as stages:
        predictor = _load_predictor(directory, backend, device, onnx_threads, spin=not workers)  # as they start
        stages.predictor = predictor
        stages.ready()
        meta = _table_metadata(predictor, trust)

        def write(i, cols, errors):
            _write_shard(out, i, fmt, cols, errors, meta)
            res.shards_written += 1
            res.rows += len(cols["path"]) if cols else 0

        depth = max(workers + 1, -(-prefetch // chunk_size))
        _Pipeline(predictor, stages, batch_size, predict_kw, chunk_size, depth, write, on_file).run(todo)


class _DirectoryOnly:
    """Where the model is, for the worker processes to start before the model is loaded here."""

    def __init__(self, directory):
        self.directory = directory


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
