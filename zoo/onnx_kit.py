"""ONNX deployment kit: a raw spectrum in, labels with units out -- numpy, astropy and ONNX Runtime only.

::

    from zoo.onnx_kit import OnnxModel
    m = OnnxModel("path/to/model/dir")          # or ".../model.onnx"
    m.contract                                   # the input contract (zoo.card.InputContract)
    m.predict(flux, wavelength=wave)             # class names / labels in the card's units
    m.run(x)                                     # raw outputs for x already on the contract grid

The contract travels with the model: every ONNX file the zoo exports carries
its card's input contract, input and output names, class names, units and
output standardization in the model's ``metadata_props`` (keys
:data:`METADATA_KEYS`, values JSON text; :func:`metadata_props`).  Files
exported before the kit existed have no such entries: the kit then reads the
same fields from the ``card.json`` beside the file (a model gets its
metadata on its next export).  Both are checked against each other when both
are there.

Preprocessing is :func:`zoo.preprocess.to_contract` (validation, air/vacuum,
resampling, the contract's normalization, the one fill stage): the same code
the :class:`zoo.predictor.Predictor` uses, and its ONNX backend *is* this
kit.  Nothing here imports TensorFlow, Keras, tf2onnx, SciPy or the download
machinery (tested with an import blocker); ``onnx`` is needed only to write
metadata (:func:`add_metadata`, used by :mod:`zoo.export`).
"""
from __future__ import annotations

import json
import os
import threading
import time
import warnings
from dataclasses import asdict

import numpy as np

from .card import InputContract, ModelCard, OutputSpec, _json_default
from .errors import ArtifactError
from .preprocess import Prepared, to_contract

__all__ = ["OnnxModel", "metadata_props", "add_metadata", "read_metadata", "contract_from_metadata",
           "decode", "select_providers", "METADATA_KEYS", "METADATA_VERSION"]

#: spectra per network call unless a caller says otherwise: as fast as larger calls on ONNX Runtime,
#: with a fraction of the memory (activations of 8575-pixel spectra are large; measured by
#: ``python -m benchmarks.batch_size_memory``)
BATCH_SIZE = 256

#: rows per ONNX Runtime call that ``chunk="auto"`` tries (``OnnxModel``), on the first call of at
#: least ``TUNE_ROWS`` rows; the outputs do not depend on the choice (each row is computed alone)
CHUNK_CANDIDATES = (8, 16, 32, 64, 128, 256, 512)
TUNE_ROWS = 128
#: chunk sizes also tried as parallel plans (``OnnxModel.parallel`` single-threaded calls at once)
PARALLEL_CANDIDATES = (16, 64, 256)
#: rows per thread of a timed parallel piece (at least): several calls each, as a batch gives them
PARALLEL_ROWS = 128
#: timed pieces of each candidate size (after one warm-up piece) before the choice is made
TUNE_SAMPLES = 3

#: version of the metadata layout below (bumped on an incompatible change)
METADATA_VERSION = "1"

#: the ``metadata_props`` entries written on export (all values are strings; JSON unless noted)
METADATA_KEYS = {
    "zoo.metadata_version": "layout version of these entries (plain text)",
    "zoo.name": "registered model name (plain text)",
    "zoo.title": "model title (plain text)",
    "zoo.input_name": "name of the graph input (plain text); a float32 (batch, n_pixels) tensor",
    "zoo.input_contract": "the card's input contract: wavelength grid, medium, normalization, fill rules",
    "zoo.output_names": "graph output names, in the card's order",
    "zoo.outputs": "per output: name, kind (class / regression), classes, labels, units, mean, std",
    "zoo.class_names": "{classifier head: [class names in softmax order]}",
    "zoo.units": "{regression output: {label: unit}}",
    "zoo.trust": "the card's out-of-domain method and threshold ({} when none)",
    "zoo.paper": "citation, doi, arXiv id of the paper",
}


