"""Model registry: name -> (factory, preset card, default arguments).

Factories register themselves with :func:`register_model`; presets are data
(``zoo/cards/<card>.json``).  Variants of a paper's model (other
initializations, extra regularization) are registered beside the exact one
under their own names, sharing factory and card.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import UnknownModelError

__all__ = ["ModelEntry", "register_model", "get_entry", "list_models"]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable
    card: str                       # preset card name in zoo/cards
    defaults: dict = field(default_factory=dict)
    description: str = ""
    training: dict = field(default_factory=dict)   # recipe overrides of a variant (e.g. augmentation)

    def build(self, **overrides):
        kwargs = {**self.defaults, **overrides}
        return self.factory(**kwargs)


_REGISTRY: dict[str, ModelEntry] = {}
_FAMILIES = ("autoclassmk", "apogeenet", "starnet")  # modules under zoo.models


def register_model(name: str, card: str | None = None, description: str = "",
                   training: dict | None = None, **defaults):
    """Decorator registering a Keras model factory under ``name``.

    ``defaults`` are factory arguments; ``training`` holds recipe overrides of a
    variant that its training script applies (e.g. a wider augmentation).
    """
    def deco(factory):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelEntry(name, factory, card or name, dict(defaults),
                                     description or (factory.__doc__ or "").strip().split("\n")[0],
                                     dict(training or {}))
        return factory
    return deco


def _load_families():
    import importlib
    for fam in _FAMILIES:
        try:
            importlib.import_module(f"zoo.models.{fam}")
        except ModuleNotFoundError as exc:
            if exc.name != f"zoo.models.{fam}":
                raise


def get_entry(name: str) -> ModelEntry:
    _load_families()
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    _load_families()
    return sorted(_REGISTRY)
