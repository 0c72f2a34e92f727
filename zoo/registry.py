"""Model registry: name -> factory, preset card, recipe; families register themselves.

The core names no model family.  Every package under :mod:`zoo.families`
(and every package that a third party declares under the entry-point group
``zoo.families``) is imported once, on the first look-up, and contributes by
calling the ``register_*`` functions of the core at import time:

- :func:`register_model` (a decorator on a Keras factory): the model's name,
  its preset card (``<family>/presets/<preset>.json``), its :class:`~zoo.recipe.Recipe`
  and the factory arguments baked into that name (timm's rule: every trained
  variant has its own name, and ``create_model(name)`` builds exactly what
  ``exported/<name>/`` holds);
- :func:`zoo.preprocess.register_normalization`: flux normalizations named by
  input contracts;
- :func:`register_demo`: what ``python -m zoo demo`` shows for the family;
- :func:`register_trust`: the family's out-of-domain score
  (``domain_score``/``out_of_domain`` of :meth:`zoo.predictor.Predictor.predict`).

A family module must not import TensorFlow or Keras at import time (factories
import Keras inside), so that the ONNX path never loads TensorFlow.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable

from .errors import UnknownModelError

__all__ = ["ModelEntry", "architecture_of", "load_preset", "register_model", "register_demo", "register_trust", "get_entry",
           "list_models", "load_families", "families", "demos", "trust_method",
           "register_domain_refit", "domain_refit", "register_trust_variant", "trust_variant",
           "register_reader", "readers"]

FAMILY_PACKAGE = "zoo.families"
ENTRY_POINT_GROUP = "zoo.families"


@dataclass(frozen=True)
class ModelEntry:
    """One registered model name.

    Attributes
    ----------
    name : registered name (``exported/<name>/`` holds its trained artifacts).
    factory : Keras model factory.
    family : the package that registered it (e.g. ``zoo.families.<family>``).
    preset : name of the preset card in the family's ``presets/`` folder.
    defaults : factory arguments baked into this name.
    recipe : the training recipe (a frozen :class:`zoo.recipe.Recipe`) or None.
    command : the command that trains and exports this model.
    card_overrides : card fields this name changes in the preset (title, notes, ...).
    description : one line for ``python -m zoo list``.
    """

    name: str
    factory: Callable
    family: str
    preset: str
    defaults: dict = field(default_factory=dict)
    recipe: Any = None
    command: str = ""
    card_overrides: dict = field(default_factory=dict)
    description: str = ""

    def build(self, **overrides):
        """The Keras model; ``overrides`` change factory arguments (e.g. ``seed``)."""
        return self.factory(**{**self.defaults, **overrides})

    def preset_dict(self) -> dict:
        ref = resources.files(self.family) / "presets" / f"{self.preset}.json"
        with ref.open("r", encoding="utf-8") as fh:
            return json.load(fh)

    def card(self):
        """The design-time card of this name: the preset, this name's overrides and
        recipe (``asdict(recipe)`` plus the command and factory arguments)."""
        from .card import ModelCard
        d = self.preset_dict()
        d.update(self.card_overrides)
        d["name"] = self.name
        recipe = {} if self.recipe is None else self.recipe.to_dict()
        if self.command:
            recipe["command"] = self.command
        if self.defaults:
            recipe["architecture_args"] = dict(self.defaults)
        d["recipe"] = recipe
        return ModelCard.from_dict(d)


_REGISTRY: dict[str, ModelEntry] = {}
_DEMOS: dict[str, Callable] = {}
_TRUST: dict[str, Callable] = {}
_REFITS: dict[str, Callable] = {}
_TRUST_VARIANTS: dict[tuple, tuple] = {}
_LOADED = False
#: held while the families are imported: a thread that asks for a family's registration while
#: another thread is importing the families waits for it (re-entrant: a family may look up the
#: registry while it registers)
_LOAD_LOCK = threading.RLock()
_LOADING = None   # the thread importing the families


def _caller_family(module: str) -> str:
    parts = module.split(".")
    if module.startswith(FAMILY_PACKAGE + ".") and len(parts) >= 3:
        return ".".join(parts[:3])
    # third-party family: the top package of the registering module
    return module.rsplit(".", 1)[0] if "." in module else module


def register_model(name: str, *, preset: str | None = None, recipe=None, command: str = "",
                   description: str = "", card_overrides: dict | None = None, **defaults):
    """Decorator registering a Keras model factory under ``name``.

    ``defaults`` are factory arguments baked into ``name``; ``recipe`` its
    training recipe; ``preset`` the family preset card (default: ``name``).
    """
    def deco(factory):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        doc = (factory.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = ModelEntry(name, factory, _caller_family(factory.__module__), preset or name,
                                     dict(defaults), recipe, command or f"python -m training.{name}",
                                     dict(card_overrides or {}), description or doc)
        return factory
    return deco


#: file format name -> (looks_like(path) -> bool, read(path) -> Spectrum), in registration order
_READERS: dict[str, tuple[Callable, Callable]] = {}


def register_reader(name: str, looks_like: Callable, read: Callable) -> None:
    """Register a spectrum file format for :func:`zoo.io.read`: ``looks_like(path) -> bool``
    sniffs a file without raising, ``read(path) -> Spectrum`` reads it (typed errors of
    :mod:`zoo.errors` for bad files).  A family registers the formats only its papers read (the
    core registers the survey formats several families share); the sniffers are tried in
    registration order, so ``looks_like`` must not claim another format's files."""
    if name in _READERS and _READERS[name] != (looks_like, read):
        raise ValueError(f"file format {name!r} registered twice")
    if not callable(looks_like) or not callable(read):
        raise TypeError(f"register_reader({name!r}, ...): looks_like and read must be callables")
    _READERS[name] = (looks_like, read)


