"""C-Net, RC-Net and RAC-Net (Zou et al. 2020, PASP 132, 044503) and a fully connected baseline.

The paper fixes the building blocks and leaves most sizes open; the zoo's
reconstruction (docs/racnet.md, "Reconstruction") is chosen so that the
parameter counts match Table 4 within +-5 %:

- filters of the eight stages ``FILTERS`` = (16, 32, 32, 32, 64, 64, 128, 128),
  kernel size 3 everywhere (Fig. 5 shows "64*3" and "128*3" filters), ReLU;
- **C-Net** (Sec. 3.1, Fig. 5): eight ``Conv1D(f, 3)`` layers, one per stage,
  ``MaxPooling1D`` ("same" padding) after each of the first four (sizes 2, 2, 2,
  3: the flattened length 163 sets the 2.77 M parameters), then Flatten ->
  Dense 128 ReLU -> Dropout 0.5 -> softmax;
- **RC-Net** (Sec. 3.2, Fig. 6): the same eight stages as residual blocks
  ``H(x) = F(x) + x`` (Sec. 2.5, Fig. 3), F = three ``Conv1D(f, 3)``; a 1x1
  convolution on the shortcut where the width changes (Fig. 5's "1*1
  convolutional filters"); ``MaxPooling1D`` after the blocks (``RES_POOLS``:
  4, 4, 2, 2, 2, 2, -, -; the early 4s keep a 2-core CPU run affordable and do
  not change the parameter count); global
  average pooling -> Dense 128 -> Dropout 0.5 -> softmax;
- **RAC-Net** (Sec. 2.7, Figs. 4 and 7): RC-Net with one channel-attention
  block in each residual block, on the residual branch before the addition
  (Sec. 2.6, Eqs. 7-11): ``Conv1D(c, 3)`` -> global max- and average-pooling
  -> concatenate (2c) -> ``Dense(c, sigmoid)`` -> ``RepeatVector(length)`` ->
  multiply with the convolved data;
- **FC baseline** (the "FC network" of Table 2, Zou et al. 2019, whose sizes
  the paper does not give): Dense 256 -> Dense 128 (ReLU, dropout 0.5) -> softmax.

All blocks are built from stock Keras layers (no Lambda, no custom layer), so
the saved models load with ``safe_mode=True`` and convert to ONNX.  The input
is the L2-normalized flux of Eq. 1; ``input_scale`` multiplies it by a
constant inside the network (sqrt(n_pixels) by default, so that a flat
spectrum enters with unit amplitude; ours: it only changes the scale Adam sees).
"""
from __future__ import annotations

import math

from zoo.registry import register_model

from .paper import FC_DROPOUT, FC_UNITS, params_text
from .recipes import RECIPES

__all__ = ["cnet", "rcnet", "racnet", "fcnet", "FILTERS", "N_PIXELS", "CLASSES"]

N_PIXELS = 3899
FILTERS = (16, 32, 32, 32, 64, 64, 128, 128)
CNET_POOLS = (2, 2, 2, 3, 0, 0, 0, 0)
#: max-pooling after each residual block of RC-Net / RAC-Net (4 early: CPU cost, see docs)
RES_POOLS = (4, 4, 2, 2, 2, 2, 1, 1)
#: hidden layers of the FC baseline (Table 2's "FC network", whose sizes the paper does not give: ours)
FC_HIDDEN = (256, 128)
#: output classes per task (the card's ``outputs[0].classes``)
CLASSES = {"ds1": ("STAR", "GALAXY", "QSO", "UNKNOWN"), "ds2": ("STAR", "GALAXY", "QSO"),
           "fgk": ("F", "G", "K")}
#: exported / registered name per (architecture, task)
_TASK_NAME = {"ds1": "ds1", "ds2": "ds2", "fgk": "fgk"}
_PRESET = {"ds1": "racnet_ds1", "ds2": "racnet_ds2", "fgk": "racnet_fgk"}


def _input(n_pixels, input_scale):
    import keras
    from keras import layers
    inputs = keras.Input((n_pixels,), name="flux")
    scale = math.sqrt(n_pixels) if input_scale is None else float(input_scale)
    x = layers.Rescaling(scale, name="input_scale")(inputs)
    x = layers.Reshape((n_pixels, 1), name="to_channels")(x)
    return inputs, x


