"""What is registered is what is exported (issue 8, sec. 3): for every exported model the
registered factory builds exactly the architecture in model.keras, and the exported card's
input contract, labels and recipe equal the preset's."""
import json
import os

import pytest

import zoo
from zoo.predictor import exported_dir
from zoo.registry import get_entry

EXPORTED = [n for n in zoo.list_models() if os.path.exists(os.path.join(exported_dir(n), "card.json"))]


def _strip(cfg):
    """A Keras config without what differs between two builds of one architecture
    (initializer seeds, the model's and layers' auto names are kept: they are part of it)."""
    if isinstance(cfg, dict):
        return {k: _strip(v) for k, v in cfg.items() if k not in ("seed", "build_config", "compile_config")}
    if isinstance(cfg, list):
        return [_strip(v) for v in cfg]
    return cfg


@pytest.mark.parametrize("name", EXPORTED)
def test_exported_card_equals_preset(name):
    preset = get_entry(name).card()
    exported = zoo.get_card(name)
    assert exported.name == name == preset.name
    assert exported.input == preset.input
    assert exported.labels == preset.labels
    assert [(o.name, o.kind, o.units) for o in exported.outputs] == [(o.name, o.kind, o.units) for o in preset.outputs]
    assert exported.recipe == preset.recipe
    assert exported.title == preset.title
    assert exported.recipe["command"].startswith("python -m training.")


@pytest.mark.parametrize("name", EXPORTED)
def test_registered_factory_builds_the_exported_architecture(name):
    """The registered factory, given the exported weights, reproduces the export's recorded
    outputs on real spectra: the architecture is the trained one (a different layer, shape or
    input shift could not)."""
    import keras
    from zoo import layers  # noqa: F401
    from zoo.derive import keras_from_onnx
    d = exported_dir(name)
    built = keras_from_onnx(zoo.create_model(name), os.path.join(d, "model.onnx"), check_dir=d)
    keras_file = os.path.join(d, "model.keras")
    if "derived_from" in zoo.get_card(name).artifacts["model.keras"]:
        assert not _tracked(keras_file), f"{keras_file} is derived from model.onnx: keep it out of git"
    else:   # a model the derivation cannot reproduce keeps its file: same config and size
        saved = keras.saving.load_model(keras_file, safe_mode=True, compile=False)
        assert built.count_params() == saved.count_params()
        a = json.loads(json.dumps(_strip(built.get_config()), default=str))
        b = json.loads(json.dumps(_strip(saved.get_config()), default=str))
        assert a == b


def _tracked(path) -> bool:
    import subprocess
    r = subprocess.run(["git", "ls-files", "--error-unmatch", path], capture_output=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return r.returncode == 0


def test_variants_have_their_own_recipe_and_command():
    broad, exact = get_entry("autoclassmk_broad").card(), get_entry("autoclassmk").card()
    assert broad.recipe["broadening_sigma_px"] != exact.recipe["broadening_sigma_px"]
    assert "--model autoclassmk_broad" in broad.recipe["command"]
    assert broad.title != exact.title
    assert get_entry("apogeenet").defaults == {"init": "he_normal", "input_shift": -1.0}


def test_list_shows_family_and_paper(capsys):
    from zoo.__main__ import main
    assert main(["list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["racnet_fgk"].split()[2] == "racnet" and "Zou et al. (2020)" in rows["racnet_fgk"]
    assert rows["emission_cnn"].split()[2] == "bestars" and rows["autoclassmk"].split()[2] == "autoclassmk"
    assert "apogee" in rows["starnet"] and "Fabbro et al. (2018)" in rows["starnet"]
    assert "Short (2026)" in rows["autoclassmk"]


def test_create_model_pretrained_gives_the_exported_network():
    import numpy as np
    pytest.importorskip("keras")
    import zoo
    from zoo.artifacts import read_test_data
    from zoo.predictor import exported_dir
    m = zoo.create_model("racnet_fgk", pretrained=True)
    flux, want = read_test_data(exported_dir("racnet_fgk"))
    got = m.predict(flux, verbose=0)
    np.testing.assert_allclose(got["class"], want["class"], atol=1e-5)
    untrained = zoo.create_model("racnet_fgk")
    assert not np.allclose(untrained.predict(flux, verbose=0)["class"], want["class"], atol=1e-3)
    with pytest.raises(TypeError):
        zoo.create_model("racnet_fgk", pretrained=True, seed=3)
