"""One predictor for every model: spectra in, labels with units (and uncertainties) out.

``load_model(name, backend=...)`` returns a :class:`Predictor` over the
artifacts in ``exported/<name>/``.  The card's input contract brings any
spectrum to the model's grid (:func:`zoo.preprocess.to_contract`); the card's
outputs turn network outputs into class names or physical units.  Backends:

- ``"auto"``:       the default: ``"onnx"``;
- ``"keras"``:      ``model.keras`` (safe_mode on), or the registered architecture with the
                    weights of ``model.onnx`` (``zoo.derive``), through a compiled ``tf.function``;
- ``"onnx"``:       ``model.onnx`` through ONNX Runtime with :class:`zoo.onnx_kit.OnnxModel`,
                    the standalone deployment kit (TensorFlow is never imported);
- ``"savedmodel"``: the TF SavedModel's serving signature.

All give the same answers to float32 round-off (tested on real spectra).
"""
from __future__ import annotations

import os

import numpy as np

from .card import ModelCard
from .errors import ArtifactError, ChecksumMismatchError
from .onnx_kit import BATCH_SIZE
from .preprocess import Prepared, to_contract, to_contract_many
from .spectrum import Spectrum

#: noise realizations drawn at once (see ``Predictor.predict``): 2048 x 8575 float32 = 70 MB
NOISE_ROWS = 2048

__all__ = ["Predictor", "exported_dir", "BACKENDS", "AUTO_BACKEND", "TRUST_MODES"]

BACKENDS = ("auto", "keras", "onnx", "savedmodel")
#: ``trust=`` of :meth:`Predictor.predict` / :meth:`Predictor.domain`: the card's method, or its registered
#: cheaper variant (where a family has one)
TRUST_MODES = ("full", "fast")
#: what ``backend="auto"`` (the default everywhere) runs: ONNX Runtime, the fast and portable path
#: that the base install has (no TensorFlow); Keras and the SavedModel stay available by name
AUTO_BACKEND = "onnx"
DEVICES = ("auto", "cpu", "gpu")


#: ``.npz`` artifacts read by :meth:`Predictor.artifact_arrays`: ``{(real path, sha256, dtype): arrays}``,
#: the oldest dropped beyond ``_ARRAYS_MAX`` entries
_ARRAYS: dict = {}
_ARRAYS_MAX = 32


def _gpu_fallback_warning(what: str) -> None:
    from .onnx_kit import gpu_fallback_warning
    gpu_fallback_warning(what)


def exported_dir(name: str | None = None) -> str:
    """``$ZOO_EXPORTED`` or the repository's ``exported/`` (optionally ``/<name>``): the first place
    :func:`zoo.load_model` looks (then the download cache, then the hub: :mod:`zoo.hub`)."""
    root = os.environ.get("ZOO_EXPORTED") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "exported")
    return os.path.join(root, name) if name else root


def _is_specutils(x) -> bool:
    return hasattr(x, "spectral_axis") and hasattr(x, "flux") and not isinstance(x, np.ndarray)


