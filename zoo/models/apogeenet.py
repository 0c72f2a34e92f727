"""APOGEE Net (Olney et al. 2020, AJ 159, 182): Teff, log g, [Fe/H] from apStar spectra.

Appendix B: the 8575-pixel apStar spectrum (continuum-normalized, see
``docs/apogee_normalization.md``) passes twelve 1-D convolutions (kernel 3,
"same" padding, ReLU) of 8, 8, 16, 16, 16, 16, 32, 32, 32, 32, 64, 64 filters,
with a max-pool of 2 after every second convolution (8575 -> 4287 -> 2143 ->
1071 -> 535 -> 267 -> 133 pixels), is flattened (64 x 133 = 8512), and goes
through Dense 512 -> dropout -> ReLU, Dense 512 -> dropout -> ReLU and a linear
Dense 3: the *standardized* labels (Table 1, Eq. 4; the card's OutputSpec
mean/std convert them back to K and dex).
"""
from __future__ import annotations

from ..registry import register_model

__all__ = ["apogeenet", "APOGEENET_FILTERS"]

#: Appendix B filter counts of the twelve convolutions.
APOGEENET_FILTERS = (8, 8, 16, 16, 16, 16, 32, 32, 32, 32, 64, 64)


@register_model("apogeenet", card="apogeenet")
def apogeenet(n_pixels: int = 8575, filters=APOGEENET_FILTERS, kernel_size: int = 3,
              dense=(512, 512), dropout: float = 0.1, n_labels: int = 3,
              init: str = "glorot_uniform", input_shift: float = 0.0, input_scale: float = 1.0,
              seed: int | None = None,
              name: str = "apogeenet") -> keras.Model:
    """APOGEE Net (Olney et al. 2020, Appendix B): 12 Conv1D + 3 Dense, 4,655,275 parameters.

    Parameters
    ----------
    n_pixels : input length (the apStar grid's 8575).
    filters : filters of the convolutions (Appendix B).
    kernel_size : convolution kernel (3).
    dense : widths of the hidden dense layers (512, 512).
    dropout : dropout rate after each hidden dense layer, before its ReLU (0.1, Sec. 3.3).
    n_labels : outputs (Teff, log g, [Fe/H]).
    init : kernel initializer of every layer: ``"glorot_uniform"`` (Keras' default) or
        ``"he_normal"`` (suits the ReLU stack; what ``training/apogeenet.py`` uses, see
        docs/apogeenet.md).  The paper does not state its initialization.
    input_shift, input_scale : a fixed (parameter-free) ``Rescaling`` of the input,
        ``(flux + input_shift) * input_scale``, before the convolutions; ``0, 1``
        (default) is exactly Appendix B.  The zoo's trained model uses
        ``-1, 1``: continuum-normalized flux becomes line depth, continuum 0
        (see docs/apogeenet.md for why).
    seed : seed of the initializers.

    Returns a Keras model with input ``flux`` (n, n_pixels) and output
    ``{"labels": (n, n_labels)}`` (standardized labels).
    """
    import keras
    from keras import layers

    from .layers import conv1d_stack, regression_head

    inputs = keras.Input((n_pixels,), name="flux")
    x = layers.Reshape((n_pixels, 1), name="to_channels")(inputs)
    if input_shift != 0.0 or input_scale != 1.0:
        x = layers.Rescaling(input_scale, offset=input_shift * input_scale, name="input_shift")(x)

    def ini(i):
        return keras.initializers.get({"class_name": init, "config": {"seed": None if seed is None else seed + i}})

    for i, f in enumerate(filters):
        x = conv1d_stack(x, [f], kernel_size, pool_every=1 if i % 2 else 0, pool_size=2,
                         padding="same", kernel_initializer=ini(i), prefix=f"conv{i + 1}")
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = layers.Dense(units, kernel_initializer=ini(20 + i), name=f"dense_{i + 1}")(x)
        x = layers.Dropout(dropout, name=f"dense_{i + 1}_dropout")(x)
        x = layers.Activation("relu", name=f"dense_{i + 1}_relu")(x)
    return keras.Model(inputs, {"labels": regression_head(x, n_labels, kernel_initializer=ini(30))},
                       name=name)
