"""The ONNX deployment kit (zoo.onnx_kit, issue 12): the contract in metadata_props (or the card
beside an older export), raw spectrum -> contract -> ONNX Runtime -> labels, the same answers as
the Predictor's ONNX backend (which is the kit), and no TensorFlow anywhere on that path."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo.card import ModelCard
from zoo.errors import ArtifactError
from zoo.export import read_test_data
from zoo.onnx_kit import (METADATA_KEYS, OnnxModel, add_metadata, contract_from_metadata, metadata_props,
                          read_metadata)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTED = sorted(n for n in os.listdir(os.path.join(REPO, "exported"))
                  if os.path.exists(os.path.join(REPO, "exported", n, "model.onnx")))
DATA = os.path.join(REPO, "zoo", "data")


def _dir(name):
    return os.path.join(REPO, "exported", name)


def _card(name):
    return ModelCard.from_json(os.path.join(_dir(name), "card.json"))


def _with_metadata(name, dest, card=None):
    """A copy of the committed model.onnx alone in ``dest``, carrying ``card``'s metadata_props."""
    import onnx
    proto = onnx.load(os.path.join(_dir(name), "model.onnx"))
    add_metadata(proto, card or _card(name))
    os.makedirs(dest, exist_ok=True)
    path = os.path.join(dest, "model.onnx")
    onnx.save(proto, path)
    return path


@pytest.mark.parametrize("name", EXPORTED)
def test_metadata_props_carry_the_contract(name):
    card = _card(name)
    meta = metadata_props(card)
    assert set(meta) == set(METADATA_KEYS) and all(isinstance(v, str) for v in meta.values())
    contract, outputs = contract_from_metadata(meta)
    assert contract == card.input and outputs == card.outputs
    assert json.loads(meta["zoo.output_names"]) == card.output_names
    assert json.loads(meta["zoo.class_names"]) == {o.name: o.classes for o in card.outputs if o.kind == "class"}
    assert json.loads(meta["zoo.units"]) == {o.name: dict(zip(o.labels, o.units))
                                             for o in card.outputs if o.kind != "class"}
    assert json.loads(meta["zoo.input_contract"])["n_pixels"] == card.input.n_pixels


@pytest.mark.parametrize("name", EXPORTED)
def test_committed_exports_fall_back_to_their_card_and_reproduce_test_data(name):
    """Exports older than the kit have no metadata_props: the card beside them gives the contract."""
    m = OnnxModel(_dir(name))
    assert m.contract_source in ("card.json", "metadata_props") and m.contract == _card(name).input
    flux, expected = read_test_data(_dir(name))
    got = m.run(flux, batch_size=2)                       # batching does not change the answers
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, atol=1e-5)
    empty = m.run(np.zeros((0, m.contract.n_pixels), np.float32))
    assert all(v.shape[0] == 0 for v in empty.values())


def test_metadata_alone_is_enough_and_matches_the_predictor(tmp_path):
    """model.onnx with metadata_props and no card.json: a real .rbn spectrum gives the same
    labels as zoo.load_model(..., backend="onnx")."""
    from zoo.io import read
    name = "autoclassmk"
    path = _with_metadata(name, str(tmp_path / "alone"))
    assert not os.path.exists(tmp_path / "alone" / "card.json")
    assert read_metadata(path)["zoo.name"] == name
    m = OnnxModel(path)
    assert m.contract_source == "metadata_props" and m.labels == _card(name).labels
    files = zoo.example_files("mk_atlas/**/*.rbn")[:3]
    ref = zoo.load_model(name, backend="onnx", directory=_dir(name))
    for f in files:
        s = read(f)
        got, want = m.predict(s), ref.predict(f)
        for k in got:
            if got[k].dtype.kind == "f":
                np.testing.assert_allclose(got[k], want[k], rtol=1e-6)
            else:
                assert (got[k] == want[k]).all()
    # arrays with wavelengths (Angstrom floats) work the same way
    s = read(files[0])
    arr = m.predict(s.flux, wavelength=s.wavelength.value, mask=s.mask)
    assert arr["spectral_class"][0] == ref.predict(files[0])["spectral_class"][0]


def test_metadata_and_card_must_agree(tmp_path):
    name = "autoclassmk"
    card = _card(name)
    wrong = card.replace(input=card.input.__class__(**{**card.input.__dict__, "n_pixels": 1599}))
    d = str(tmp_path / "m")
    _with_metadata(name, d, card=wrong)
    shutil.copy(os.path.join(_dir(name), "card.json"), d)
    with pytest.raises(ArtifactError, match="differ"):
        OnnxModel(d)
    # free-text notes may be edited in the card later without breaking the file
    noted = card.replace(input=card.input.__class__(**{**card.input.__dict__, "notes": "edited"}))
    _with_metadata(name, d, card=noted)
    assert OnnxModel(d).contract_source == "metadata_props"


def test_predictor_onnx_backend_is_the_kit():
    p = zoo.load_model("autoclassmk", backend="onnx", directory=_dir("autoclassmk"))
    assert isinstance(p.onnx_model, OnnxModel) and p.session is p.onnx_model.session
    flux, expected = read_test_data(p.directory)
    got = p.predict_raw(flux)
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, atol=1e-5)


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"nonsense")
    with pytest.raises(ArtifactError, match="not a loadable"):
        OnnxModel(str(bad))
    with pytest.raises(ArtifactError, match="no such"):
        OnnxModel(str(tmp_path / "nothing"))


