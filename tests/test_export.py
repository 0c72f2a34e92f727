"""Keras / SavedModel / ONNX round trip of a small model, and damaged artifacts."""
import json
import os
import shutil

import numpy as np
import pytest

import zoo
from zoo.registry import load_preset
from zoo.errors import ArtifactError, ChecksumMismatchError
from zoo.export import export_model, read_test_data
from fixtures_export import starnet_export  # one StarNet export for this file and test_onnx_graph.py


@pytest.fixture(scope="module")
def exported_small(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("small"))
    model = zoo.create_model("autoclassmk", hidden=(16, 8), seed=1)
    x = np.random.default_rng(0).normal(1.0, 0.05, (5, 1600)).astype(np.float32)
    card = export_model(model, load_preset("autoclassmk"), d, x)
    return d, x, card, model


def test_artifacts_and_card(exported_small):
    d, x, card, _ = exported_small
    for f in ("model.keras", "model.onnx", "card.json", "saved_model", "test_data_set_0"):
        assert os.path.exists(os.path.join(d, f))
    assert set(card.artifacts) >= {"model.keras", "model.onnx", "test_data_set_0/input_0.pb"}
    assert card.versions["onnx_opset"] == 17 and card.versions["tf2onnx"] == "1.17.0"
    assert sorted(card.artifacts["model.onnx"]["outputs"]) == ["luminosity_class", "spectral_class"]


def test_onnx_checker_and_test_data(exported_small):
    import onnx
    d, x, card, model = exported_small
    onnx.checker.check_model(onnx.load(os.path.join(d, "model.onnx")), full_check=True)
    flux, outs = read_test_data(d)
    np.testing.assert_array_equal(flux, x)
    ref = model.predict_on_batch(x)
    for k in card.output_names:
        np.testing.assert_allclose(outs[k], ref[k], atol=1e-6)


def test_backends_agree(exported_small):
    d, x, card, _ = exported_small
    probs = {b: zoo.load_model("autoclassmk", backend=b, directory=d).predict_proba(x)
             for b in ("keras", "onnx", "savedmodel")}
    for b in ("onnx", "savedmodel"):
        for k in card.output_names:
            np.testing.assert_allclose(probs[b][k], probs["keras"][k], atol=1e-5)
    labels = zoo.load_model("autoclassmk", backend="onnx", directory=d).predict(x)
    assert labels["spectral_class"].dtype.kind == "U" and labels["luminosity_class"][0] in ("I", "III", "V")


def test_truncated_onnx_and_checksum(exported_small, tmp_path):
    d, *_ = exported_small
    bad = str(tmp_path / "bad")
    shutil.copytree(d, bad)
    onnx_path = os.path.join(bad, "model.onnx")
    with open(onnx_path, "rb") as fh:
        data = fh.read()
    with open(onnx_path, "wb") as fh:
        fh.write(data[: len(data) // 3])
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        zoo.load_model("autoclassmk", backend="onnx", directory=bad)
    with pytest.raises(ArtifactError, match="ONNX"):
        zoo.load_model("autoclassmk", backend="onnx", directory=bad, verify=False)


def test_missing_card(tmp_path):
    with pytest.raises(ArtifactError, match="card.json"):
        zoo.load_model("autoclassmk", directory=str(tmp_path))


def test_safe_mode_keras_file_has_no_lambda(exported_small):
    import zipfile
    d, *_ = exported_small
    with zipfile.ZipFile(os.path.join(d, "model.keras")) as z:
        config = json.loads(z.read("config.json"))
    assert "Lambda" not in json.dumps(config)


def test_registered_architecture_keeps_its_weights_once(tmp_path):
    """A model of the registered architecture is exported without model.keras (derived from the
    ONNX weights); the Keras backend derives it and agrees with ONNX Runtime; `zoo export` writes it."""
    d = str(tmp_path / "autoclassmk")
    model = zoo.create_model("autoclassmk", seed=3)
    x = np.random.default_rng(1).normal(1.0, 0.05, (4, 1600)).astype(np.float32)
    card = export_model(model, load_preset("autoclassmk"), d, x, saved_model=False)
    assert "derived_from" in card.artifacts["model.keras"] and not os.path.exists(os.path.join(d, "model.keras"))
    k = zoo.load_model("autoclassmk", backend="keras", directory=d)
    o = zoo.load_model("autoclassmk", backend="onnx", directory=d)
    for h, v in k.predict_proba(x).items():
        np.testing.assert_allclose(v, o.predict_proba(x)[h], atol=1e-5)
    np.testing.assert_allclose(k.predict_proba(x)["spectral_class"],
                               model.predict_on_batch(x)["spectral_class"], atol=1e-6)


@pytest.fixture(scope="module")
def starnet(tmp_path_factory):
    return starnet_export(tmp_path_factory)


def test_conv1d_export_is_fused_for_onnx_runtime(starnet):
    """Conv1D layers leave export as one chain (bias inside the Conv, no separate bias Add; only
    the narrow first one 1-D): same outputs as without the rewrite, same
    as Keras, and the Keras model still derives from the ONNX weights."""
    import collections

    import onnx
    import onnxruntime as ort

    from zoo.derive import keras_from_onnx
    from zoo.registry import get_entry
    plain, fused, x = starnet.plain, starnet.fused, starnet.x
    ops = collections.Counter(n.op_type for n in onnx.load(fused).graph.node)
    ops_plain = collections.Counter(n.op_type for n in onnx.load(plain).graph.node)
    assert ops["Conv"] == ops_plain["Conv"] == 2
    # one Squeeze/Unsqueeze pair into and out of the 1-D first convolution (zoo.onnx_graph.narrow_convs_1d)
    assert ops["Squeeze"] == ops["Unsqueeze"] == 2 < ops_plain["Squeeze"]
    assert ops["Add"] == ops_plain["Add"] - 2                         # the two conv biases
    conv = [n for n in onnx.load(fused).graph.node if n.op_type == "Conv"]
    assert all(len(n.input) == 3 and n.input[2] for n in conv)
    run = {p: ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, {"flux": x})[0]
           for p in (plain, fused)}
    np.testing.assert_allclose(run[fused], run[plain], atol=1e-6)
    np.testing.assert_allclose(run[fused], starnet.keras_labels, atol=1e-4)
    derived = keras_from_onnx(get_entry("starnet").build(), fused)
    np.testing.assert_allclose(derived.predict_on_batch(x)["labels"], starnet.keras_labels, atol=1e-6)


def test_fuse_leaves_dense_models_alone():
    import onnx

    from zoo.export import fuse_conv1d
    from zoo.predictor import exported_dir
    path = os.path.join(exported_dir("autoclassmk"), "model.onnx")
    if not os.path.exists(path):
        pytest.skip("no exported/autoclassmk")
    proto = onnx.load(path)
    before = [n.op_type for n in proto.graph.node]
    proto, stats = fuse_conv1d(proto)
    assert not any(stats.values()) and [n.op_type for n in proto.graph.node] == before
