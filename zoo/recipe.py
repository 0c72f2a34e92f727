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
from typing import ClassVar

__all__ = ["Recipe", "FineTune", "rfield"]


def rfield(default, help: str = "", **kw):
    """A recipe field with its help text (``--help`` shows it)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("recipe fields are immutable: use a tuple")
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class FineTune:
    """How a trained model is fine-tuned on a user's real spectra (``python -m training.<model>
    --train-table TABLE``): ours, not the papers' (they trained on their surveys from scratch).
    A family sets its own as ``Recipe.finetune``; each number is a ``--finetune-*`` flag."""

    learning_rate: float = rfield(1e-4, "Adam learning rate (about a tenth of a paper's initial rate)")
    epochs: int = rfield(200, "maximum epochs; early stopping on the validation split ends most runs")
    patience: int = rfield(15, "epochs without a better validation loss before stopping (best weights kept)")
    batch_size: int = rfield(16, "mini-batch size (small real samples)")
    trainable_layers: int = rfield(0, "train only the last N layers with weights (0: all)")

    def replace(self, **changes) -> "FineTune":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Recipe:
    """Numbers every recipe has; families add their own fields."""

    #: fine-tuning on real spectra (a class attribute: not part of the paper's recipe or its card)
    finetune: ClassVar[FineTune] = FineTune()

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