# --------------------------------------------------------------------------- metadata
def metadata_props(card: ModelCard, input_name: str = "flux") -> dict[str, str]:
    """The ``metadata_props`` of ``card``'s ONNX file, as ``{key: string}``."""
    outputs = [asdict(o) for o in card.outputs]
    return {
        "zoo.metadata_version": METADATA_VERSION,
        "zoo.name": card.name,
        "zoo.title": card.title,
        "zoo.input_name": input_name,
        "zoo.input_contract": json.dumps(asdict(card.input), default=_json_default),
        "zoo.output_names": json.dumps(card.output_names),
        "zoo.outputs": json.dumps(outputs, default=_json_default),
        "zoo.class_names": json.dumps({o.name: list(o.classes) for o in card.outputs if o.kind == "class"}),
        "zoo.units": json.dumps({o.name: dict(zip(o.labels, o.units))
                                 for o in card.outputs if o.kind != "class"}),
        "zoo.trust": json.dumps(card.trust or {}, default=_json_default),
        "zoo.paper": json.dumps({k: card.paper[k] for k in ("citation", "doi", "arxiv") if k in card.paper}),
    }


def add_metadata(model_proto, card: ModelCard, input_name: str | None = None):
    """Write :func:`metadata_props` of ``card`` into an ``onnx.ModelProto`` (replacing
    earlier ``zoo.*`` entries, keeping others); returns the proto."""
    name = input_name or model_proto.graph.input[0].name
    props = metadata_props(card, name)
    keep = [(p.key, p.value) for p in model_proto.metadata_props if p.key not in props]
    del model_proto.metadata_props[:]
    for k, v in keep + sorted(props.items()):
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = k, v
    if not model_proto.doc_string:
        model_proto.doc_string = card.title
    return model_proto


def read_metadata(source) -> dict[str, str]:
    """``metadata_props`` of an ONNX file path or an ``onnxruntime.InferenceSession``
    (read through ONNX Runtime: the ``onnx`` package is not needed)."""
    if isinstance(source, (str, os.PathLike)):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        source = ort.InferenceSession(os.fspath(source), opts, providers=["CPUExecutionProvider"])
    return dict(source.get_modelmeta().custom_metadata_map)


def contract_from_metadata(meta: dict[str, str]) -> tuple[InputContract, list[OutputSpec]] | None:
    """The input contract and outputs stored in ``meta`` (None when it has no ``zoo.*`` entries)."""
    if "zoo.input_contract" not in meta or "zoo.outputs" not in meta:
        return None
    version = meta.get("zoo.metadata_version", "")
    if version != METADATA_VERSION:
        raise ArtifactError(f"ONNX metadata layout {version!r} is not the {METADATA_VERSION!r} "
                            "this version of the zoo reads")
    contract = InputContract(**json.loads(meta["zoo.input_contract"]))
    outputs = [OutputSpec(**o) for o in json.loads(meta["zoo.outputs"])]
    return contract, outputs


def _essential(contract: InputContract, outputs: list[OutputSpec], fields=None):
    """What a model computes with (free-text notes and descriptions may be edited later);
    ``fields``: only these contract fields (those an older file's metadata records)."""
    c = {k: v for k, v in asdict(contract).items() if k != "notes" and (fields is None or k in fields)}
    return c, [{k: v for k, v in asdict(o).items() if k != "description"} for o in outputs]


# --------------------------------------------------------------------------- running
def gpu_fallback_warning(what: str) -> None:
    warnings.warn(f"device='gpu' asked for, but {what}; running on the CPU "
                  "(install the [gpu] extra: tensorflow[and-cuda], onnxruntime-gpu)", RuntimeWarning,
                  stacklevel=4)


def select_providers(device: str = "auto") -> list[str]:
    """ONNX Runtime execution providers for ``device`` (``"auto"``, ``"cpu"``, ``"gpu"``):
    CUDA first when asked for (or ``auto``) and available, the CPU always."""
    import onnxruntime as ort
    providers = ["CPUExecutionProvider"]
    if device != "cpu":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        elif device == "gpu":
            gpu_fallback_warning("ONNX Runtime has no CUDA execution provider here")
    return providers


