"""Derive a trained Keras model from its ONNX export: the weights live once, in ``model.onnx``.

``exported/`` is in git, and ``model.keras`` and ``model.onnx`` hold the same
weights twice.  The ONNX file cannot be derived without TensorFlow (and the
base install has none), so it is the one kept; the Keras model is the
registered factory's architecture (``zoo.create_model(name)``, held equal to
the trained one by ``tests/test_registry.py``) with the weights read back from
the ONNX initializers.  :func:`keras_from_onnx` does that and checks the result
against the export's ``test_data_set_0`` (real spectra and the Keras outputs
recorded at export); a model it cannot reproduce exactly keeps its
``model.keras`` in git.

The mapping follows tf2onnx's naming: the nodes of Keras layer ``L`` in model
``M`` are named ``M_1/L_1/...``; a ``Dense`` is ``MatMul(x, kernel)`` then
``Add(., bias)`` (output ``.../L_1/BiasAdd:0``); a ``Conv1D`` is a 2-D
``Conv`` with weights ``(out, in, 1, k)`` (or 1-D, ``(out, in, k)``; Keras: ``(k, in, out)``) then the
same ``Add``; a ``Dense`` after a ``Flatten`` of a convolution output may have its kernel rows
in channels-first order, marked in the initializer's name (:func:`zoo.onnx_graph.fold_flatten_transpose`).
Layers of other kinds with weights make the derivation refuse.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import ArtifactError
from .onnx_graph import PERMUTED_SUFFIX

__all__ = ["keras_from_onnx", "onnx_layer_weights", "DERIVABLE_LAYERS"]

DERIVABLE_LAYERS = ("Dense", "Conv1D")


def _segment(name: str) -> str | None:
    parts = name.split("/")
    return parts[1] if len(parts) > 2 else None


def onnx_layer_weights(onnx_path) -> dict[str, dict[str, np.ndarray]]:
    """``{keras layer name: {"kernel": ..., "bias": ...}}`` in Keras layouts, from an ONNX file."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(os.fspath(onnx_path))
    inits = {t.name: t for t in model.graph.initializer}
    out: dict[str, dict[str, np.ndarray]] = {}
    for node in model.graph.node:
        seg = _segment(node.output[0]) if node.output else None
        consts = [numpy_helper.to_array(inits[i]) for i in node.input if i in inits]
        if node.op_type == "Add" and len(consts) == 1 and len(node.input) == 2:
            # a bias: its Add may output a graph output (renamed): take the layer from its input
            var = next(i for i in node.input if i not in inits)
            const = next(i for i in node.input if i in inits)
            seg_in = _segment(var)
            if seg_in and seg_in.endswith("_1") and (node.output[0].endswith(f"/{seg_in}/BiasAdd:0")
                                                     or _segment(const) == seg_in):
                out.setdefault(seg_in[:-2], {})["bias"] = consts[0].reshape(-1)
            continue
        if not seg or not seg.endswith("_1"):
            continue
        layer = seg[:-2]
        if node.op_type == "MatMul" and len(consts) == 1 and consts[0].ndim == 2:
            w = consts[0]
            name = next(i for i in node.input if i in inits)
            if PERMUTED_SUFFIX in name:     # rows in (C, L) order (zoo.onnx_graph): back to (L, C)
                c, length = (int(v) for v in name.rsplit(PERMUTED_SUFFIX, 1)[1].split("x"))
                w = w.reshape(c, length, -1).transpose(1, 0, 2).reshape(c * length, -1)
            out.setdefault(layer, {})["kernel"] = w
        elif node.op_type == "Conv" and len(consts) >= 1 and consts[0].ndim in (3, 4):
            w = consts[0]
            if w.ndim == 4 and w.shape[2] != 1:
                raise ArtifactError(f"{onnx_path}: Conv of layer {layer!r} is not a Conv1D ({w.shape})")
            w = w[:, :, 0, :] if w.ndim == 4 else w       # 1-D (zoo.onnx_graph.narrow_convs_1d)
            out.setdefault(layer, {})["kernel"] = np.transpose(w, (2, 1, 0))
            if len(consts) == 2:
                out[layer]["bias"] = consts[1].reshape(-1)
    return out


def keras_from_onnx(model, onnx_path, check_dir=None, atol: float = 1e-5):
    """Load the weights of ``onnx_path`` into ``model`` (the registered factory's architecture).

    With ``check_dir`` (an exported model's directory), the result must reproduce
    its ``test_data_set_0`` outputs to ``atol``, else :class:`~zoo.errors.ArtifactError`.
    Returns ``model``.
    """
    weights = onnx_layer_weights(onnx_path)
    for layer in model.layers:
        if not layer.weights:
            continue
        kind = type(layer).__name__
        if kind not in DERIVABLE_LAYERS:
            raise ArtifactError(f"layer {layer.name!r} ({kind}) cannot be derived from ONNX")
        w = weights.get(layer.name, {})
        if "kernel" not in w:
            raise ArtifactError(f"{onnx_path}: no ONNX weights found for layer {layer.name!r}")
        if layer.use_bias and "bias" not in w:
            if check_dir is None:
                raise ArtifactError(f"{onnx_path}: no ONNX bias found for layer {layer.name!r}")
            # tf2onnx drops the Add of an all-zero bias; the check against the test data decides
            w["bias"] = np.zeros(layer.get_weights()[1].shape, np.float32)
        values = [w["kernel"]] + ([w["bias"]] if layer.use_bias else [])
        shapes = [tuple(v.shape) for v in layer.get_weights()]
        if [tuple(v.shape) for v in values] != shapes:
            raise ArtifactError(f"layer {layer.name!r}: ONNX weights {[v.shape for v in values]} "
                                f"do not fit the architecture's {shapes}")
        layer.set_weights(values)
    if check_dir is not None:
        from .artifacts import read_test_data
        flux, expected = read_test_data(check_dir)
        got = model.predict_on_batch(flux)
        worst = max(float(np.max(np.abs(np.asarray(got[k]) - v))) for k, v in expected.items())
        if worst > atol:
            raise ArtifactError(f"the Keras model derived from {onnx_path} differs from the recorded "
                                f"outputs by {worst:.2e} > {atol}")
    return model


def derived_keras_model(card, directory):
    """The Keras model of an export whose ``model.keras`` is derived from ``model.onnx``
    (checked against its ``test_data_set_0``)."""
    from .registry import architecture_of, get_entry
    return keras_from_onnx(get_entry(architecture_of(card)).build(), os.path.join(os.fspath(directory), "model.onnx"),
                           check_dir=directory, atol=1e-5)
