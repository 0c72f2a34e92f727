"""Input contract: validation errors, units, media, resampling and missing pixels."""
import astropy.units as u
import numpy as np
import pytest

from zoo.card import InputContract
from zoo.errors import (NonFiniteFluxError, NonMonotonicWavelengthError, SpectrumLengthError,
                        WavelengthCoverageError, WavelengthUnitError)
from zoo.preprocess import air_to_vacuum, fill_missing, to_contract, vacuum_to_air

C = InputContract(wavelength_start=3800.0, step=0.5, n_pixels=1600, medium="air", fill_value=1.0)
WAVE = C.wavelength()


def _spec(wave):
    return 1.0 - 0.4 * np.exp(-0.5 * ((wave - 4101.7) / 2.0) ** 2)


def test_on_grid_passthrough():
    f = _spec(WAVE)
    out = to_contract(f, C)
    assert out.flux.shape == (1, 1600) and out.flux.dtype == np.float32
    np.testing.assert_allclose(out.flux[0], f, atol=1e-6)


def test_resample_from_other_grid_and_units():
    w = np.linspace(3750.0, 4650.0, 3001)
    a = to_contract(_spec(w), C, w).flux
    b = to_contract(_spec(w), C, (w / 10) * u.nm).flux
    c = to_contract(_spec(w), C, (w * 1e-4) * u.um).flux
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)
    np.testing.assert_allclose(a[0], _spec(WAVE), atol=2e-3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_flux(bad):
    f = _spec(WAVE)
    f[100] = bad
    with pytest.raises(NonFiniteFluxError, match="NaN or inf"):
        to_contract(f, C)


def test_nan_under_mask_is_allowed():
    f = _spec(WAVE)
    f[100] = np.nan
    m = np.zeros(1600, bool)
    m[100] = True
    out = to_contract(f, C, mask=m)
    assert np.isfinite(out.flux).all() and out.mask[0, 100]


def test_wrong_length():
    with pytest.raises(SpectrumLengthError, match="1600"):
        to_contract(np.ones(1500), C)
    with pytest.raises(SpectrumLengthError, match="wavelength has"):
        to_contract(np.ones(1600), C, np.linspace(3700, 4700, 1500))


def test_coverage():
    w = np.linspace(3900.0, 4700.0, 2000)
    with pytest.raises(WavelengthCoverageError, match="3800"):
        to_contract(np.ones(2000), C, w)


def test_non_monotonic():
    w = np.linspace(3700.0, 4700.0, 2000)
    w[500], w[501] = w[501], w[500]
    with pytest.raises(NonMonotonicWavelengthError, match="pixel 501"):
        to_contract(np.ones(2000), C, w)


def test_wrong_unit():
    w = np.linspace(370.0, 470.0, 2000)          # nm given as plain floats
    with pytest.raises(WavelengthUnitError, match="nm"):
        to_contract(np.ones(2000), C, w)
    with pytest.raises(WavelengthUnitError, match="not a length"):
        to_contract(np.ones(2000), C, np.linspace(6.4e14, 8.1e14, 2000) * u.Hz)


def test_air_vacuum_round_trip_and_conversion():
    w = np.linspace(3800, 17000, 50)
    np.testing.assert_allclose(vacuum_to_air(air_to_vacuum(w)), w, atol=2e-4)
    assert air_to_vacuum(5000.0) - 5000.0 == pytest.approx(1.394, abs=0.01)   # ~1.4 A at 5000 A
    # a vacuum-wavelength spectrum is shifted onto the air grid
    wv = air_to_vacuum(np.linspace(3750.0, 4650.0, 3001))
    out = to_contract(_spec(np.linspace(3750.0, 4650.0, 3001)), C, wv, medium="vacuum").flux[0]
    np.testing.assert_allclose(out, _spec(WAVE), atol=2e-3)


def test_missing_pixels_filled_not_zero():
    f = _spec(WAVE)
    f[:30] = 0.0          # outside the observed range
    f[500:503] = 0.0      # dropped pixels inside
    out = to_contract(f, C)
    assert np.all(out.flux[0, :30] == 1.0)
    np.testing.assert_allclose(out.flux[0, 500:503], np.interp([500, 501, 502], [499, 503], f[[499, 503]]),
                               atol=1e-6)
    assert out.mask[0, :30].all() and out.mask[0, 500:503].all() and not out.mask[0, 30:500].any()


def test_fill_missing_all_masked_row():
    out = fill_missing(np.zeros((2, 5)), np.array([[True] * 5, [False] * 5]), 1.0)
    assert np.all(out[0] == 1.0) and np.all(out[1] == 0.0)