def _head(x, n_classes, dense, dropout, seed, name):
    import keras
    from keras import layers
    init = keras.initializers.GlorotUniform
    x = layers.Dense(dense, activation="relu", kernel_initializer=init(seed=seed), name="fc")(x)
    x = layers.Dropout(dropout, seed=seed, name="fc_dropout")(x)
    return layers.Dense(n_classes, activation="softmax", kernel_initializer=init(seed=None if seed is None
                                                                                  else seed + 1),
                        name="class")(x)


def _conv(f, k, name, seed, activation="relu"):
    import keras
    from keras import layers
    return layers.Conv1D(f, k, padding="same", activation=activation, name=name,
                         kernel_initializer=keras.initializers.GlorotUniform(seed=seed))


def channel_attention(y, length: int, c: int, kernel_size: int = 3, name: str = "att", seed=None,
                      return_weights: bool = False):
    """The attention block of Sec. 2.6 (Fig. 4, Eqs. 7-11) on ``y`` (batch, length, channels).

    Stage 1-2: ``Conv1D(c, kernel_size)``; 3: global max- and average-pooling over
    the length (Eqs. 7, 8); 4: concatenate (Eq. 9); 5: ``Dense(c, sigmoid)``
    (Eq. 10); 6: ``RepeatVector(length)``; 7-8: multiply with the convolved data
    (Eq. 11).  Returns the output (and the (batch, c) weights).
    """
    from keras import layers
    conv = _conv(c, kernel_size, f"{name}_conv", seed, activation="relu")(y)
    w_max = layers.GlobalMaxPooling1D(name=f"{name}_maxpool")(conv)
    w_avg = layers.GlobalAveragePooling1D(name=f"{name}_avgpool")(conv)
    w = layers.Concatenate(name=f"{name}_concat")([w_max, w_avg])
    w = layers.Dense(c, activation="sigmoid", name=f"{name}_weights")(w)
    rep = layers.RepeatVector(length, name=f"{name}_repeat")(w)
    out = layers.Multiply(name=f"{name}_multiply")([conv, rep])
    return (out, w) if return_weights else out


def residual_block(x, length: int, f: int, kernel_size: int = 3, attention: bool = False,
                   name: str = "block", seed=None):
    """H(x) = F(x) + x (Sec. 2.5, Fig. 3): F = three ``Conv1D(f)`` (ReLU, ReLU, linear), then the
    attention block (RAC-Net); the shortcut is the identity, or a 1x1 convolution where the
    width changes; ReLU after the addition."""
    from keras import layers
    s = None if seed is None else seed * 100
    h = _conv(f, kernel_size, f"{name}_conv1", s)(x)
    h = _conv(f, kernel_size, f"{name}_conv2", None if s is None else s + 1)(h)
    h = _conv(f, kernel_size, f"{name}_conv3", None if s is None else s + 2, activation=None)(h)
    if attention:
        h = channel_attention(h, length, f, kernel_size, f"{name}_att", None if s is None else s + 3)
    shortcut = x
    if x.shape[-1] != f:
        shortcut = _conv(f, 1, f"{name}_shortcut", None if s is None else s + 4, activation=None)(x)
    y = layers.Add(name=f"{name}_add")([h, shortcut])
    return layers.Activation("relu", name=f"{name}_relu")(y)


def _residual_net(n_classes, attention, n_pixels, filters, kernel_size, pool, dense, dropout,
                  input_scale, seed, name):
    import keras
    from keras import layers
    inputs, x = _input(n_pixels, input_scale)
    length = n_pixels
    pools = (pool,) * len(filters) if isinstance(pool, int) else tuple(pool)
    for i, (f, p) in enumerate(zip(filters, pools)):
        x = residual_block(x, length, f, kernel_size, attention, f"block{i + 1}",
                           None if seed is None else seed + i)
        if p > 1:
            x = layers.MaxPooling1D(p, name=f"block{i + 1}_pool")(x)
            length //= p
    x = layers.GlobalAveragePooling1D(name="global_pool")(x)
    out = _head(x, n_classes, dense, dropout, seed, name)
    return keras.Model(inputs, {"class": out}, name=name)


_ARCH_TEXT = {
    "rcnet": "RC-Net reconstruction: RAC-Net without the attention blocks (eight residual blocks of three "
             "Conv1D(k=3), filters 16, 32, 32, 32, 64, 64, 128, 128, 1x1 shortcut convolutions, max-pooling 4, 4, "
             "2, 2, 2, 2, global average pooling, Dense 128, Dropout 0.5, softmax); paper: "
             f"{params_text('rcnet')} parameters.",
    "cnet": "C-Net reconstruction: eight Conv1D(k=3) layers, filters 16, 32, 32, 32, 64, 64, 128, 128, max-pooling "
            "2, 2, 2, 3 after the first four, Flatten (163 x 128), Dense 128, Dropout 0.5, softmax; paper: "
            f"{params_text('cnet')} parameters.",
    "fcnet": "Fully connected baseline (Table 2's FC network; sizes ours): Dense 256, Dense 128 (ReLU, Dropout "
             "0.5), softmax.",
}


