"""Building blocks shared by the zoo's models.

All custom layers are registered Keras serializables, so saved models load
with ``safe_mode=True`` (no Lambda layers anywhere in the zoo).
"""
from __future__ import annotations

import keras
from keras import layers

__all__ = ["GELU", "dense_stack", "classifier_head", "initializer", "conv1d_stack", "regression_head"]


@keras.saving.register_keras_serializable(package="zoo")
class GELU(layers.Layer):
    """Gaussian error linear unit.

    ``approximate=True`` is the tanh form
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (Short 2026, Eq. 5),
    which also exports to ONNX (exact GELU lowers to ``Erfc``, which tf2onnx
    cannot convert).
    """

    def __init__(self, approximate: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.approximate = approximate

    def call(self, x):
        return keras.activations.gelu(x, approximate=self.approximate)

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate}


def initializer(kind: str, stddev: float = 0.1, seed: int | None = None):
    """Kernel initializer by name: ``"normal"`` = N(0, stddev) (e.g. Short 2026 Sec. III.4),
    ``"keras"`` = Keras' default Glorot uniform."""
    if kind == "normal":
        return keras.initializers.RandomNormal(0.0, stddev, seed=seed)
    if kind == "keras":
        return keras.initializers.GlorotUniform(seed=seed)
    raise ValueError(f"unknown initialization {kind!r}: 'normal' or 'keras'")


def dense_stack(x, units, activation: str = "gelu_tanh", init: str = "keras",
                dropout: float = 0.0, seed: int | None = None, prefix: str = "dense"):
    """Fully connected layers ``Dense -> activation [-> Dropout]`` for each width in ``units``."""
    for i, n in enumerate(units):
        x = layers.Dense(n, kernel_initializer=initializer(init, seed=None if seed is None else seed + i),
                         bias_initializer="zeros", name=f"{prefix}_{i + 1}")(x)
        if activation == "gelu_tanh":
            x = GELU(approximate=True, name=f"{prefix}_{i + 1}_gelu")(x)
        else:
            x = layers.Activation(activation, name=f"{prefix}_{i + 1}_{activation}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{prefix}_{i + 1}_dropout")(x)
    return x


def classifier_head(x, n_classes: int, name: str, init: str = "keras", seed: int | None = None):
    """A softmax classification head ``Dense(n_classes, softmax)`` named after its output."""
    return layers.Dense(n_classes, activation="softmax", kernel_initializer=initializer(init, seed=seed),
                        bias_initializer="zeros", name=name)(x)


def conv1d_stack(x, filters, kernel_size: int = 3, pool_every: int = 2, pool_size: int = 2,
                 padding: str = "same", activation: str = "relu",
                 kernel_initializer="glorot_uniform", prefix: str = "conv"):
    """1-D convolutions ``Conv1D(f, kernel_size, padding) -> activation`` for each ``f`` in
    ``filters``, with ``MaxPooling1D(pool_size)`` after every ``pool_every``-th convolution
    (``pool_every=0``: no pooling).  ``x`` must be (batch, length, channels)."""
    for i, f in enumerate(filters):
        x = layers.Conv1D(f, kernel_size, padding=padding, activation=activation,
                          kernel_initializer=kernel_initializer, name=f"{prefix}_{i + 1}")(x)
        if pool_every and (i + 1) % pool_every == 0:
            x = layers.MaxPooling1D(pool_size, name=f"{prefix}_pool_{(i + 1) // pool_every}")(x)
    return x


def regression_head(x, n_outputs: int, name: str = "labels", kernel_initializer="glorot_uniform"):
    """A linear regression head ``Dense(n_outputs)`` named after its output."""
    return layers.Dense(n_outputs, kernel_initializer=kernel_initializer, name=name)(x)