def decode(outputs: list[OutputSpec], raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Network outputs -> class names (and ``<head>_probability``, the probability of the
    chosen class) per classifier head, labels in their units per regression output
    (``y = mean + std * output`` where the card standardized the targets)."""
    result = {}
    for o in outputs:
        v = np.asarray(raw[o.name], float)
        if o.kind == "class":
            best = np.argmax(v, axis=-1)
            result[o.name] = np.asarray(o.classes)[best]
            result[f"{o.name}_probability"] = v[np.arange(v.shape[0]), best] if v.size else v[:, 0]
        else:
            if o.mean is not None:
                v = np.asarray(o.mean) + np.asarray(o.std) * v
            for j, lab in enumerate(o.labels):
                result[lab] = v[:, j]
    return result


class OnnxModel:
    """One exported ONNX model with its input contract, on ONNX Runtime.

    Parameters
    ----------
    path : a ``model.onnx`` file or the folder holding it (and, for older exports, ``card.json``).
    card : the model's :class:`~zoo.card.ModelCard` (default: ``card.json`` beside the file, if
        any).  The contract comes from the file's ``zoo.*`` metadata_props, else from the card;
        when both are there they must agree (free-text notes aside), else :class:`ArtifactError`.
    device : ``"auto"``, ``"cpu"`` or ``"gpu"`` (see :func:`select_providers`).
    providers, session_options : passed to ``onnxruntime.InferenceSession`` (override ``device``).
    chunk : rows per ONNX Runtime call inside one batch.  ``"auto"`` (default): on the CPU, chosen
        on the first calls of at least ``TUNE_ROWS`` rows, which run in pieces of each candidate plan
        and are timed (nothing is computed only to measure; about 5,000 rows for calls of 512): a
        chunk of ``CHUNK_CANDIDATES`` run by the session's threads, or, where the session is the
        default one, a chunk of ``PARALLEL_CANDIDATES`` run as one single-threaded call per core at
        once (data parallel: no synchronization between the cores inside a layer).  The fastest per
        row is kept; calls of fewer rows run in one piece.  On a GPU provider, no splitting.  An
        int: that many rows per call; ``None``: one call per batch.  On a two-core CPU the
        convolutional nets run 1.1-1.5x faster so than in one call of 512 (their activations stay
        in the cache; ``python -m benchmarks.performance``); the outputs are the same to the bit
        whatever the plan (each row is computed alone; ``tests/test_onnx_kit.py``).

    Attributes
    ----------
    contract, outputs, output_names, input_name, name, title, metadata (the raw
    ``metadata_props``), contract_source (``"metadata_props"`` or ``"card.json"``), session,
    chunk_info (after tuning: the chosen chunk, whether it runs in parallel and on how many threads,
    the rows it was measured on and the seconds per row of each candidate); parallel (the threads
    of the parallel plans; 1: none are tried).
    """

    def __init__(self, path, card: ModelCard | None = None, device: str = "auto", providers=None,
                 session_options=None, chunk="auto"):
        import onnxruntime as ort
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "model.onnx")
        if not os.path.isfile(path):
            raise ArtifactError(f"{path}: no such ONNX file")
        self.path = path
        try:
            self.session = ort.InferenceSession(path, session_options,
                                                providers=providers or select_providers(device))
        except Exception as exc:  # noqa: BLE001  (any ONNX Runtime failure is a bad artifact)
            raise ArtifactError(f"{path}: not a loadable ONNX model ({exc})") from exc
        self.metadata = read_metadata(self.session)
        embedded = contract_from_metadata(self.metadata)
        card_file = os.path.join(os.path.dirname(path), "card.json")
        if card is None and os.path.exists(card_file):
            card = ModelCard.from_json(card_file)
        if card is None and embedded is None:
            raise ArtifactError(f"{path}: the ONNX file carries no zoo.* metadata_props and there is "
                                "no card.json beside it; pass card= (an exported card)")
        if embedded is not None and card is not None:
            # a file exported before a contract field existed records only the older fields:
            # those must agree, the card supplies the rest
            recorded = set(json.loads(self.metadata["zoo.input_contract"]))
            if _essential(embedded[0], embedded[1], recorded) != _essential(card.input, card.outputs, recorded):
                raise ArtifactError(f"{path}: the input contract or outputs in its metadata_props differ "
                                    "from the card's; the file is not the one the card describes")
            embedded = (card.input, embedded[1])
        if embedded is not None:
            self.contract, self.outputs = embedded
            self.name = self.metadata.get("zoo.name", "")
            self.title = self.metadata.get("zoo.title", "")
            self.contract_source = "metadata_props"
        else:
            self.contract, self.outputs = card.input, list(card.outputs)
            self.name, self.title = card.name, card.title
            self.contract_source = "card.json"
        self.input_name = self.session.get_inputs()[0].name
        graph_outputs = [o.name for o in self.session.get_outputs()]
        self.output_names = [o.name for o in self.outputs]
        missing = set(self.output_names) - set(graph_outputs)
        if missing:
            raise ArtifactError(f"{path}: outputs {graph_outputs} lack {sorted(missing)}")
        if not (chunk is None or chunk == "auto" or (isinstance(chunk, int) and chunk > 0)):
            raise ValueError(f"chunk must be 'auto', None or a positive int, not {chunk!r}")
        if chunk == "auto" and self.session.get_providers()[0] != "CPUExecutionProvider":
            chunk = None   # a GPU wants the whole batch
        self.chunk = chunk
        self.chunk_info: dict | None = None
        self._tune_lock = threading.Lock()
        self._tuning: dict = {}
        # the parallel plans need a session of our own making (a caller's options may limit the threads)
        self.parallel = (os.cpu_count() or 1) if (chunk == "auto" and session_options is None
                                                  and providers is None) else 1
        self._serial_session = None
        self._pool = None

    @property
    def labels(self) -> dict[str, list[str]]:
        """Class names per classifier head and label names per regression output."""
        return {o.name: list(o.classes if o.kind == "class" else o.labels) for o in self.outputs}

    # ------------------------------------------------------------------ steps
    def prepare(self, flux, wavelength=None, *, error=None, mask=None, medium=None) -> Prepared:
        """Bring a raw spectrum (or a batch sharing one wavelength grid, or a
        :class:`zoo.spectrum.Spectrum`) onto the contract: :func:`zoo.preprocess.to_contract`."""
        if hasattr(flux, "flux") and hasattr(flux, "wavelength") and not isinstance(flux, np.ndarray):
            s = flux
            return to_contract(s.flux, self.contract, s.wavelength, error=s.error, mask=s.mask,
                               medium=getattr(s, "medium", None))
        return to_contract(flux, self.contract, wavelength, error=error, mask=mask, medium=medium)

    def run(self, x, batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
        """Raw outputs (probabilities, standardized regressions) for ``x`` already on the contract,
        ``(n, n_pixels)`` float32, run in batches of ``batch_size``."""
        x = np.asarray(x, np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[0] == 0:
            return {o.name: np.zeros((0, len(o.classes) if o.kind == "class" else len(o.labels)), np.float32)
                    for o in self.outputs}
        parts: dict[str, list] = {}
        for i in range(0, x.shape[0], batch_size):
            for k, v in self(x[i:i + batch_size]).items():
                parts.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in parts.items()}

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs for one batch: ONNX Runtime calls of ``chunk`` rows (see the class)."""
        x = np.ascontiguousarray(x, np.float32)
        plan = self._plan_for(x)
        if plan == "tune":
            with self._tune_lock:      # calls in other threads would disturb the clock
                parts = self._tuning_pass(x)
        else:
            chunk, parallel = plan
            if chunk is None or (x.shape[0] <= chunk and not parallel):
                return self._session_run(x)
            parts = self._run_pieces(x, chunk, parallel)
        return {k: np.concatenate([p[k] for p in parts]) for k in self.output_names}

    def _session_run(self, x: np.ndarray, session=None) -> dict[str, np.ndarray]:
        session = session or self.session
        return dict(zip(self.output_names, session.run(self.output_names, {self.input_name: x})))

    def _run_pieces(self, x: np.ndarray, chunk: int, parallel: bool) -> list[dict]:
        pieces = [x[i:i + chunk] for i in range(0, x.shape[0], chunk)]
        if not parallel:
            return [self._session_run(p) for p in pieces]
        serial = self._serial()
        return list(self._pool.map(lambda p: self._session_run(p, serial), pieces))

    def _serial(self):
        """The single-threaded session of the parallel plans (one call per core at a time) and its
        thread pool, made on first use."""
        if self._serial_session is None:
            import onnxruntime as ort
            from concurrent.futures import ThreadPoolExecutor
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            self._serial_session = ort.InferenceSession(self.path, so, providers=self.session.get_providers())
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="zoo-onnx")
        return self._serial_session

    def _plan_for(self, x: np.ndarray):
        if self.chunk != "auto":
            return self.chunk, False
        if self.chunk_info is not None:
            return self.chunk_info["chunk"], self.chunk_info["parallel"]
        if x.shape[0] < TUNE_ROWS:
            return None, False       # too few rows to measure on: one call
        return "tune"

    def _candidates(self) -> list[tuple[int, bool]]:
        out = [(c, False) for c in CHUNK_CANDIDATES]
        if self.parallel > 1:
            out += [(c, True) for c in PARALLEL_CANDIDATES]
        return out

    def _tuning_pass(self, x: np.ndarray) -> list[dict]:
        """Run ``x`` in pieces of the candidate plans that fit it, the least measured first, and
        time each piece: the tuning is done on the rows the caller wants anyway (nothing is
        computed twice).  A plan is a chunk size, run by the session's own threads or (parallel)
        ``parallel`` single-threaded calls at once; a parallel piece is ``PARALLEL_ROWS`` rows (or a
        chunk, if larger) per thread.  The
        first piece of each plan is a warm-up; after ``TUNE_SAMPLES`` timed pieces of every plan up
        to the largest call seen, the fastest per row is kept (a tie within 3 % goes to the larger
        chunk: fewer calls)."""
        n = x.shape[0]
        candidates = self._candidates()
        rows = {(c, par): max(c, PARALLEL_ROWS) * self.parallel if par else c for c, par in candidates}
        seen = self._tuning.setdefault("seen", {k: [] for k in candidates})
        self._tuning["largest"] = max(self._tuning.get("largest", 0), n)
        parts, i = [], 0
        while i < n:
            fits = [k for k in candidates if rows[k] <= n - i]
            if not fits or self.chunk_info is not None:
                chunk, parallel = (self.chunk_info["chunk"], self.chunk_info["parallel"]) if self.chunk_info \
                    else (n - i, False)
                parts += self._run_pieces(x[i:], chunk, parallel)
                break
            k = min(fits, key=lambda k: (len(seen[k]), rows[k], k[1]))
            if k[1]:
                self._serial()
            t = time.perf_counter()
            parts += self._run_pieces(x[i:i + rows[k]], k[0], k[1])
            seen[k].append((time.perf_counter() - t) / rows[k])
            i += rows[k]
            wanted = [k for k in candidates if rows[k] <= self._tuning["largest"]]
            if all(len(seen[k]) > TUNE_SAMPLES for k in wanted):
                per_row = {k: min(seen[k][1:]) for k in wanted}
                fastest = min(per_row.values())
                chunk, parallel = max((k for k, s in per_row.items() if s <= 1.03 * fastest),
                                      key=lambda k: (rows[k], k[1]))
                self.chunk_info = {"chunk": chunk, "parallel": parallel,
                                   "threads": self.parallel if parallel else None,
                                   "rows": sum(rows[k] * len(seen[k]) for k in wanted),
                                   "seconds_per_row": {f"{c}{' parallel' if par else ''}": v
                                                       for (c, par), v in per_row.items()}}
                if not parallel and self._pool is not None:
                    self._pool.shutdown(wait=False)
                    self._pool, self._serial_session = None, None
        return parts

    def decode(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw outputs -> class names and labels in their units (:func:`decode`)."""
        return decode(self.outputs, raw)

    def predict(self, flux, wavelength=None, *, error=None, mask=None, medium=None,
                batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
        """Raw spectrum in, class names / labels with units out: ``decode(run(prepare(...)))``."""
        prep = self.prepare(flux, wavelength, error=error, mask=mask, medium=medium)
        return self.decode(self.run(prep.flux, batch_size))

    def __repr__(self):
        return f"OnnxModel({self.name!r}, contract from {self.contract_source})"
