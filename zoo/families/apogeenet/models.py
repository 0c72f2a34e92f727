"""APOGEE Net (Olney et al. 2020, AJ 159, 182) and StarNet (Fabbro et al. 2018,
MNRAS 475, 2978): Teff, log g, [Fe/H] from apStar spectra.

APOGEE Net, Appendix B: the 8575-pixel apStar spectrum (the paper feeds the
flux as delivered, Sec. 3.1; the zoo's input contract normalizes the continuum
per chip first, its own choice: ``docs/apogeenet_normalization.md``) passes twelve 1-D convolutions (kernel 3,
"same" padding, ReLU) of 8, 8, 16, 16, 16, 16, 32, 32, 32, 32, 64, 64 filters,
with a max-pool of 2 after every second convolution (8575 -> 4287 -> 2143 ->
1071 -> 535 -> 267 -> 133 pixels), is flattened (64 x 133 = 8512), and goes
through Dense 512 -> dropout -> ReLU, Dense 512 -> dropout -> ReLU and a linear
Dense 3: the *standardized* labels (Table 1, Eq. 4; the card's OutputSpec
mean/std convert them back to K and dex).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.registry import register_model

if TYPE_CHECKING:   # annotations only: Keras is imported inside the factories
    import keras

from .apstar import APSTAR_NPIX, N_ASPCAP_PIX
from .recipes import APOGEENET, STARNET

__all__ = ["apogeenet", "starnet", "APOGEENET_FILTERS", "apogeenet_sizes", "starnet_sizes",
           "APOGEENET_SIZES", "STARNET_SIZES", "STARNET_SIZES_ASPCAP"]

#: Appendix B filter counts of the twelve convolutions.
APOGEENET_FILTERS = (8, 8, 16, 16, 16, 16, 32, 32, 32, 32, 64, 64)
#: Appendix B: convolution kernel, max-pool window (after every second convolution), hidden dense
#: widths, dropout rate (Sec. 3.3 / Appendix A.2), outputs (Teff, log g, [Fe/H]).
APOGEENET_KERNEL = 3
APOGEENET_POOL = 2
APOGEENET_DENSE = (512, 512)
APOGEENET_DROPOUT = 0.1
N_LABELS = 3
#: StarNet (Fabbro et al. 2018 Fig. 2 / astroNN ``StarNet2017``): filters of the two convolutions, their
#: kernel, the max-pool window, the hidden dense widths.
STARNET_FILTERS = (4, 16)
STARNET_KERNEL = 8
STARNET_POOL = 4
STARNET_DENSE = (256, 128)


def _dense_params(n_in: int, widths) -> int:
    n = 0
    for w in widths:
        n, n_in = n + n_in * w + w, w
    return n


def apogeenet_sizes(n_pixels: int = APSTAR_NPIX, filters=APOGEENET_FILTERS, kernel_size: int = APOGEENET_KERNEL,
                    dense=APOGEENET_DENSE, n_labels: int = N_LABELS) -> dict:
    """Sizes of :func:`apogeenet` by arithmetic, without Keras: ``pooled`` (the length after each
    max-pool), ``flat`` (the flattened features) and ``params`` (weights and biases; the built model's
    count is checked in tests/test_apogeenet.py).  docs/apogeenet.md renders them."""
    pooled, n, conv, c_in = [], n_pixels, 0, 1
    for i, f in enumerate(filters):
        conv, c_in = conv + (kernel_size * c_in + 1) * f, f
        if i % 2:
            n //= APOGEENET_POOL
            pooled.append(n)
    flat = n * filters[-1]
    return {"pooled": tuple(pooled), "flat": flat,
            "params": conv + _dense_params(flat, tuple(dense) + (n_labels,))}


def starnet_sizes(n_pixels: int = APSTAR_NPIX, filters=STARNET_FILTERS, kernel_size: int = STARNET_KERNEL,
                  pool_size: int = STARNET_POOL, dense=STARNET_DENSE, n_labels: int = N_LABELS) -> dict:
    """Sizes of :func:`starnet` by arithmetic, without Keras: ``pooled``, ``flat`` and ``params`` (the
    built model's count is checked in tests/test_apogeenet.py)."""
    conv, c_in = 0, 1
    for f in filters:
        conv, c_in = conv + (kernel_size * c_in + 1) * f, f
    pooled = n_pixels // pool_size
    flat = pooled * filters[-1]
    return {"pooled": pooled, "flat": flat, "params": conv + _dense_params(flat, tuple(dense) + (n_labels,))}


#: The zoo's APOGEE Net and StarNet on the 8575-pixel apStar grid, and StarNet on the paper's 7214
#: ASPCAP pixels (the figures docs/apogeenet.md and docs/starnet.md render).
APOGEENET_SIZES = apogeenet_sizes()
STARNET_SIZES = starnet_sizes()
STARNET_SIZES_ASPCAP = starnet_sizes(N_ASPCAP_PIX)


@register_model("apogeenet", preset="apogeenet", recipe=APOGEENET, init="he_normal", input_shift=-1.0)
def apogeenet(n_pixels: int = APSTAR_NPIX, filters=APOGEENET_FILTERS, kernel_size: int = APOGEENET_KERNEL,
              dense=APOGEENET_DENSE, dropout: float = APOGEENET_DROPOUT, n_labels: int = N_LABELS,
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
        ``"he_normal"`` (suits the ReLU stack; what ``training/apogeenet/__init__.py`` uses, see
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

    from zoo.layers import conv1d_stack, regression_head

    inputs = keras.Input((n_pixels,), name="flux")
    x = layers.Reshape((n_pixels, 1), name="to_channels")(inputs)
    if input_shift != 0.0 or input_scale != 1.0:
        x = layers.Rescaling(input_scale, offset=input_shift * input_scale, name="input_shift")(x)

    def ini(i):
        return keras.initializers.get({"class_name": init, "config": {"seed": None if seed is None else seed + i}})

    for i, f in enumerate(filters):
        x = conv1d_stack(x, [f], kernel_size, pool_every=1 if i % 2 else 0, pool_size=APOGEENET_POOL,
                         padding="same", kernel_initializer=ini(i), prefix=f"conv{i + 1}")
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = layers.Dense(units, kernel_initializer=ini(20 + i), name=f"dense_{i + 1}")(x)
        x = layers.Dropout(dropout, name=f"dense_{i + 1}_dropout")(x)
        x = layers.Activation("relu", name=f"dense_{i + 1}_relu")(x)
    return keras.Model(inputs, {"labels": regression_head(x, n_labels, kernel_initializer=ini(30))},
                       name=name)


@register_model("starnet", preset="starnet", recipe=STARNET)
def starnet(n_pixels: int = APSTAR_NPIX, filters=STARNET_FILTERS, kernel_size: int = STARNET_KERNEL,
            pool_size: int = STARNET_POOL, dense=STARNET_DENSE, n_labels: int = N_LABELS, seed: int | None = None,
            name: str = "starnet") -> keras.Model:
    """StarNet (Fabbro et al. 2018): Conv1D 4x8, Conv1D 16x8, MaxPool 4, Dense 256, 128, 3.

    Input -> Conv1D 4 filters, kernel 8 -> Conv1D 16 filters, kernel 8 -> MaxPool 4
    -> Dense 256 -> Dense 128 -> Dense 3 (linear), ReLU after every hidden layer,
    He-normal initialization (as astroNN's ``StarNet2017``; "same" padding).
    
    Input contract: the paper feeds the 7214 ASPCAP pixels of a
    continuum-normalized spectrum.  The zoo gives StarNet the same 8575-pixel
    apStar contract and normalization as APOGEE Net (``zoo/families/apogeenet/presets/starnet.json``):
    both models are then compared on identical inputs from one data path, and an
    input contract on a regular grid cannot express the chip gaps.  The 1361 gap
    pixels hold the constant fill value 1.0 and carry no information; the cost
    is a larger first dense layer (16 x 2143 x 256 weights instead of
    16 x 1803 x 256).

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

    from zoo.layers import conv1d_stack, regression_head

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
