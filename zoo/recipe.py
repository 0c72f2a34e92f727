"""Training recipes as data: one frozen dataclass per model holds every number once.

A family subclasses :class:`Recipe` with its paper's hyperparameters as
fields with defaults (each field's ``metadata["help"]`` says what it is and
where the paper states it).  From that one object:

- the training CLI's flags, defaults and ``--help`` are generated
  (:func:`training.skeleton.parser_for`);
- the model card's ``recipe`` block is ``asdict(recipe)`` plus the command
  (:meth:`zoo.registry.ModelEntry.card`);
- a variant is the same class with other values, registered under its own name.

This module imports nothing heavy: it is part of the core.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

__all__ = ["Recipe", "rfield"]


def rfield(default, help: str = "", **kw):
    """A recipe field with its help text (``--help`` shows it)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("recipe fields are immutable: use a tuple")
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class Recipe:
    """Numbers every recipe has; families add their own fields."""

    epochs: int = rfield(100, "maximum training epochs")
    learning_rate: float = rfield(1e-3, "initial learning rate")
    batch_size: int = rfield(128, "mini-batch size")
    seed: int = rfield(0, "seed of data, initialization and shuffling")

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}
