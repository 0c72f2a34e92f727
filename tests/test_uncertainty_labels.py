"""The central label is the network's answer on the observed spectrum, whether or not
uncertainties are asked for (Olney et al. 2020 Sec. 3.5: the noise realizations give the spread
only), on every backend, for every exported regressor, on the bundled real apStar files."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo.predictor import exported_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _regressors():
    out = []
    for name in zoo.list_models():
        d = exported_dir(name)
        if os.path.exists(os.path.join(d, "card.json")):
            card = zoo.get_card(name)
            if not any(o.kind == "class" for o in card.outputs) and (card.trust or {}).get("uncertainty"):
                out.append(name)
    return out


REGRESSORS = _regressors()
FILES = zoo.example_files("apogee/apStar-*.fits")


def _labels(card):
    return [lab for o in card.outputs for lab in o.labels]


def _check(model):
    plain = model.predict(FILES, return_uncertainty=False)
    assert not any(k.endswith("_std") for k in plain)
    for kw in ({}, {"return_uncertainty": True, "n_realizations": 20, "seed": 3}):
        with_unc = model.predict(FILES, **kw)
        for lab in _labels(model.card):
            assert f"{lab}_std" in with_unc and np.all(with_unc[f"{lab}_std"] > 0), lab
            np.testing.assert_array_equal(with_unc[lab], plain[lab], err_msg=f"{model.card.name} {lab} {kw}")
        np.testing.assert_array_equal(with_unc["domain_score"], plain["domain_score"])
    return plain


def test_there_are_regressors_to_check():
    assert {"apogeenet", "starnet"} <= set(REGRESSORS)


@pytest.mark.parametrize("name", REGRESSORS)
def test_labels_do_not_move_with_uncertainties_onnx(name):
    _check(zoo.load_model(name))          # the default backend (ONNX Runtime)


@pytest.mark.parametrize("name", REGRESSORS)
def test_labels_do_not_move_with_uncertainties_keras(name):
    pytest.importorskip("keras")
    keras_out = _check(zoo.load_model(name, backend="keras"))
    onnx_out = zoo.load_model(name).predict(FILES, return_uncertainty=False)
    for lab in _labels(zoo.get_card(name)):   # and the backends agree on the central value
        np.testing.assert_allclose(keras_out[lab], onnx_out[lab], rtol=1e-4)


def test_labels_do_not_move_with_uncertainties_savedmodel(tmp_path):
    pytest.importorskip("tensorflow")
    name = "apogeenet"
    d = tmp_path / name
    shutil.copytree(exported_dir(name), d, ignore=shutil.ignore_patterns("saved_model", "model.keras"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "ZOO_EXPORTED": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "zoo", "export", name], capture_output=True, text=True,
                       cwd=REPO, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    _check(zoo.load_model(name, backend="savedmodel", directory=str(d)))


@pytest.mark.parametrize("n_stars,n_real,batch", [(5, 7, 4), (3, 100, 256), (2, 1000, 256)])
def test_realization_spread_is_its_definition(n_stars, n_real, batch):
    """``<label>_std_noise`` is the spread of the network's answers on ``z * err + flux`` (Olney et al.
    2020 Sec. 3.5), whatever the batch: the predictor writes the noisy spectra batch by batch into one
    buffer; this reference builds each chunk's whole stack at once.  Batches that straddle two
    realizations or two chunks of stars (5 x 7 in batches of 4; 2 x 1000 in two chunks) included."""
    from zoo.onnx_kit import decode
    from zoo.predictor import NOISE_ROWS
    model = zoo.load_model("starnet")
    prep = model.prepare([FILES[i % len(FILES)] for i in range(n_stars)])
    flux, err, mask = prep.flux, prep.error.astype(float), prep.mask
    got = model.predict_prepared(prep, return_uncertainty=True, n_realizations=n_real, seed=5,
                                 batch_size=batch)
    good = ~mask & (err > 0)                     # the errors as the predictor caps them (5 x the mean)
    mean = np.array([e[g].mean() for e, g in zip(err, good)])
    err = np.where(good, np.minimum(err, 5.0 * mean[:, None]), 0.0).astype(np.float32)
    rng, per_chunk, stacks = np.random.default_rng(5), max(1, max(batch, NOISE_ROWS) // n_real), []
    for a in range(0, n_stars, per_chunk):
        b = min(n_stars, a + per_chunk)
        z = rng.standard_normal((n_real, 1, flux.shape[1]), dtype=np.float32)
        noisy = (z * err[None, a:b] + flux[None, a:b]).reshape(-1, flux.shape[1])
        stacks.append(decode(model.card.outputs, model.forward(noisy))["teff"].reshape(n_real, b - a))
    np.testing.assert_array_equal(got["teff_std_noise"], np.concatenate(stacks, axis=1).std(axis=0))
