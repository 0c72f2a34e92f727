"""zoo.onnx_graph: the channels-first rewrites of exported graphs compute the same function."""
import collections
import os

import numpy as np
import pytest

from fixtures_export import random_biases as _random_biases
from fixtures_export import starnet_export  # one StarNet export for this file and test_export.py

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_attention_network_runs_channels_first(tmp_path):
    """A small RAC-Net (attention blocks, 1x1 and identity shortcuts, a block without pooling)
    exports without a single Transpose or Tile, gives the plain export's and Keras' outputs,
    and its Keras model still derives from the ONNX weights."""
    import onnx
    import onnxruntime as ort

    from zoo.derive import keras_from_onnx
    from zoo.export import export_onnx
    from zoo.families.racnet.models import racnet
    rng = np.random.default_rng(5)
    model = racnet(n_classes=3, n_pixels=256, filters=(4, 8, 8), pool=(2, 2, 1), dense=16, seed=1)
    _random_biases(model, rng)
    x = rng.normal(0.06, 0.01, (4, 256)).astype(np.float32)
    plain = export_onnx(model, str(tmp_path / "plain.onnx"), 256, fuse=False)
    fused = export_onnx(model, str(tmp_path / "model.onnx"), 256)
    ops = collections.Counter(n.op_type for n in onnx.load(fused).graph.node)
    ops_plain = collections.Counter(n.op_type for n in onnx.load(plain).graph.node)
    assert ops_plain["Transpose"] > 0 and ops_plain["Tile"] == 3
    assert ops["Transpose"] == 0 and ops["Tile"] == 0 and ops["Conv"] == ops_plain["Conv"]
    run = {p: ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(["class"], {"flux": x})[0]
           for p in (plain, fused)}
    np.testing.assert_allclose(run[fused], run[plain], atol=1e-6)
    np.testing.assert_allclose(run[fused], model.predict_on_batch(x)["class"], atol=1e-5)
    derived = keras_from_onnx(racnet(n_classes=3, n_pixels=256, filters=(4, 8, 8), pool=(2, 2, 1),
                                     dense=16, seed=9), fused)
    np.testing.assert_allclose(derived.predict_on_batch(x)["class"], model.predict_on_batch(x)["class"],
                               atol=1e-6)


@pytest.fixture(scope="module")
def starnet(tmp_path_factory):
    return starnet_export(tmp_path_factory)


def test_flatten_transpose_is_folded_into_the_dense_kernel(starnet):
    """StarNet's Flatten of a channels-last feature map: no transpose left, the dense kernel's
    rows permuted (and named so), same outputs; the derived Keras kernel is Keras' own."""
    import onnx
    import onnxruntime as ort

    from zoo.derive import onnx_layer_weights
    from zoo.onnx_graph import PERMUTED_SUFFIX
    path, model = starnet.fused, starnet.model
    proto = onnx.load(path)
    assert not [n for n in proto.graph.node if n.op_type == "Transpose"]
    permuted = [t for t in proto.graph.initializer if PERMUTED_SUFFIX in t.name]
    assert len(permuted) == 1 and permuted[0].name.endswith(f"{PERMUTED_SUFFIX}16x2143")
    kernel = model.get_layer("dense_1").get_weights()[0]
    onnx_kernel = onnx.numpy_helper.to_array(permuted[0])
    assert not np.array_equal(onnx_kernel, kernel)              # really permuted
    np.testing.assert_array_equal(onnx_layer_weights(path)["dense_1"]["kernel"], kernel)
    out = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(["labels"], {"flux": starnet.x})[0]
    np.testing.assert_allclose(out, starnet.keras_labels, atol=1e-4)


