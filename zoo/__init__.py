"""The stellar-spectra model zoo.

>>> import zoo
>>> zoo.list_models()
>>> zoo.load_model(name).predict(flux, wavelength=wave)   # name from zoo.list_models()

Flow: read (:mod:`zoo.io`) -> preprocess to the card's input contract
(:mod:`zoo.preprocess`) -> model (a family under :mod:`zoo.families`) -> labels with units and
uncertainties (:mod:`zoo.predictor`) -> export (:mod:`zoo.export`) -> publish and download
(:mod:`zoo.hub`); deployment without TensorFlow: :mod:`zoo.onnx_kit`.
Importing ``zoo`` does not import TensorFlow; the ONNX backend never does.
"""
from __future__ import annotations

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .card import ModelCard
from .errors import *  # noqa: F401,F403
from . import io  # noqa: F401  (zoo.io.read: every file format the zoo reads)
from .registry import list_models
from .spectrum import Spectrum

__all__ = ["list_models", "create_model", "load_model", "get_card", "ModelCard", "Spectrum", "example_files"]
__version__ = "0.1.0"


def create_model(name: str, pretrained: bool = False, **overrides):
    """The Keras model of ``name``: exactly the architecture of ``exported/<name>/`` (the factory
    arguments baked into ``name``; ``overrides`` change them, e.g. ``seed``), untrained, or with
    ``pretrained=True`` the trained weights (from ``model.onnx``, found as :func:`load_model` finds
    it, checked against the export's test data): timm's ``create_model(name, pretrained=True)``,
    keras-hub's ``from_preset(load_weights=True)``.  ``name`` may be a model of your own
    (:func:`model_dir`); needs the ``[keras]`` extra."""
    from .registry import get_entry
    if not pretrained:
        return get_entry(name).build(**overrides)
    if overrides:
        raise TypeError("pretrained=True builds the exported architecture: no factory overrides")
    from .derive import derived_keras_model
    directory = model_dir(name)
    if directory is None:
        get_entry(name)
        from .hub import locate
        directory = locate(name)
    return derived_keras_model(ModelCard.from_json(_os.path.join(directory, "card.json")), directory)


def get_card(name: str, trained: bool = True) -> ModelCard:
    """The card of a trained model: from ``exported/<name>`` (a clone) or the download cache
    (nothing is downloaded); else its preset (``trained=False`` always gives the preset), with
    the published release (``artifacts["release"]``) when there is one."""
    import os
    from .hub import RELEASE_KEY, local_dir, release_info
    from .registry import get_entry
    d = model_dir(name)
    if d and trained:
        return ModelCard.from_json(os.path.join(d, "card.json"))
    entry = get_entry(name)
    if not trained:
        return entry.card()
    d = local_dir(name)
    if d:
        return ModelCard.from_json(os.path.join(d, "card.json"))
    card = entry.card()
    release = release_info(name)
    if release:
        card.artifacts[RELEASE_KEY] = release
    return card


def model_dir(name) -> str | None:
    """The folder of a trained model that is not a registered name: a directory path holding a
    ``card.json``, or ``exported/<name>`` (``$ZOO_EXPORTED/<name>``) or the cache holding one (a
    model fine-tuned under a name of its own: ``python -m training.<model> --train-table T --name
    NAME``); None for registered names and unknown ones."""
    import os
    from .hub import local_dir
    from .registry import list_models
    name = os.fspath(name)
    if os.path.isfile(os.path.join(name, "card.json")) and (os.sep in name or name.startswith(".")):
        return os.path.abspath(name)
    if name in list_models():
        return None
    return local_dir(name)


def load_model(name: str, backend: str = "auto", directory=None, verify: bool = True,
               device: str = "auto", download: bool = True):
    """A :class:`~zoo.predictor.Predictor` over the trained artifacts of ``name``.

    ``backend``: ``"auto"`` (the default: ONNX Runtime, no TensorFlow needed), ``"onnx"``,
    ``"keras"`` or ``"savedmodel"`` (both need the ``[keras]`` extra).
    ``name`` may also be a model of the user's own (:func:`model_dir`: ``exported/<name>`` of a
    fine-tuned model, or a directory path).
    ``directory``: the artifacts' folder; by default (:func:`zoo.hub.locate`) ``exported/<name>``
    (or ``$ZOO_EXPORTED/<name>``) in a clone, else the per-user cache (``$ZOO_CACHE``), else a
    download from the hub (``$ZOO_HUB_URL``), sha256-verified before it is kept;
    ``download=False`` (or ``$ZOO_OFFLINE=1``) raises :class:`~zoo.errors.OfflineError` instead.
    ``verify``: check every artifact's sha256 against the card before loading it.
    ``device``: ``"auto"`` (a GPU when TensorFlow / ONNX Runtime's CUDA provider
    sees one, else the CPU), ``"cpu"`` or ``"gpu"`` (falls back to the CPU with one
    warning when no GPU is usable).
    """
    from .predictor import Predictor
    from .registry import get_entry
    if directory is None:
        directory = model_dir(name)      # a model of the user's own (fine-tuned, a directory path)
    if directory is None:
        get_entry(name)  # clear error for unknown names
        from .hub import locate
        directory = locate(name, download=download)
    return Predictor(directory, backend=backend, verify=verify, device=device)


def example_files(pattern: str = "**/*.*") -> list[str]:
    """Paths of the real spectra bundled with the zoo, matching ``pattern`` (a glob relative to a
    data folder, e.g. ``"lamost/*.fits"``, ``"apogee/apStar-*.fits"``, ``"mk_atlas/libr18/*.rbn"``;
    README lists them), sorted.  The data folders are the core's ``zoo/data/`` (the survey files
    several families share) and each family's ``zoo/families/<family>/data/``; provenance in each
    folder's PROVENANCE.md."""
    import glob
    from importlib import resources
    base = resources.files("zoo")
    roots = [str(base / "data")] + sorted(glob.glob(_os.path.join(str(base / "families"), "*", "data")))
    return sorted(p for root in roots for p in glob.glob(_os.path.join(root, pattern), recursive=True)
                  if _os.path.isfile(p) and not p.endswith((".md", ".npz", ".txt", ".json")))