"""The thesis's two networks (Podsztavek 2017, Sec. 9.1): H-alpha profile classes
emission / absorption / double-peak from 140 standardized fluxes (6519-6732 A).

- ``emission_fc`` (Sec. 9.1.2): input 140 -> 5 x (Dense 512, ReLU, dropout 0.5) -> softmax 3.
- ``emission_cnn`` (Sec. 9.1.3, Fig. 9.1): conv3-64, conv3-64, maxpool2, conv3-128,
  conv3-128, maxpool2, conv3-256, conv3-256, maxpool2, fc-512, fc-512 (dropout 0.5
  after each), softmax 3; kernel 3, no padding, ReLU; pools of 2, stride 2.

Both return ``{"halpha_class": (n, 3)}`` (softmax, classes in :data:`CLASSES` order).
Only standard Keras layers: the saved models load with ``safe_mode=True``.
"""
from __future__ import annotations

from zoo.registry import register_model

from .recipes import CNN_RECIPE, FC_RECIPE

__all__ = ["emission_fc", "emission_cnn", "CLASSES", "HEAD", "N_PIXELS"]

#: Class order of the softmax units (the thesis's label codes 0, 1, 3; "unknown" (2) left out).
CLASSES = ("emission", "absorption", "double-peak")
#: Name of the output head.
HEAD = "halpha_class"
#: Input length (Sec. 7.2: 140 uniform points over 6519-6732 A).
N_PIXELS = 140
#: ``emission_fc``'s hidden Dense ReLU layers (Sec. 9.1.2: 5 x 512).
FC_HIDDEN = (512, 512, 512, 512, 512)
#: ``emission_cnn``'s six convolutions (Sec. 9.1.3, Fig. 9.1), a max-pool of 2 after every second.
CNN_FILTERS = (64, 64, 128, 128, 256, 256)
#: ``emission_cnn``'s kernel width ("valid" padding).
CNN_KERNEL_SIZE = 3
#: ``emission_cnn``'s two fully connected ReLU layers.
CNN_DENSE = (512, 512)
#: parameters of the two networks as built here (tested: tests/test_bestars_training.py).
PARAMETERS = {"emission_fc": 1_124_355, "emission_cnn": 2_481_731}


@register_model("emission_fc", preset="emission_fc", recipe=FC_RECIPE,
                command="python -m training.emission_fc")
def emission_fc(n_pixels: int = N_PIXELS, hidden=FC_HIDDEN, dropout: float = 0.5,
                n_classes: int = len(CLASSES), seed: int | None = None,
                name: str = "emission_fc") -> "keras.Model":  # noqa: F821
    """Feedforward H-alpha classifier (Podsztavek 2017, Sec. 9.1.2): 5 x Dense 512, 1,124,355 parameters.

    Parameters
    ----------
    n_pixels : input length (140).
    hidden : widths of the hidden ReLU layers (5 x 512).
    dropout : dropout probability after each hidden layer (0.5).
    n_classes : softmax units (3).
    seed : seed of the Glorot-uniform initializers (Keras' default, as the thesis used).
    """
    import keras
    from keras import layers

    from zoo.layers import classifier_head

    def ini(i):
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed + i)

    inputs = keras.Input((n_pixels,), name="flux")
    x = inputs
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", kernel_initializer=ini(i), name=f"fc_{i + 1}")(x)
        x = layers.Dropout(dropout, seed=None if seed is None else seed + 100 + i, name=f"fc_{i + 1}_dropout")(x)
    out = classifier_head(x, n_classes, HEAD, "keras", None if seed is None else seed + 50)
    return keras.Model(inputs, {HEAD: out}, name=name)


@register_model("emission_cnn", preset="emission_cnn", recipe=CNN_RECIPE,
                command="python -m training.emission_cnn")
def emission_cnn(n_pixels: int = N_PIXELS, filters=CNN_FILTERS, kernel_size: int = CNN_KERNEL_SIZE,
                 dense=CNN_DENSE, dropout: float = 0.5, n_classes: int = len(CLASSES),
                 seed: int | None = None, name: str = "emission_cnn") -> "keras.Model":  # noqa: F821
    """Convolutional H-alpha classifier (Podsztavek 2017, Sec. 9.1.3, Fig. 9.1), 2,481,731 parameters.

    Parameters
    ----------
    n_pixels : input length (140 -> 138 -> 136 -> 68 -> 66 -> 64 -> 32 -> 30 -> 28 -> 14).
    filters : filters of the six convolutions, a max-pool of 2 after every second.
    kernel_size : 3, "valid" (no) padding.
    dense : the two fully connected ReLU layers (512, 512), dropout after each.
    dropout : 0.5.
    seed : seed of the Glorot-uniform initializers.
    """
    import keras
    from keras import layers

    from zoo.layers import classifier_head

    def ini(i):
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed + i)

    inputs = keras.Input((n_pixels,), name="flux")
    x = layers.Reshape((n_pixels, 1), name="to_channels")(inputs)
    for i, f in enumerate(filters):
        x = layers.Conv1D(f, kernel_size, padding="valid", activation="relu", kernel_initializer=ini(i),
                          name=f"conv_{i + 1}")(x)
        if i % 2 == 1:
            x = layers.MaxPooling1D(2, strides=2, padding="valid", name=f"pool_{i // 2 + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for j, units in enumerate(dense):
        x = layers.Dense(units, activation="relu", kernel_initializer=ini(20 + j), name=f"fc_{j + 1}")(x)
        x = layers.Dropout(dropout, seed=None if seed is None else seed + 100 + j, name=f"fc_{j + 1}_dropout")(x)
    out = classifier_head(x, n_classes, HEAD, "keras", None if seed is None else seed + 50)
    return keras.Model(inputs, {HEAD: out}, name=name)
