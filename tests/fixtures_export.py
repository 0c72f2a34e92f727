"""One StarNet export shared by tests/test_export.py and tests/test_onnx_graph.py.

Building and exporting StarNet (tf2onnx, twice: with and without the Conv1D rewrite) is the
slow part of both files; :func:`starnet_export` does it once per test session, whichever file
asks first (a module-level cache: a fixture imported into two modules would be two fixtures,
each run once).  Each test module wraps it in its own fixture::

    @pytest.fixture(scope="module")
    def starnet(tmp_path_factory):
        return starnet_export(tmp_path_factory)
"""
import types

import numpy as np

_CACHE: dict = {}


def random_biases(model, rng):
    """Non-zero biases everywhere (tf2onnx drops an all-zero bias, hiding what a rewrite does)."""
    for layer in model.layers:
        if layer.weights and len(layer.get_weights()) == 2:
            w = layer.get_weights()
            layer.set_weights([w[0], rng.normal(0, 0.1, w[1].shape).astype(np.float32)])


def starnet_export(tmp_path_factory):
    """``model`` (StarNet, seed 2, random biases), ``x`` (3 spectra), ``plain`` (ONNX without the
    Conv1D rewrite), ``fused`` (ONNX as exported), ``keras_labels`` (Keras on ``x``).  Read only."""
    if "starnet" not in _CACHE:
        import zoo
        from zoo.export import export_onnx
        model = zoo.create_model("starnet", seed=2)
        rng = np.random.default_rng(2)
        random_biases(model, rng)
        x = rng.normal(1.0, 0.05, (3, 8575)).astype(np.float32)
        d = tmp_path_factory.mktemp("shared_starnet_export")
        plain = export_onnx(model, str(d / "plain.onnx"), 8575, fuse=False)
        fused = export_onnx(model, str(d / "model.onnx"), 8575)
        _CACHE["starnet"] = types.SimpleNamespace(model=model, x=x, plain=plain, fused=fused,
                                                  keras_labels=np.asarray(model.predict_on_batch(x)["labels"]))
    return _CACHE["starnet"]
