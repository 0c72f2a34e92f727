"""The committed, trained AutoClassMK: loads offline, both backends agree on real spectra, CLI."""
import glob
import os
import subprocess
import sys

import astropy.units as u
import numpy as np
import pytest

import zoo
from zoo.io import read as read_spectrum
from zoo.families.autoclassmk.atlas import atlas_dir, load_atlas
from zoo.errors import SpectrumLengthError, WavelengthCoverageError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def models(autoclassmk_exported):
    return {b: zoo.load_model("autoclassmk", backend=b) for b in ("keras", "onnx")}


def test_keras_and_onnx_agree_on_real_atlas(models):
    atlas = load_atlas("libr18_27")
    from zoo.preprocess import fill_missing
    x = fill_missing(atlas.flux, atlas.mask, 1.0)
    pk = models["keras"].predict_proba(x)
    po = models["onnx"].predict_proba(x)
    for k in pk:
        assert np.max(np.abs(pk[k] - po[k])) < 1e-4


def test_predict_files_and_labels(models):
    files = [os.path.join(atlas_dir("libr18_27"), f) for f in ("t100l50p00.rbn", "t300l30p00.rbn")]
    out = models["onnx"].predict(files)
    assert out["spectral_class"].shape == (2,) and set(out) == {"spectral_class", "luminosity_class",
                                                                 "spectral_class_probability",
                                                                 "luminosity_class_probability",
                                                                 "domain_score", "out_of_domain"}
    assert models["onnx"].labels["luminosity_class"] == ["I", "III", "V"]
    # Gray's MK types of these standards (MKCLASS libr18_27 names, not the model): B3 V and G0 III
    assert [read_spectrum(f).meta["spectral_type"] for f in files] == ["B3", "G0"]
    assert list(out["spectral_class"]) == ["B3", "G0"] and list(out["luminosity_class"]) == ["V", "III"]


#: Measured with the exported model (ONNX, libr18_27, 100 spectra): spectral class exact for 92 of
#: the 98 spectra whose type is one of the network's classes, one class step off for the other 6;
#: luminosity class exact for 98 of 100.  The floors leave room for a retrained model of the same recipe.
ATLAS_EXACT_SPECTRAL_MIN = 88      # of 98
ATLAS_EXACT_LUMINOSITY_MIN = 95    # of 100


def test_catalogue_types_of_the_test_atlas(models):
    """Every libr18_27 spectrum against the type MKCLASS's atlas gives it (its file name).

    These are the training atlas's stars at a lower resolution (the paper's protocol; the
    grouped-by-star evaluation measures unseen stars): the test guards the exported model and
    its preprocessing, not generalization.  Types between two of the network's classes (B0.5,
    A2) count as right when either neighbour is predicted.
    """
    from zoo.families.autoclassmk.atlas import LUMINOSITY_RELABEL
    classes = models["onnx"].labels["spectral_class"]
    files = sorted(glob.glob(os.path.join(atlas_dir("libr18_27"), "*.rbn")))
    assert len(files) == 100
    out = models["onnx"].predict(files)
    from zoo.families.autoclassmk.rbn import SPECTRAL_CODES
    codes = {t: float(c) for c, t in SPECTRAL_CODES.items() if t in classes}
    exact_sp = exact_lum = scorable = 0
    for f, sc, lc in zip(files, out["spectral_class"], out["luminosity_class"]):
        meta = read_spectrum(f).meta
        true, code = meta["spectral_type"], meta["spectral_code"]
        if true in classes:
            scorable += 1
            exact_sp += sc == true
            assert abs(classes.index(sc) - classes.index(true)) <= 1, (os.path.basename(f), true, sc)
        else:   # between two classes: one of its neighbours on the network's grid
            below = max((c for c in classes if codes[c] < code), key=codes.get)
            above = min((c for c in classes if codes[c] > code), key=codes.get)
            assert sc in (below, above), (os.path.basename(f), true, sc)
        exact_lum += lc == LUMINOSITY_RELABEL[meta["luminosity_type"]]
    assert scorable == 98
    assert exact_sp >= ATLAS_EXACT_SPECTRAL_MIN, exact_sp
    assert exact_lum >= ATLAS_EXACT_LUMINOSITY_MIN, exact_lum


def test_predict_files_skips_bad_file_and_keeps_the_rest(models, tmp_path):
    from zoo.errors import CorruptFileError
    bad = tmp_path / "broken.rbn"
    bad.write_text("3800.0 1.0\nnot numbers\n")
    good = [os.path.join(atlas_dir("libr18_27"), f) for f in ("t100l50p00.rbn", "t300l30p00.rbn")]
    seen = list(models["onnx"].iter_predict_files([good[0], str(bad), good[1]]))
    assert [row is None for _, row, _ in seen] == [False, True, False]
    assert "CorruptFileError" in seen[1][2] and seen[2][1]["file"] == good[1]
    rows, failures = models["onnx"].predict_files([good[0], str(bad), good[1]])
    assert [r["file"] for r in rows] == good and failures[0][0] == str(bad)
    with pytest.raises(CorruptFileError):
        models["onnx"].predict_files([good[0], str(bad)], on_error="raise")


