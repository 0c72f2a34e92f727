"""The stellar-spectra model zoo.

>>> import zoo
>>> zoo.list_models()
>>> zoo.load_model(name).predict(flux, wavelength=wave)   # name from zoo.list_models()

Flow: read (:mod:`zoo.io`) -> preprocess to the card's input contract
(:mod:`zoo.preprocess`) -> model (a family under :mod:`zoo.families`) -> labels with units and
uncertainties (:mod:`zoo.predictor`) -> export (:mod:`zoo.export`).
Importing ``zoo`` does not import TensorFlow; the ONNX backend never does.
"""
from __future__ import annotations

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .card import ModelCard
from .errors import *  # noqa: F401,F403
from .registry import list_models

__all__ = ["list_models", "create_model", "load_model", "get_card", "ModelCard"]
__version__ = "0.1.0"


def create_model(name: str, **overrides):
    """The untrained Keras model of ``name``: exactly the architecture of
    ``exported/<name>/model.keras`` (the factory arguments baked into ``name``);
    ``overrides`` change factory arguments (e.g. ``seed``)."""
    from .registry import get_entry
    return get_entry(name).build(**overrides)


def get_card(name: str, trained: bool = True) -> ModelCard:
    """The exported card of a trained model, or (``trained=False`` or none exported) its preset."""
    import os
    from .predictor import exported_dir
    from .registry import get_entry
    entry = get_entry(name)
    path = os.path.join(exported_dir(name), "card.json")
    if trained and os.path.exists(path):
        return ModelCard.from_json(path)
    return entry.card()


def load_model(name: str, backend: str = "keras", directory=None, verify: bool = True,
               device: str = "auto"):
    """A :class:`~zoo.predictor.Predictor` over the trained artifacts of ``name``.

    ``backend``: ``"keras"``, ``"onnx"`` (no TensorFlow needed) or ``"savedmodel"``.
    ``directory`` defaults to ``exported/<name>`` (or ``$ZOO_EXPORTED/<name>``).
    ``device``: ``"auto"`` (a GPU when TensorFlow / ONNX Runtime's CUDA provider
    sees one, else the CPU), ``"cpu"`` or ``"gpu"`` (falls back to the CPU with one
    warning when no GPU is usable).
    """
    from .predictor import Predictor, exported_dir
    from .registry import get_entry
    get_entry(name)  # clear error for unknown names
    return Predictor(directory or exported_dir(name), backend=backend, verify=verify, device=device)