def _register(arch, factory, description):
    for task, classes in CLASSES.items():
        name = f"{arch}_{_TASK_NAME[task]}"
        module = "training.racnet"
        flag = {"racnet": "", "rcnet": " --arch rcnet", "cnet": " --arch cnet", "fcnet": " --arch fcnet"}[arch]
        command = f"python -m {module} --task {task}{flag}"
        overrides = {} if arch == "racnet" else {"title": f"{description} ({task.upper()}; ablation of RAC-Net)",
                                                 "architecture": _ARCH_TEXT[arch]}
        register_model(name, preset=_PRESET[task], recipe=RECIPES[task], command=command,
                       n_classes=len(classes), card_overrides=overrides,
                       description=f"{description}, {task.upper()}: {'/'.join(classes)}")(factory)


def racnet(n_classes: int = 4, n_pixels: int = N_PIXELS, filters=FILTERS, kernel_size: int = 3,
           pool=RES_POOLS, dense: int = FC_UNITS, dropout: float = FC_DROPOUT, input_scale=None, seed=None,
           name: str = "racnet"):
    """RAC-Net (Zou et al. 2020, Sec. 2.7, Fig. 7): eight residual blocks with channel attention.

    Returns a Keras model: input ``flux`` (n, n_pixels) L2-normalized, output
    ``{"class": (n, n_classes) softmax}``.
    """
    return _residual_net(n_classes, True, n_pixels, tuple(filters), kernel_size, pool, dense, dropout,
                         input_scale, seed, name)


def rcnet(n_classes: int = 4, n_pixels: int = N_PIXELS, filters=FILTERS, kernel_size: int = 3,
          pool=RES_POOLS, dense: int = FC_UNITS, dropout: float = FC_DROPOUT, input_scale=None, seed=None,
          name: str = "rcnet"):
    """RC-Net (Sec. 3.2, Fig. 6): RAC-Net without the attention blocks."""
    return _residual_net(n_classes, False, n_pixels, tuple(filters), kernel_size, pool, dense, dropout,
                         input_scale, seed, name)


def cnet(n_classes: int = 4, n_pixels: int = N_PIXELS, filters=FILTERS, kernel_size: int = 3,
         pools=CNET_POOLS, dense: int = FC_UNITS, dropout: float = FC_DROPOUT, input_scale=None, seed=None,
         name: str = "cnet"):
    """C-Net (Sec. 3.1, Fig. 5): eight plain convolutional layers with max-pooling, Flatten, FC 128."""
    import keras
    from keras import layers
    inputs, x = _input(n_pixels, input_scale)
    for i, (f, p) in enumerate(zip(filters, pools)):
        x = _conv(f, kernel_size, f"conv{i + 1}", None if seed is None else seed + i)(x)
        if p:
            x = layers.MaxPooling1D(p, padding="same", name=f"conv{i + 1}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    out = _head(x, n_classes, dense, dropout, seed, name)
    return keras.Model(inputs, {"class": out}, name=name)


def fcnet(n_classes: int = 4, n_pixels: int = N_PIXELS, hidden=FC_HIDDEN, dropout: float = FC_DROPOUT,
          input_scale=None, seed=None, name: str = "fcnet"):
    """Fully connected baseline (the "FC network" row of Table 2; sizes ours)."""
    import keras
    from keras import layers
    inputs = keras.Input((n_pixels,), name="flux")
    scale = math.sqrt(n_pixels) if input_scale is None else float(input_scale)
    x = layers.Rescaling(scale, name="input_scale")(inputs)
    for i, h in enumerate(hidden):
        x = layers.Dense(h, activation="relu", name=f"fc{i + 1}",
                         kernel_initializer=keras.initializers.GlorotUniform(
                             seed=None if seed is None else seed + i))(x)
        x = layers.Dropout(dropout, seed=seed, name=f"fc{i + 1}_dropout")(x)
    out = layers.Dense(n_classes, activation="softmax", name="class")(x)
    return keras.Model(inputs, {"class": out}, name=name)


_register("racnet", racnet, "RAC-Net")
_register("rcnet", rcnet, "RC-Net")
_register("cnet", cnet, "C-Net")
_register("fcnet", fcnet, "FC baseline")