class Predictor:
    """Predict with a trained zoo model.

    Parameters
    ----------
    directory : path of the exported model (``card.json`` and artifacts).
    backend : ``"auto"`` (default: ONNX Runtime, no TensorFlow needed), ``"onnx"``, ``"keras"``
        or ``"savedmodel"``; ``self.backend`` is the one that runs.
    verify : check each artifact's sha256 against the card before loading it.
    """

    def __init__(self, directory, backend: str = "auto", verify: bool = True, device: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        backend = AUTO_BACKEND if backend == "auto" else backend
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
        self.device = device
        self.directory = os.fspath(directory)
        card_file = os.path.join(self.directory, "card.json")
        if not os.path.exists(card_file):
            hint = ("train and export the model first (python -m training.<model>)"
                    if os.path.isdir(os.path.dirname(os.path.abspath(self.directory))) else
                    "zoo.load_model(name) finds a trained model in exported/ ($ZOO_EXPORTED), the "
                    "download cache ($ZOO_CACHE) or the hub ($ZOO_HUB_URL; `python -m zoo download NAME`)")
            raise ArtifactError(f"{self.directory}: no card.json; {hint}")
        self.card: ModelCard = ModelCard.from_json(card_file)
        self.backend = backend
        self._run = {"keras": self._load_keras, "onnx": self._load_onnx,
                     "savedmodel": self._load_savedmodel}[backend](verify)

    @classmethod
    def from_model(cls, model, card: ModelCard) -> "Predictor":
        """A predictor over an in-memory Keras model (e.g. fresh from training, before any export)
        and its card: the same contract, decoding, uncertainties and trust as an exported model
        (a trust method that needs artifact files needs ``directory`` set on the result)."""
        p = cls.__new__(cls)
        p.device, p.directory, p.card, p.backend, p.model = "cpu", None, card, "keras", model
        p._run = lambda x: {k: np.asarray(v) for k, v in model(x, training=False).items()}
        return p

    @classmethod
    def without_network(cls, directory) -> "Predictor":
        """The card, input contract and trust method of an exported model without its network:
        :meth:`prepare`, :meth:`prepare_many` and :meth:`domain` (the CPU stages the batch engine's worker
        processes run, without a model session each); running the network raises."""
        p = cls.__new__(cls)
        p.device, p.directory, p.backend = "cpu", os.fspath(directory), "none"
        card_file = os.path.join(p.directory, "card.json")
        if not os.path.exists(card_file):
            raise ArtifactError(f"{p.directory}: no card.json")
        p.card = ModelCard.from_json(card_file)

        def run(x):
            raise RuntimeError("Predictor.without_network has no network: load the model to run it")
        p._run = run
        return p

    # ------------------------------------------------------------------ loading
    def _artifact(self, rel: str, verify: bool) -> str:
        path = os.path.join(self.directory, rel)
        if not os.path.exists(path):
            hint = f" (regenerate with `python -m zoo export {self.card.name}`)" if rel.startswith("saved") else ""
            raise ArtifactError(f"{path}: missing{hint}")
        if verify and os.path.isfile(path):
            expected = self.card.artifacts.get(rel, {}).get("sha256")
            if expected is None:
                raise ArtifactError(f"{rel}: the card records no sha256 for it")
            from .artifacts import sha256
            got = sha256(path)
            if got != expected:
                raise ChecksumMismatchError(
                    f"{path}: sha256 {got[:16]}... does not match the card's {expected[:16]}...; "
                    "the file is damaged or not the one the card describes")
        return path

    def artifact(self, rel: str) -> str:
        """The path of ``rel``, a file the card lists in ``artifacts`` (e.g. a trust method's reference,
        ``trust.npz``), after checking its sha256 against the card: the one way a family reaches the files
        of an exported model.  :class:`~zoo.errors.ArtifactError` when the file is missing, is a folder
        or has no sha256 in the card; :class:`~zoo.errors.ChecksumMismatchError` (naming the file) when it
        differs from the card's."""
        if self.directory is None:
            raise ArtifactError(f"{self.card.name}: this predictor has no directory (Predictor.from_model), so "
                                f"no {rel}; set its `directory` to the folder that holds the file")
        path = self._artifact(rel, verify=True)
        if not os.path.isfile(path):
            raise ArtifactError(f"{path}: not a file (Predictor.artifact reads the files the card lists)")
        return path

    def artifact_arrays(self, rel: str, dtype=None) -> dict[str, np.ndarray]:
        """The arrays of ``rel``, an ``.npz`` file the card lists (e.g. ``trust.npz``), checked as
        :meth:`artifact` checks it and read once per (file, sha256 in the card): later calls, from any
        predictor over the same file and card, return the same arrays without reading or hashing it again
        (a file rewritten under a card with a new sha256 is read again).  ``dtype``: floating arrays are cast
        to it (e.g. ``np.float64`` for a reference stored as float32); other arrays come as stored.  A new
        dict each call, of read-only arrays (shared by every caller)."""
        if self.directory is None:
            self.artifact(rel)                                   # raises: no directory
        sha = (self.card.artifacts.get(rel) or {}).get("sha256")
        key = (os.path.realpath(os.path.join(self.directory, rel)), sha,
               None if dtype is None else np.dtype(dtype).str)
        arrays = _ARRAYS.get(key)
        if arrays is None:
            path = self.artifact(rel)
            arrays = {}
            with np.load(path, allow_pickle=False) as f:
                for k in f.files:
                    a = f[k]
                    if dtype is not None and np.issubdtype(a.dtype, np.floating):
                        a = a.astype(dtype, copy=False)
                    a.setflags(write=False)
                    arrays[k] = a
            while len(_ARRAYS) >= _ARRAYS_MAX:
                _ARRAYS.pop(next(iter(_ARRAYS)))
            _ARRAYS[key] = arrays
        return dict(arrays)

    def _load_keras(self, verify):
        import keras
        import tensorflow as tf

        from . import layers  # noqa: F401  (registers the zoo's serializable layers)
        self._tf_device = self._tf_device_name(tf)
        if "derived_from" in self.card.artifacts.get("model.keras", {}):
            # the weights live once, in model.onnx: the registered architecture gets them from there
            from .derive import derived_keras_model
            self._artifact("model.onnx", verify)
            with tf.device(self._tf_device):
                model = derived_keras_model(self.card, self.directory)
        else:
            path = self._artifact("model.keras", verify)
            try:
                with tf.device(self._tf_device):
                    model = keras.saving.load_model(path, safe_mode=True, compile=False)
            except Exception as exc:
                raise ArtifactError(f"{path}: cannot load the Keras model ({exc})") from exc
        self.model = model
        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

        def run(x):
            with tf.device(self._tf_device):
                return {k: np.asarray(v) for k, v in fn(tf.constant(x)).items()}
        return run

    def _tf_device_name(self, tf) -> str:
        gpus = tf.config.list_physical_devices("GPU")
        if self.device == "cpu" or not gpus:
            if self.device == "gpu":
                _gpu_fallback_warning("TensorFlow sees no GPU")
            return "/CPU:0"
        return "/GPU:0"

    def _load_onnx(self, verify):
        from .onnx_kit import OnnxModel
        path = self._artifact("model.onnx", verify)
        self.onnx_model = OnnxModel(path, card=self.card, device=self.device)
        self.session = self.onnx_model.session
        return self.onnx_model  # one ONNX Runtime call per batch

    def _load_savedmodel(self, verify):
        import tensorflow as tf
        path = self._artifact("saved_model", verify=False)
        self._tf_device = self._tf_device_name(tf)
        with tf.device(self._tf_device):
            sig = tf.saved_model.load(path).signatures["serving_default"]

        def run(x):
            with tf.device(self._tf_device):
                return {k: v.numpy() for k, v in sig(flux=tf.constant(x)).items()}
        return run

    # ------------------------------------------------------------------ inputs
    @property
    def labels(self) -> dict[str, list[str]]:
        return self.card.labels

    def prepare(self, X, wavelength=None, *, error=None, mask=None, medium=None,
                instrument=None) -> Prepared:
        """Bring input to the contract: arrays (with optional wavelengths), a Spectrum,
        a path, or a list of paths / Spectrum objects.  ``instrument`` names the
        instrument for contracts with instrument-specific steps (``card.input.instrument_steps``,
        e.g. ``"flux_calibrated"``): for arrays it is the only source; files and Spectrum
        objects carry theirs in ``meta["instrument"]``, which ``instrument`` overrides."""
        items = self._as_spectra(X, medium)
        contract = self.card.input
        if items is None:
            return to_contract(X, contract, wavelength, error=error, mask=mask, medium=medium,
                               instrument=instrument)
        if not items:
            return to_contract(np.zeros((0, contract.n_pixels)), contract)
        # spectra that share a wavelength grid are brought to the contract in one call (each row as the
        # one-spectrum call's, to the bit); the first one refused raises its own error
        parts = to_contract_many(items, contract, instrument=instrument)
        for p in parts:
            if isinstance(p, BaseException):
                raise p
        errs = [p.error for p in parts]
        return Prepared(np.concatenate([p.flux for p in parts]),
                        None if any(e is None for e in errs) else np.concatenate(errs),
                        np.concatenate([p.mask for p in parts]))

    def prepare_many(self, items, instrument=None) -> list:
        """:meth:`prepare` of each of ``items`` (paths, :class:`Spectrum` or specutils objects), one by
        one as far as the results go: a list with a one-row :class:`Prepared` or the exception that
        refused it, per item (nothing is raised).  Spectra that share a wavelength grid go through the
        contract in one call (:func:`zoo.preprocess.to_contract_many`: the same rows to the bit)."""
        spectra, out = [], [None] * len(items)
        for i, x in enumerate(items):
            try:
                s = self._as_spectra(x)
                if s is None or len(s) != 1:
                    raise TypeError(f"prepare_many takes paths, Spectrum or specutils objects, not {type(x).__name__}")
                spectra.append((i, s[0]))
            except Exception as exc:  # noqa: BLE001  (returned, not raised: the caller decides)
                out[i] = exc
        for (i, _), p in zip(spectra, to_contract_many([s for _, s in spectra], self.card.input, instrument)):
            out[i] = p
        return out

    @staticmethod
    def _as_spectra(X, medium=None):
        """Files, :class:`Spectrum` and specutils objects as a list of Spectrum (None: arrays)."""
        from .io import read

        def one(x):
            if isinstance(x, (str, os.PathLike)):
                return read(x)
            if isinstance(x, Spectrum):
                return x
            if _is_specutils(x):
                return Spectrum.from_specutils(x, medium)
            return None
        single = one(X) if not isinstance(X, (list, tuple)) else None
        if single is not None:
            return [single]
        if isinstance(X, (list, tuple)):
            if not X:
                return []
            items = [one(x) for x in X]
            if all(i is not None for i in items):
                return items
        return None

    # ------------------------------------------------------------------ running
    def _forward(self, flux: np.ndarray, batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
        if flux.shape[0] == 0:   # an empty batch: empty outputs of the right widths
            return {o.name: np.zeros((0, len(o.classes) if o.kind == "class" else len(o.labels)), np.float32)
                    for o in self.card.outputs}
        outs: dict[str, list] = {}
        for i in range(0, flux.shape[0], batch_size):
            for k, v in self._run(np.ascontiguousarray(flux[i:i + batch_size], np.float32)).items():
                outs.setdefault(k, []).append(np.asarray(v))
        return {k: np.concatenate(v) for k, v in outs.items()}

    def forward(self, flux: np.ndarray, batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
        """Network outputs by name for flux already on the contract (``prepare(...).flux``)."""
        return self._forward(np.asarray(flux, np.float32), batch_size)

    def predict_raw(self, X, wavelength=None, **kw) -> dict[str, np.ndarray]:
        """Network outputs by name (probabilities, standardized regressions)."""
        return self._forward(self.prepare(X, wavelength, **kw).flux)

    def predict_proba(self, X, wavelength=None, **kw) -> dict[str, np.ndarray]:
        """Per-head class probabilities, (n, n_classes) each, columns in ``labels`` order."""
        heads = [o.name for o in self.card.outputs if o.kind == "class"]
        if not heads:
            raise TypeError(f"{self.card.name} is a regressor; it has no class probabilities")
        raw = self.predict_raw(X, wavelength, **kw)
        return {h: raw[h] for h in heads}

    def _decode(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Class names (and the probability of the chosen class, ``<head>_probability``)
        per classifier head; labels in the card's units per regression output."""
        from .onnx_kit import decode
        return decode(self.card.outputs, raw)

    def trust_method(self, trust: str = "full") -> str | None:
        """The trust method :meth:`domain` runs: the card's ``trust["method"]`` (``trust="full"``), or
        ``"<method>:fast"`` where ``trust="fast"`` and the family registers a cheaper variant of the card's
        method (:func:`zoo.registry.register_trust_variant`; without one, the card's method); None for a
        model whose card names no method."""
        if trust not in TRUST_MODES:
            raise ValueError(f"trust must be one of {TRUST_MODES}, not {trust!r}")
        method = self.card.trust.get("method") if self.card.trust else None
        if not method or trust == "full":
            return method
        from .registry import trust_variant
        return f"{method}:{trust}" if trust_variant(method, trust) is not None else method

    def domain(self, prep: Prepared, raw: dict[str, np.ndarray], trust: str = "full") -> dict[str, np.ndarray]:
        """``domain_score`` (larger = further from the training data) and ``out_of_domain``
        (score above the card's threshold), from the family's registered trust method
        (card ``trust["method"]``); empty for a model whose card names none.  ``trust="fast"`` runs the
        method's registered cheaper variant where there is one (:meth:`trust_method` names what runs;
        e.g. RAC-Net's ``pca_knn_tpl:fast``, its knn part without the template fits, which flags a subset
        of what the full method flags)."""
        name = self.trust_method(trust)
        if not name:
            return {}
        from .registry import trust_method, trust_variant
        method, _, variant = name.partition(":")
        fn = trust_variant(method, variant)[0] if variant else trust_method(method)
        threshold = self.card.trust_spec.threshold     # TrustSpecError for a block without one
        score = np.asarray(fn(self, prep, raw), dtype=float).reshape(-1)
        return {"domain_score": score, "out_of_domain": score > threshold}

    def predict(self, X, wavelength=None, *, error=None, mask=None, medium=None, instrument=None,
                return_uncertainty: bool | None = None, n_realizations: int | None = None,
                error_cap: float = 5.0, seed: int = 0, batch_size: int = BATCH_SIZE,
                trust: str = "full") -> dict[str, np.ndarray]:
        """Labels for spectra.

        Parameters
        ----------
        X : (n, pixels) or (pixels,) flux, a Spectrum, a specutils ``Spectrum``/``Spectrum1D``,
            a file path, or a list of those.
        wavelength : Quantity (any length unit) or floats in Angstrom; when given,
            the flux is validated against the input contract and resampled to it.
        error, mask : per-pixel 1-sigma errors and bad-pixel mask for array input.
        medium : ``"air"`` or ``"vacuum"``: the medium of ``wavelength`` (arrays and
            specutils objects; default the contract's / vacuum for specutils).
        instrument : the instrument of array input, for contracts with instrument-specific
            steps (``card.input.instrument_steps``); files carry it in their metadata.
        return_uncertainty : regression models only; default (None): on for a regressor
            whose card has an ``uncertainty`` block (``card.trust["uncertainty"]``).
            Olney et al. (2020) Sec. 3.5: ``n_realizations`` copies of each spectrum
            with Gaussian noise drawn from its per-pixel errors (each error capped at
            ``error_cap`` times the spectrum's mean error), run in batched calls (one
            set of standard-normal draws per chunk of stars, scaled by each star's errors);
            ``<label>_std_noise`` is their spread.  The label itself is always the network's
            answer on the observed spectrum, the same with and without uncertainties
            (the realizations give the spread only).  With the
            card's calibration, ``<label>_std = hypot(noise_scale * std_noise,
            sigma_model)`` (what it means: the card's ``trust["uncertainty"]
            ["description"]``); without, ``<label>_std`` is the spread.  Input
            without errors gets NaN uncertainties (an explicit ``True`` raises).
        n_realizations : default: the card's ``uncertainty["n_realizations"]``, else 100.
        trust : ``"full"`` (default: the card's trust method) or ``"fast"`` (its registered cheaper
            variant where the family has one: :meth:`trust_method`).

        Returns
        -------
        dict: class-name arrays and ``<head>_probability`` for classifier heads; float
        arrays in the card's units for each regressed label (plus ``<label>_std`` with
        uncertainties); ``domain_score`` and ``out_of_domain`` where the model's
        family provides a trust method.  An empty batch gives empty arrays.
        """
        prep = self.prepare(X, wavelength, error=error, mask=mask, medium=medium, instrument=instrument)
        return self.predict_prepared(prep, return_uncertainty=return_uncertainty, n_realizations=n_realizations,
                                     error_cap=error_cap, seed=seed, batch_size=batch_size, trust=trust)

    def predict_prepared(self, prep: Prepared, batch_size: int = BATCH_SIZE, *, return_uncertainty: bool | None = None,
                         n_realizations: int | None = None, error_cap: float = 5.0, seed: int = 0,
                         return_raw: bool = False, trust: str | None = "full"):
        """:meth:`predict` for input already on the contract (:meth:`prepare`'s result), with the same
        options; ``return_raw=True`` also returns the network's raw outputs on the observed spectra
        (``(predictions, raw)``: the class probabilities without a second network call).
        ``trust=None`` leaves ``domain_score`` / ``out_of_domain`` out, for a caller that computes them
        itself with :meth:`domain` from ``prep`` and ``raw`` (the batch engine, in its worker processes)."""
        raw = self._forward(prep.flux, batch_size)
        pred = self._predict_from(prep, raw, return_uncertainty, n_realizations, error_cap, seed, batch_size, trust)
        return (pred, raw) if return_raw else pred

    def _predict_from(self, prep, raw, return_uncertainty, n_realizations, error_cap, seed, batch_size,
                      trust="full"):
        regressor = not any(o.kind == "class" for o in self.card.outputs)
        unc = (self.card.trust or {}).get("uncertainty") or {}
        explicit = return_uncertainty is True
        if return_uncertainty is None:
            return_uncertainty = regressor and bool(unc)
        if not return_uncertainty:
            return {**self._decode(raw), **(self.domain(prep, raw, trust) if trust else {})}
        if not regressor:
            raise TypeError("return_uncertainty is for regression models")
        if prep.error is None:
            if explicit:
                raise ValueError("return_uncertainty needs per-pixel errors: pass error= or read a "
                                 "file that has them")
            out = {**self._decode(raw), **(self.domain(prep, raw, trust) if trust else {})}
            labels = [lab for o in self.card.outputs for lab in o.labels]
            return {**out, **{f"{k}_std": np.full(prep.flux.shape[0], np.nan) for k in labels}}
        n_real = int(n_realizations or unc.get("n_realizations", 100))
        rng = np.random.default_rng(seed)
        err = prep.error.astype(float)
        good = ~prep.mask & (err > 0)
        mean_err = np.array([e[g].mean() if g.any() else 0.0 for e, g in zip(err, good)])
        err = np.where(good, np.minimum(err, error_cap * mean_err[:, None]), 0.0).astype(np.float32)
        n, n_pix = prep.flux.shape
        # chunks of stars whose realizations make about NOISE_ROWS spectra (run through the
        # network in calls of batch_size); one set of standard normal draws per chunk, scaled by
        # each star's errors (common random numbers: every star still gets n_real independent
        # realizations, and drawing them costs the same for a chunk as for one star -- at 100
        # realizations of 8575 pixels, drawing per star took 14 ms, a quarter of the network's time)
        per_chunk = max(1, max(batch_size, NOISE_ROWS) // n_real)
        flux = prep.flux.astype(np.float32, copy=False)
        # the noisy spectra are written batch by batch into one reused buffer (row r of a chunk is
        # realization r // m of star r % m): no chunk-sized temporaries (at 2000 x 8575 pixels they
        # were 70 MB each, freshly paged in per chunk: 4-10 % of the network's time); the same
        # float32 products and sums as ``z * err + flux``, so the same bits
        buf = np.empty((min(batch_size, n_real * min(per_chunk, n)), n_pix), np.float32)
        stacks: dict[str, list] = {}
        for a in range(0, n, per_chunk):
            b = min(n, a + per_chunk)
            m = b - a
            z = rng.standard_normal((n_real, 1, n_pix), dtype=np.float32)
            outs: dict[str, list] = {}
            for r0 in range(0, n_real * m, batch_size):
                r1 = min(n_real * m, r0 + batch_size)
                r = r0
                while r < r1:     # the rows of realization j, stars s..s1, in buf[r - r0:]
                    j, s = divmod(r, m)
                    s1 = min(m, s + r1 - r)
                    view = buf[r - r0:r - r0 + s1 - s]
                    np.multiply(z[j], err[a + s:a + s1], out=view)
                    view += flux[a + s:a + s1]
                    r += s1 - s
                for k, v in self._run(buf[:r1 - r0]).items():
                    outs.setdefault(k, []).append(np.asarray(v))
            for k, v in self._decode({k: np.concatenate(v) for k, v in outs.items()}).items():
                stacks.setdefault(k, []).append(np.asarray(v, float).reshape(n_real, m))
        observed = self._decode(raw)        # the answer on the observed spectrum
        result = {}
        for k, parts in stacks.items():
            result[k] = observed[k]
            stack = np.concatenate(parts, axis=1)
            noise = stack.std(axis=0)
            if unc and k in unc.get("sigma_model", {}):
                result[f"{k}_std_noise"] = noise
                result[f"{k}_std"] = np.hypot(unc["noise_scale"][k] * noise, unc["sigma_model"][k])
            else:
                result[f"{k}_std"] = noise
        return {**result, **(self.domain(prep, raw, trust) if trust else {})}

    def iter_predict_files(self, paths, progress: bool = False, raise_errors: bool = False, **kw):
        """Predict file by file, yielding ``(path, row, error)`` as each file is done.

        ``row`` is ``{"file": path, <output>: value, ...}`` for a good file and
        ``None`` for a bad one, whose ``error`` names the exception and its
        message.  One unreadable or unsuitable file never stops the batch, and a
        caller that writes each row as it comes loses nothing already computed.
        ``raise_errors=True`` re-raises the first failure (its original, typed error) instead.
        """
        from tqdm.auto import tqdm
        for path in tqdm(list(paths), disable=not progress, unit="file", desc=self.card.name):
            try:
                pred = self.predict(path, **kw)
            except Exception as exc:  # noqa: BLE001  (a batch reports every failure and goes on)
                if raise_errors:
                    raise
                yield os.fspath(path), None, f"{type(exc).__name__}: {exc}"
                continue
            yield os.fspath(path), {"file": os.fspath(path), **{k: v[0] for k, v in pred.items()}}, None

    def predict_files(self, paths, on_error: str = "skip", progress: bool = False, **kw):
        """Predict file by file; a bad file is reported and skipped, never losing the rest.

        Returns ``(rows, failures)``: one dict per good file (``file`` plus the
        predictions) and ``(path, error message)`` for each file that failed.
        ``on_error="raise"`` re-raises the first failure instead.
        """
        rows, failures = [], []
        for path, row, err in self.iter_predict_files(paths, progress=progress,
                                                      raise_errors=on_error == "raise", **kw):
            if row is not None:
                rows.append(row)
            else:
                failures.append((path, err))
        return rows, failures

    def __repr__(self):
        return f"Predictor({self.card.name!r}, backend={self.backend!r})"


