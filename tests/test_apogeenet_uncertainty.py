"""Uncertainties of the APOGEE regressors (Olney et al. 2020 Sec. 3.5) shrink as S/N grows."""
import os

import numpy as np
import pytest

import zoo
from zoo.registry import load_preset
from zoo.predictor import Predictor, exported_dir
from zoo.families.apogeenet.simulate import simulate_apogee

keras = pytest.importorskip("keras")


def _pair(n=2, seed=3):
    """The same stars at S/N 25 and S/N 400 (raw-like apStar flux, errors, masks)."""
    lo = simulate_apogee(n, seed=seed, snr_median=25, snr_range=(25, 25))
    hi = simulate_apogee(n, seed=seed, snr_median=400, snr_range=(400, 400))
    np.testing.assert_array_equal(lo.labels, hi.labels)
    return lo, hi


def _check_shrinks(p, realizations=20):
    lo, hi = _pair()
    out = {}
    for tag, s in (("lo", lo), ("hi", hi)):
        prep = p.prepare(s.flux, error=s.error, mask=s.mask)
        assert prep.error is not None and np.all(prep.error[prep.mask] == 0)
        assert np.median(prep.error[~prep.mask]) < 0.1   # normalized errors, not raw 1e10 sentinels
        out[tag] = p.predict(s.flux, error=s.error, mask=s.mask, return_uncertainty=True,
                             n_realizations=realizations, seed=0)
    for k in ("teff", "logg", "feh"):
        assert np.all(out["hi"][f"{k}_std"] < out["lo"][f"{k}_std"]), k
        assert np.all(out["lo"][f"{k}_std"] > 0)
    return out


def test_uncertainty_shrinks_with_snr_in_memory_model():
    keras.utils.set_random_seed(0)
    model = zoo.create_model("apogeenet", init="he_normal", seed=1)
    card = load_preset("apogeenet")
    card.outputs[0].mean, card.outputs[0].std = [4800.0, 3.2, -0.09], [770.0, 1.1, 0.24]
    p = Predictor.from_model(model, card)
    _check_shrinks(p)
    with pytest.raises(ValueError, match="errors"):
        p.predict(np.ones(8575), return_uncertainty=True)


@pytest.mark.parametrize("name", ["apogeenet", "starnet"])
@pytest.mark.parametrize("backend", ["keras", "onnx"])
def test_uncertainty_shrinks_exported(name, backend):
    if not os.path.exists(os.path.join(exported_dir(name), "card.json")):
        pytest.skip(f"exported/{name}/card.json absent: run python -m training.{name}")
    _check_shrinks(zoo.load_model(name, backend=backend), realizations=10)
