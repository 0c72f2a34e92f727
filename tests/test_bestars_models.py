"""The exported emission models: load from exported/, classify the real files, trust outputs on
both backends, the candidate search.  Skips when the models have not been trained/exported."""
import csv
import os
from importlib import resources

import numpy as np
import pytest

import zoo
from zoo.predictor import exported_dir

DATA = resources.files("zoo") / "data"
GCAS = str(resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov" / "gamma-cas-emission.fits")
VEGA = str(resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov" / "alpha-lyr-absorption.fits")
BT_O = str(resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov" / "bt-cmi-ondrejov.fits")
BT_L = str(DATA / "lamost" / "bt-cmi-lamost.fits")
MODELS = ("emission_fc", "emission_cnn")


def _exported(name):
    if not os.path.exists(os.path.join(exported_dir(name), "card.json")):
        pytest.skip(f"exported/{name} is not there (python -m training.{name})")


@pytest.fixture(scope="module", params=MODELS)
def onnx_model(request):
    _exported(request.param)
    return zoo.load_model(request.param, backend="onnx")


def test_card_records_contract_paths_and_trust(onnx_model):
    c = onnx_model.card
    assert c.input.n_pixels == 140 and c.input.medium == "vacuum"
    assert set(c.data["instrument_paths"]) == {"ondrejov", "lamost"}
    assert c.trust["method"] == "emission_pca_distance" and c.trust["threshold"] > 0
    assert "trust.npz" in c.artifacts and c.artifacts["trust.npz"]["sha256"]
    assert c.output("halpha_class").classes == ["emission", "absorption", "double-peak"]


def test_real_files_classified(onnx_model):
    from zoo.families.bestars import predict_spectra
    r = predict_spectra(onnx_model, [GCAS, VEGA, BT_O, BT_L])
    cls = list(r["halpha_class"])
    assert cls[0] == "emission" and cls[1] == "absorption"
    # BT CMi: one class from both archives (issue 9).  The Ondřejov spectrum resolves two peaks
    # 180 km/s apart at R ~ 13000; at the model input (blurred to LAMOST's resolution) neither
    # spectrum does, so both are emission (docs/bestars.md, "Where a class is judged").
    assert cls[2] == cls[3] == "emission"
    assert not r["out_of_domain"].any()
    np.testing.assert_allclose(r["probabilities"].sum(1), 1, rtol=1e-5)


def test_core_predict_on_files_returns_trust_outputs(onnx_model):
    """``Predictor.predict`` on files (the core path) gives the thesis path's answer
    (``predict_spectra``) exactly, for an Ondřejov and a LAMOST file, with the trust outputs."""
    from zoo.families.bestars import predict_spectra
    r = onnx_model.predict([GCAS, BT_L])
    assert set(r) >= {"halpha_class", "halpha_class_probability", "domain_score", "out_of_domain"}
    thesis = predict_spectra(onnx_model, [GCAS, BT_L])
    assert list(r["halpha_class"]) == list(thesis["halpha_class"]) == ["emission", "emission"]
    np.testing.assert_allclose(r["halpha_class_probability"], thesis["probabilities"].max(1), rtol=1e-6)
    np.testing.assert_array_equal(r["out_of_domain"], thesis["out_of_domain"])


def test_flat_line_is_out_of_domain(onnx_model):
    r = onnx_model.predict(np.full((2, 140), 3.0))
    assert r["out_of_domain"].all() and np.isinf(r["domain_score"]).all()


def test_keras_and_onnx_agree():
    for name in ("emission_cnn",):      # one model: loading TensorFlow dominates the time
        _exported(name)
        k = zoo.load_model(name, backend="keras")
        o = zoo.load_model(name, backend="onnx")
        rk, ro = k.predict([GCAS, VEGA, BT_L]), o.predict([GCAS, VEGA, BT_L])
        assert list(rk["halpha_class"]) == list(ro["halpha_class"])
        np.testing.assert_allclose(rk["halpha_class_probability"], ro["halpha_class_probability"], atol=1e-4)
        np.testing.assert_allclose(rk["domain_score"], ro["domain_score"], rtol=1e-4)


def test_candidates_command(tmp_path):
    _exported("emission_cnn")
    from zoo.families.bestars import candidates
    files = sorted(str(p) for p in (DATA / "lamost").iterdir() if p.name.endswith(".fits"))
    assert candidates.main([*files, "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "candidates.csv")))
    assert any(r["file"].endswith("bt-cmi-lamost.fits") for r in rows)
    assert all(r["halpha_class"] in ("emission", "double-peak") for r in rows)
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert any(p.name.startswith("gallery_") for p in tmp_path.iterdir())


def test_candidates_from_cli_predictions(tmp_path):
    """`python -m zoo predict emission_cnn FILES --out DIR` (Parquet shards), then the candidate
    ranking of that output; the same ranking as from the files directly."""
    _exported("emission_cnn")
    from zoo.__main__ import main as zoo_main
    from zoo.families.bestars import candidates
    files = sorted(str(p) for p in (DATA / "lamost").iterdir() if p.name.endswith(".fits"))
    out = tmp_path / "pred"
    assert zoo_main(["predict", "emission_cnn", *files, "--out", str(out), "--no-progress"]) == 0
    rows = candidates.read_predictions(str(out))
    assert len(rows) == len(files) and {"domain_score", "out_of_domain", "halpha_class_probability",
                                        "p_emission", "file"} <= set(rows[0])
    assert candidates.main(["--predictions", str(out), "--out", str(tmp_path / "c")]) == 0
    got = list(csv.DictReader(open(tmp_path / "c" / "candidates.csv")))
    assert candidates.main([*files, "--out", str(tmp_path / "d")]) == 0
    want = list(csv.DictReader(open(tmp_path / "d" / "candidates.csv")))
    assert [(os.path.basename(r["file"]), r["halpha_class"]) for r in got] == \
        [(os.path.basename(r["file"]), r["halpha_class"]) for r in want]


def test_bad_file_is_a_typed_error(tmp_path):
    _exported("emission_cnn")
    from zoo.errors import SpectrumFileError
    p = tmp_path / "bad.fits"
    p.write_bytes(b"SIMPLE  =" + b"\x00" * 3000)
    with pytest.raises(SpectrumFileError):
        zoo.load_model("emission_cnn", backend="onnx").predict(str(p))


def test_onnx_path_needs_no_tensorflow_or_scipy():
    """Both instrument paths, the trust score and the candidate ranking on the ONNX backend
    import neither TensorFlow nor SciPy (the base install has neither)."""
    import subprocess
    import sys
    _exported("emission_cnn")
    code = (
        "import sys\n"
        "import zoo\n"
        "from zoo.families.bestars import predict_spectra\n"
        f"m = zoo.load_model('emission_cnn', backend='onnx')\n"
        f"r = predict_spectra(m, [{GCAS!r}, {BT_L!r}])\n"
        "assert list(r['halpha_class'])[0] == 'emission' and r['domain_score'].shape == (2,)\n"
        "bad = [k for k in ('tensorflow', 'keras', 'scipy') if k in sys.modules]\n"
        "assert not bad, bad\n")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