def test_scalar_constant_gets_the_rank_of_its_operand():
    """A 0-d constant added to an (N, L, 1) tensor becomes (1, 1, 1): same values."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from zoo.onnx_graph import optimize, rank_scalar_constants
    g = helper.make_graph(
        [helper.make_node("Reshape", ["x", "s"], ["r"]), helper.make_node("Add", ["r", "c"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 50])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 50, 1])],
        [helper.make_tensor("s", TensorProto.INT64, [3], [-1, 50, 1]),
         helper.make_tensor("c", TensorProto.FLOAT, [], [-1.0])])
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = np.random.default_rng(0).random((3, 50)).astype(np.float32)
    before = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    new, stats = rank_scalar_constants(proto)
    assert stats == {"scalar_given_rank": 1}
    add = next(n for n in new.graph.node if n.op_type == "Add")
    const = next(t for t in new.graph.initializer if t.name == add.input[1])
    assert list(const.dims) == [1, 1, 1]
    after = ort.InferenceSession(new.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_array_equal(after, before)
    again, stats = optimize(new)                                 # nothing left to do
    assert stats == {}
    assert [n.op_type for n in again.graph.node] == ["Reshape", "Add"]


def test_exported_convolutional_models_have_no_layout_transposes():
    """Every committed export with convolutions went through the rewrites."""
    import onnx

    from zoo.predictor import exported_dir
    root = exported_dir()
    seen = 0
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name, "model.onnx")
        if not os.path.exists(path):
            continue
        ops = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
        if ops["Conv"]:
            seen += 1
            assert ops["Transpose"] == ops["Tile"] == 0, (name, dict(ops))
    assert seen >= 5


def test_narrow_leading_convolutions_run_one_dimensional(starnet):
    """StarNet's first convolution (4 channels, fewer than ONNX Runtime's NCHWc block) is a 1-D
    Conv in the export; the 16-channel one after it stays 2-D (blocked layout); the function and
    the derived Keras weights are unchanged, and the pass does nothing a second time."""
    import onnx
    import onnxruntime as ort

    from zoo.derive import onnx_layer_weights
    from zoo.onnx_graph import NCHWC_BLOCK, narrow_convs_1d
    proto = onnx.load(starnet.fused)
    inits = {t.name: t for t in proto.graph.initializer}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert [len(inits[c.input[1]].dims) for c in convs] == [3, 4]
    assert inits[convs[0].input[1]].dims[0] < NCHWC_BLOCK <= inits[convs[1].input[1]].dims[0]
    again, stats = narrow_convs_1d(proto)
    assert stats == {}
    for layer in ("conv1_1", "conv2_1"):
        np.testing.assert_array_equal(onnx_layer_weights(starnet.fused)[layer]["kernel"],
                                      starnet.model.get_layer(layer).get_weights()[0])
    run = {p: ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(["labels"], {"flux": starnet.x})[0]
           for p in (starnet.plain, starnet.fused)}
    np.testing.assert_allclose(run[starnet.fused], run[starnet.plain], atol=1e-5)


def test_narrow_convs_1d_on_a_chain_of_two():
    """Two narrow convolutions in a row (APOGEE Net's 8 and 8 channels): one Squeeze before the
    first, one Unsqueeze after the second, activations kept, the wide one after them untouched,
    same outputs; a block size of 4 leaves the graph as it is."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from zoo.onnx_graph import narrow_convs_1d
    rng = np.random.default_rng(3)
    w = {f"w{i}": rng.normal(0, 0.3, s).astype(np.float32) for i, s in
         enumerate([(8, 1, 1, 3), (8, 8, 1, 3), (16, 8, 1, 3)])}
    b = {f"b{i}": rng.normal(0, 0.1, s[0]).astype(np.float32) for i, s in
         enumerate([(8,), (8,), (16,)])}
    nodes, x = [], "x"
    for i in range(3):
        nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[1, 3],
                                   pads=[0, 1, 0, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
        if i == 1:
            nodes.append(helper.make_node("MaxPool", [x], ["p"], kernel_shape=[1, 2], strides=[1, 2]))
            x = "p"
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 1, 40])],
                          [helper.make_tensor_value_info("r2", TensorProto.FLOAT, ["N", 16, 1, 20])],
                          [numpy_helper.from_array(v, k) for k, v in {**w, **b}.items()])
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    xs = rng.normal(0, 1, (5, 1, 1, 40)).astype(np.float32)
    before = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": xs})[0]
    new, stats = narrow_convs_1d(proto)
    assert stats == {"conv_1d": 2}
    assert [n.op_type for n in new.graph.node] == ["Squeeze", "Conv", "Relu", "Conv", "Relu", "Unsqueeze",
                                                   "MaxPool", "Conv", "Relu"]
    after = ort.InferenceSession(new.SerializeToString()).run(None, {"x": xs})[0]
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert narrow_convs_1d(proto, block=4)[1] == {}