def test_quantity_wavelengths_and_bad_input(models):
    s = zoo.io.read(os.path.join(atlas_dir("libr18"), "t200l50p00.rbn"))
    a = models["onnx"].predict_proba(s.flux, wavelength=s.wavelength)
    b = models["onnx"].predict_proba(s.flux, wavelength=s.wavelength.to(u.nm))
    np.testing.assert_allclose(a["spectral_class"], b["spectral_class"], atol=1e-6)
    with pytest.raises(SpectrumLengthError):
        models["onnx"].predict(s.flux)                                     # 1640 px without wavelengths
    with pytest.raises(WavelengthCoverageError):
        models["onnx"].predict(s.flux[200:], wavelength=s.wavelength[200:])


def _cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=300)


def test_cli_predict_skips_bad_file(autoclassmk_exported, tmp_path):
    bad = tmp_path / "broken.rbn"
    bad.write_text("3800.0 1.0\nnot numbers\n")
    good = os.path.join(atlas_dir("libr18_27"), "t100l50p00.rbn")
    r = _cli("predict", "autoclassmk", good, str(bad))     # a table on stdout, the default backend
    assert r.returncode == 1, r.stderr                      # a file failed: nonzero, as archive mode
    assert "skipped" in r.stderr and "broken.rbn" in r.stderr and "CorruptFileError" in r.stderr
    assert "t100l50p00.rbn" in r.stdout and "1 predicted, 1 skipped" in r.stderr
    out = tmp_path / "table"                                                     # the batch pipeline
    r = _cli("predict", "autoclassmk", good, str(bad), "--out", str(out), "--format", "csv", "--no-progress")
    assert r.returncode == 1 and "1 files failed" in r.stderr, r.stderr
    assert "broken.rbn" in (out / "errors.jsonl").read_text()
    lines = (out / "part-000000.csv").read_text().splitlines()
    assert lines[0].startswith("path,object,obsid,ra,dec,spectral_class,spectral_class_probability,luminosity_class,"
                               "luminosity_class_probability,spectral_class_p_") and len(lines) == 2
    assert lines[0].endswith(",domain_score,out_of_domain") and lines[1].startswith(good)


def test_cli_list_info_verify(autoclassmk_exported):
    r = _cli("list")
    assert r.returncode == 0 and "autoclassmk" in r.stdout and "trained" in r.stdout
    r = _cli("info", "autoclassmk")
    assert r.returncode == 0 and "3800.0" in r.stdout and "sha256" in r.stdout
    r = _cli("verify", "autoclassmk")
    assert r.returncode == 0 and "checksums ok" in r.stdout


def test_cli_export_regenerates_savedmodel(autoclassmk_exported, tmp_path):
    import shutil
    d = tmp_path / "autoclassmk"
    shutil.copytree(autoclassmk_exported, d, ignore=shutil.ignore_patterns("saved_model"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "ZOO_EXPORTED": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "zoo", "export", "autoclassmk"], capture_output=True,
                       text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    sm = zoo.load_model("autoclassmk", backend="savedmodel", directory=str(d))
    on = zoo.load_model("autoclassmk", backend="onnx", directory=str(d))
    x = load_atlas("libr18_27").flux[:5]
    x = np.where(x == 0, 1.0, x)
    for k, v in sm.predict_proba(x).items():
        assert np.max(np.abs(v - on.predict_proba(x)[k])) < 1e-4


_NO_TF = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx'):
            raise ImportError('the ONNX path imported ' + name)
sys.meta_path.insert(0, Block())
import zoo
from zoo.__main__ import main
assert 'autoclassmk' in zoo.list_models()
assert main(["predict", "autoclassmk", sys.argv[1], "--no-progress"]) == 0   # the CLI's default backend
print(zoo.load_model('autoclassmk').predict(sys.argv[1])['spectral_class'][0])   # the API's default
"""


def test_onnx_backend_never_imports_tensorflow(autoclassmk_exported):
    """The ONNX path (registry, card, readers, preprocessing, ONNX Runtime) must work without TensorFlow."""
    f = os.path.join(atlas_dir("libr18_27"), "t260l50p00.rbn")
    r = subprocess.run([sys.executable, "-c", _NO_TF, f], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] in zoo.load_model("autoclassmk").labels["spectral_class"]
