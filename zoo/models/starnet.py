"""StarNet (Fabbro et al. 2018, MNRAS 475, 2978), the 7-layer CNN baseline.

Input -> Conv1D 4 filters, kernel 8 -> Conv1D 16 filters, kernel 8 -> MaxPool 4
-> Dense 256 -> Dense 128 -> Dense 3 (linear), ReLU after every hidden layer,
He-normal initialization (as astroNN's ``StarNet2017``; "same" padding).

Input contract: the paper feeds the 7214 ASPCAP pixels of a
continuum-normalized spectrum.  The zoo gives StarNet the same 8575-pixel
apStar contract and normalization as APOGEE Net (``zoo/cards/starnet.json``):
both models are then compared on identical inputs from one data path, and an
input contract on a regular grid cannot express the chip gaps.  The 1361 gap
pixels hold the constant fill value 1.0 and carry no information; the cost
is a larger first dense layer (16 x 2143 x 256 weights instead of
16 x 1803 x 256).
"""
from __future__ import annotations

from ..registry import register_model

__all__ = ["starnet"]


@register_model("starnet", card="starnet")
def starnet(n_pixels: int = 8575, filters=(4, 16), kernel_size: int = 8, pool_size: int = 4,
            dense=(256, 128), n_labels: int = 3, seed: int | None = None,
            name: str = "starnet") -> keras.Model:
    """StarNet (Fabbro et al. 2018): Conv1D 4x8, Conv1D 16x8, MaxPool 4, Dense 256, 128, 3.

    Parameters
    ----------
    n_pixels : input length (8575, the apStar grid).
    filters, kernel_size : the two convolutions (4 and 16 filters of length 8).
    pool_size : max-pooling window (4).
    dense : hidden dense widths (256, 128).
    n_labels : outputs (Teff, log g, [Fe/H], standardized).
    seed : seed of the He-normal initializers.

    Returns a Keras model with input ``flux`` and output ``{"labels": (n, n_labels)}``.
    """
    import keras
    from keras import layers

    from .layers import conv1d_stack, regression_head

    def he(i):
        return keras.initializers.HeNormal(seed=None if seed is None else seed + i)

    inputs = keras.Input((n_pixels,), name="flux")
    x = layers.Reshape((n_pixels, 1), name="to_channels")(inputs)
    for i, f in enumerate(filters):
        x = conv1d_stack(x, [f], kernel_size, pool_every=0, padding="same",
                         kernel_initializer=he(i), prefix=f"conv{i + 1}")
    x = layers.MaxPooling1D(pool_size, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = layers.Dense(units, activation="relu", kernel_initializer=he(10 + i),
                         name=f"dense_{i + 1}")(x)
    out = regression_head(x, n_labels, kernel_initializer=he(20))
    return keras.Model(inputs, {"labels": out}, name=name)