def readers() -> dict[str, tuple[Callable, Callable]]:
    """Every registered file format (the families loaded first): name -> (looks_like, read)."""
    load_families()
    return dict(_READERS)


def register_demo(name: str, fn: Callable) -> None:
    """``fn(backend: str) -> None`` prints what the family's models make of bundled real data."""
    _DEMOS[name] = fn


def register_trust(method: str, fn: Callable) -> None:
    """Register an out-of-domain method named by cards' ``trust["method"]``.

    ``fn(predictor, prepared, raw) -> ndarray (n,)`` returns the domain score
    (larger = further from the training data) from the prepared input
    (:class:`zoo.preprocess.Prepared`) and the raw network outputs (numpy, any
    backend); it must not need TensorFlow.
    """
    _TRUST[method] = fn


def register_trust_variant(method: str, variant: str, fn: Callable, description: str) -> None:
    """Register a cheaper variant of the trust method ``method`` (``variant``: ``"fast"``), which
    ``Predictor.domain(..., trust=variant)`` and ``python -m zoo predict ... --trust fast`` run instead
    of the card's method when asked to (never by default).  ``fn`` as for :func:`register_trust`, its score
    on the same scale (``out_of_domain`` above the card's threshold); ``description`` says what it leaves
    out (the archive's metadata record it beside the method name ``"<method>:<variant>"``)."""
    _TRUST_VARIANTS[(method, variant)] = (fn, description)


def trust_variant(method: str, variant: str):
    """``(fn, description)`` of a registered variant of a trust method, or None."""
    load_families()
    return _TRUST_VARIANTS.get((method, variant))


def register_domain_refit(method: str, fn: Callable) -> None:
    """Register how the trust method ``method`` is refit on a user's unlabelled spectra
    (``python -m zoo refit-domain``, :mod:`zoo.domain`).

    ``fn(predictor, flux, directory, seed) -> (trust block, {artifact: {"sha256": ...}})``: ``flux``
    are the user's spectra prepared to the contract; ``fn`` writes its reference files into
    ``directory`` and returns the new card's ``trust`` block (a method registered with
    :func:`register_trust`) and the artifacts it wrote.
    """
    _REFITS[method] = fn


def domain_refit(method: str) -> Callable:
    load_families()
    if method not in _REFITS:
        from .errors import ZooError
        raise ZooError(f"no domain refit for the trust method {method!r}; families provide one for "
                       f"{sorted(_REFITS) or 'none'}")
    return _REFITS[method]


def families() -> list[str]:
    """Names of the family packages found (``zoo.families.*`` and entry points)."""
    pkg = importlib.import_module(FAMILY_PACKAGE)
    found = [f"{FAMILY_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg]
    try:
        from importlib.metadata import entry_points
        found += [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]
    except Exception:  # pragma: no cover  (broken metadata must not break the zoo)
        pass
    return sorted(set(found))


def load_families() -> None:
    """Import every family package once (each registers its models on import).

    Thread-safe: the registry is marked loaded only after every family has been imported, and
    a concurrent caller (a reader thread of the batch pipeline, a Dask worker thread) waits
    until then instead of seeing a half-filled registry.  A family whose import fails raises
    here, and the next call tries again.
    """
    global _LOADED, _LOADING
    if _LOADED or _LOADING == threading.get_ident():   # loaded, or this thread is loading them
        return
    with _LOAD_LOCK:
        if _LOADED:
            return
        _LOADING = threading.get_ident()
        try:
            for fam in families():
                importlib.import_module(fam)
            _LOADED = True
        finally:
            _LOADING = None


def load_preset(name: str):
    """The design-time card of registered model ``name`` (its family preset, recipe and overrides)."""
    return get_entry(name).card()


def architecture_of(card) -> str:
    """The registered name whose factory builds ``card``'s network: the card's own name, or for a
    model fine-tuned or retrained from a registered one under a name of its own
    (``python -m training.<model> --train-table TABLE --name NEW``) its ``recipe["architecture"]``."""
    return (card.recipe or {}).get("architecture") or card.name


def get_entry(name: str) -> ModelEntry:
    load_families()
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    load_families()
    return sorted(_REGISTRY)


def demos() -> dict[str, Callable]:
    load_families()
    return dict(_DEMOS)


def trust_method(method: str) -> Callable:
    load_families()
    if method not in _TRUST:
        raise KeyError(f"no trust method {method!r} registered; known: {sorted(_TRUST)}")
    return _TRUST[method]
