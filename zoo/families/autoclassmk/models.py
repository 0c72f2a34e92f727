"""AutoClassMK: a dense two-head MK classifier (C. I. Short 2026, arXiv:2606.11161).

Table 3: input 1600 rectified-flux pixels (3800.0-4599.5 A) -> Dense 768 ->
Dense 256 -> Dense 64, GELU (tanh approximation, Eq. 5) after each, then two
softmax heads: spectral class and luminosity class.  Sec. III.4: weights drawn
from N(0, 0.1), biases zero.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.registry import register_model

if TYPE_CHECKING:   # annotations only: Keras is imported inside the factories
    import keras

from .recipes import BROAD, PAPER

__all__ = ["autoclassmk", "head_seeds"]


def head_seeds(seed: int | None, n_hidden: int) -> tuple:
    """Initializer seeds of the spectral- and luminosity-class heads: the two seeds after the
    hidden layers' ``seed .. seed + n_hidden - 1`` (None: unseeded)."""
    if seed is None:
        return None, None
    return seed + n_hidden, seed + n_hidden + 1


@register_model("autoclassmk", preset="autoclassmk", recipe=PAPER, command="python -m training.autoclassmk",
                init="normal")
@register_model("autoclassmk_broad", preset="autoclassmk", recipe=BROAD,
                command="python -m training.autoclassmk --model autoclassmk_broad", init="normal",
                description="AutoClassMK (exact architecture) trained with broadening up to the "
                            "resolution of libr18_27: kernel sigma ~ |N(0, 1.5 px)|, 150 epochs",
                card_overrides={"title": "AutoClassMK, broadened variant: the paper's network trained "
                                         "with broadening up to libr18_27's resolution"})
@register_model("autoclassmk_kerasinit", preset="autoclassmk", recipe=PAPER,
                command="python -m training.autoclassmk --model autoclassmk_kerasinit", init="keras",
                description="AutoClassMK with Keras' default (Glorot) initialization")
def autoclassmk(n_pixels: int = 1600, hidden=(768, 256, 64), n_spectral: int = 35,
                n_luminosity: int = 3, init: str = "normal", dropout: float = 0.0,
                seed: int | None = None, name: str = "autoclassmk") -> keras.Model:
    """AutoClassMK (Short 2026, Table 3): Dense 1600-768-256-64 GELU, heads SC and LC.

    Parameters
    ----------
    n_pixels : input length (the contract's 1600).
    hidden : widths of the hidden layers.
    n_spectral, n_luminosity : head sizes (follow the pruned label sets; the
        paper's are 31 and 3, ours 35 and 3, see docs/autoclassmk.md).
    init : ``"normal"`` (N(0, 0.1) weights, zero biases; Sec. III.4) or ``"keras"``.
    dropout : dropout after each hidden layer (0 in the paper).
    seed : seed of the initializers; layer ``i`` of ``hidden`` uses ``seed + i`` and the two
        heads ``seed + len(hidden)`` and ``seed + len(hidden) + 1`` (:func:`head_seeds`).

    Returns a Keras model with input ``flux`` and dict outputs
    ``{"spectral_class": (n, n_spectral), "luminosity_class": (n, n_luminosity)}``.
    """
    import keras

    from zoo.layers import classifier_head, dense_stack

    inputs = keras.Input((n_pixels,), name="flux")
    # every layer its own initializer stream: the hidden layers take seed, seed + 1, ...
    # (dense_stack), the heads the next two seeds (a shared seed would repeat the first
    # hidden layer's first random values in both heads)
    seeds = head_seeds(seed, len(hidden))
    x = dense_stack(inputs, hidden, "gelu_tanh", init=init, dropout=dropout, seed=seed)
    outputs = {
        "spectral_class": classifier_head(x, n_spectral, "spectral_class", init, seeds[0]),
        "luminosity_class": classifier_head(x, n_luminosity, "luminosity_class", init, seeds[1]),
    }
    return keras.Model(inputs, outputs, name=name)