def test_export_writes_metadata_props(tmp_path):
    """zoo.export.export_onnx puts the card into metadata_props (every future export)."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    from zoo.export import export_onnx
    card = zoo.get_card("autoclassmk", trained=False)
    model = zoo.create_model("autoclassmk", hidden=(8,), seed=1)
    path = export_onnx(model, str(tmp_path / "model.onnx"), card.input.n_pixels, card=card)
    meta = read_metadata(path)
    assert {k: meta[k] for k in METADATA_KEYS} == metadata_props(card)
    m = OnnxModel(path)
    assert m.contract_source == "metadata_props" and m.contract == card.input
    x = np.ones((2, card.input.n_pixels), np.float32)
    np.testing.assert_allclose(m.run(x)["spectral_class"], model.predict_on_batch(x)["spectral_class"], atol=1e-5)


_NO_TF = r"""
import sys
BLOCKED = ('tensorflow', 'keras', 'tf2onnx', 'scipy', 'sklearn', 'pooch', 'requests', 'onnx', 'matplotlib')
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError('the ONNX kit imported ' + name)
sys.meta_path.insert(0, Block())
from zoo.onnx_kit import OnnxModel
from zoo.io import read
for model_dir, spectrum in zip(sys.argv[1::2], sys.argv[2::2]):
    m = OnnxModel(model_dir)
    out = m.predict(read(spectrum))
    print(m.name, m.contract_source, {k: str(v[0]) for k, v in out.items()})
assert not [k for k in sys.modules if k.split('.')[0] in BLOCKED]
print("NO-TF-OK")
"""


def test_the_kit_never_imports_tensorflow(tmp_path):
    """numpy, astropy and onnxruntime only: TensorFlow, Keras, tf2onnx, SciPy, scikit-learn, the
    download machinery and even the onnx package are blocked; a raw apStar file (the APOGEE
    continuum normalization) and an .rbn spectrum, with the contract from card.json and from
    metadata_props."""
    apstar = zoo.example_files("apogee/apStar*.fits")
    rbn = zoo.example_files("mk_atlas/**/*.rbn")
    args = []
    if "starnet" in EXPORTED and apstar:
        args += [_dir("starnet"), apstar[0]]
    if "autoclassmk" in EXPORTED and rbn:
        args += [_dir("autoclassmk"), rbn[0], _with_metadata("autoclassmk", str(tmp_path / "meta")), rbn[0]]
    if not args:
        pytest.skip("no exported models")
    r = subprocess.run([sys.executable, "-c", _NO_TF, *args], capture_output=True, text=True, cwd=REPO,
                       timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0 and "NO-TF-OK" in r.stdout, r.stderr[-3000:]
    assert "metadata_props" in r.stdout


@pytest.mark.parametrize("name", ["racnet_ds2", "emission_fc"])
def test_chunked_calls_give_the_same_outputs_to_the_bit(name):
    """OnnxModel splits a batch into calls of ``chunk`` rows (the conv nets are faster so): every
    chunk, the tuned one included, gives the one-call outputs exactly."""
    from zoo.onnx_kit import CHUNK_CANDIDATES, PARALLEL_CANDIDATES, PARALLEL_ROWS, TUNE_ROWS, TUNE_SAMPLES
    flux, _ = read_test_data(_dir(name))
    x = np.resize(flux, (2 * TUNE_ROWS + 5, flux.shape[1])).astype(np.float32)
    x += np.random.default_rng(0).normal(0, 0.01, x.shape).astype(np.float32)   # rows differ
    whole = OnnxModel(_dir(name), chunk=None)(x)
    for chunk in (1, 7, 64):
        got = OnnxModel(_dir(name), chunk=chunk)(x)
        assert all(np.array_equal(got[k], whole[k]) for k in whole), chunk
    auto = OnnxModel(_dir(name))
    assert auto.chunk == "auto" and auto.chunk_info is None
    small = auto(x[:TUNE_ROWS - 1])                      # too few rows to measure on: one call
    assert auto.chunk_info is None and all(np.array_equal(small[k], whole[k][:TUNE_ROWS - 1]) for k in whole)
    calls = 0
    while auto.chunk_info is None:                        # the large calls tune, on their own rows
        got = auto(x)
        calls += 1
        assert all(np.array_equal(got[k], whole[k]) for k in whole), calls
        assert calls < 40
    info = auto.chunk_info
    rows = {str(c): c for c in CHUNK_CANDIDATES}
    rows.update({f"{c} parallel": max(c, PARALLEL_ROWS) * auto.parallel for c in PARALLEL_CANDIDATES}
                if auto.parallel > 1 else {})
    wanted = {k: r for k, r in rows.items() if r <= x.shape[0]}
    assert set(info["seconds_per_row"]) == set(wanted)
    assert f"{info['chunk']}{' parallel' if info['parallel'] else ''}" in wanted
    assert info["rows"] >= sum(wanted.values()) * (TUNE_SAMPLES + 1)
    got = auto(x)
    assert auto.chunk_info is info and all(np.array_equal(got[k], whole[k]) for k in whole)
    # the chosen chunk is the fastest measured (or within 3 % of it and larger)
    fastest = min(info["seconds_per_row"].values())
    assert info["seconds_per_row"][f"{info['chunk']}{' parallel' if info['parallel'] else ''}"] <= 1.03 * fastest
    for chunk, parallel in ((16, True), (7, False)):     # every plan gives the one-call outputs
        auto.chunk_info = {**info, "chunk": chunk, "parallel": parallel}
        got = auto(x)
        assert all(np.array_equal(got[k], whole[k]) for k in whole), (chunk, parallel)


def test_chunk_must_be_auto_none_or_positive():
    for bad in (0, -4, "fast", 2.5):
        with pytest.raises(ValueError, match="chunk"):
            OnnxModel(_dir("autoclassmk"), chunk=bad)
