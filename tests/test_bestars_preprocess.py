"""The thesis's preprocessing steps (Podsztavek 2017, ch. 7), each against an independent
computation, and the two instrument paths end to end."""
from importlib import resources

import numpy as np
import pytest

from zoo.families.bestars.preprocess import (BLUR_STDDEV_PX, NORMALIZATION, air_to_vacuum_thesis, gaussian_blur,
                                              gaussian_kernel, instrument_path, prepare, regrid, standardize,
                                              thesis_grid)
from zoo.io import read
from zoo.preprocess import NORMALIZATIONS, air_to_vacuum, to_contract
from zoo.registry import get_entry

DATA = resources.files("zoo") / "data"
GCAS = str(resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov" / "gamma-cas-emission.fits")
BTCMI_L = str(DATA / "lamost" / "bt-cmi-lamost.fits")
CONTRACT = get_entry("emission_cnn").card().input


# ----------------------------------------------------------------------------- Eqs. 7.1-7.3
@pytest.mark.parametrize("air, vac", [(6562.80, 6564.61),      # H-alpha (issue 9; NIST 6564.61)
                                      (6678.15, 6679.99),      # He I
                                      (6583.45, 6585.27)])     # [N II]
def test_air_to_vacuum_known_lines(air, vac):
    assert air_to_vacuum_thesis(air) == pytest.approx(vac, abs=0.01)


def test_air_to_vacuum_hand_computed():
    # Eq. 7.3: s = 1e4 / 6562.80, s^2 = 2.3217832; Eq. 7.2 term by term:
    # 2.406147e-2 / (130 - 2.3217832) = 1.8845399e-4, 1.5998e-4 / (38.9 - 2.3217832) = 4.3736413e-6,
    # n = 1 + 8.34254e-5 + 1.8845399e-4 + 4.3736413e-6 = 1.00027625304; Eq. 7.1: 6562.80 n = 6564.61299
    assert (1e4 / 6562.80) ** 2 == pytest.approx(2.3217832, abs=1e-7)
    assert air_to_vacuum_thesis(6562.80) == pytest.approx(6564.61299, abs=1e-5)


def test_thesis_and_core_conversions_agree_closely():
    w = np.linspace(6280, 6740, 50)
    assert np.max(np.abs(air_to_vacuum_thesis(w) - air_to_vacuum(w))) < 0.002   # A, << 1.53 A pixels


# ----------------------------------------------------------------------------- Sec. 7.1.2 blur
def test_kernel_is_astropys():
    from astropy.convolution import Gaussian1DKernel
    k = gaussian_kernel(7)
    assert k.size == 57 and k.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(k, Gaussian1DKernel(stddev=7).array / Gaussian1DKernel(stddev=7).array.sum())


def test_blur_equals_astropy_convolve_row_by_row():
    from astropy.convolution import Gaussian1DKernel, convolve
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 400)) + np.linspace(0, 3, 400)
    ours = gaussian_blur(x, BLUR_STDDEV_PX)
    for row, got in zip(x, ours):
        np.testing.assert_allclose(got, convolve(row, Gaussian1DKernel(stddev=7), boundary="extend"), atol=1e-12)


def test_blur_keeps_constants_and_averages_noise():
    assert np.allclose(gaussian_blur(np.full(300, 2.5)), 2.5)
    noise = np.random.default_rng(1).normal(size=200_000)
    expected = np.sqrt(np.sum(gaussian_kernel(7) ** 2))       # ~ 1 / sqrt(2 sqrt(pi) 7) = 0.201
    assert gaussian_blur(noise)[100:-100].std() == pytest.approx(expected, rel=0.03)
    assert expected == pytest.approx(1 / np.sqrt(2 * np.sqrt(np.pi) * 7), rel=0.01)


# ----------------------------------------------------------------------------- Sec. 7.2-7.3
def test_grid_is_the_thesis_linspace():
    np.testing.assert_allclose(CONTRACT.wavelength(), np.linspace(6519, 6732, num=140), atol=1e-9)
    np.testing.assert_allclose(thesis_grid(), np.linspace(6519, 6732, num=140))
    assert CONTRACT.medium == "vacuum" and CONTRACT.flux_normalization == NORMALIZATION


def test_regrid_is_np_interp():
    w = np.linspace(6400, 6800, 777)
    f = np.sin(w / 7.0)
    np.testing.assert_allclose(regrid(f, w)[0], np.interp(np.linspace(6519, 6732, num=140), w, f))


def test_standardize_is_sklearn_scale():
    from sklearn.preprocessing import scale
    x = np.random.default_rng(2).normal(3, 2, (5, 140))
    x[4] = 7.0                                              # zero variance: sklearn keeps scale 1
    np.testing.assert_allclose(standardize(x), scale(x, axis=1), atol=1e-12)
    assert np.all(standardize(x)[4] == 0)


def test_standardize_uses_valid_pixels_only():
    x = np.random.default_rng(3).normal(size=(1, 140))
    mask = np.zeros((1, 140), bool)
    mask[0, :10] = True
    x2 = x.copy()
    x2[0, :10] = 1e6
    out = standardize(x2, mask)
    np.testing.assert_allclose(out[0, 10:], (x[0, 10:] - x[0, 10:].mean()) / x[0, 10:].std())


def test_contract_normalization_registered_and_standardizes():
    assert NORMALIZATION in NORMALIZATIONS
    f = np.random.default_rng(4).uniform(100, 2000, (2, 140))
    p = to_contract(f, CONTRACT)
    np.testing.assert_allclose(p.flux.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(p.flux.std(1), 1, atol=1e-5)


# ----------------------------------------------------------------------------- instrument paths
def test_ondrejov_path_converts_and_blurs_on_native_grid():
    s = read(GCAS)
    t = instrument_path(s)
    assert s.medium == "air" and t.medium == "vacuum" and t.meta["emission_path"]
    np.testing.assert_allclose(t.angstrom, air_to_vacuum_thesis(s.angstrom))
    np.testing.assert_allclose(t.flux, gaussian_blur(s.flux))
    assert instrument_path(t) is t                      # not twice


def test_lamost_path_is_unchanged():
    s = read(BTCMI_L)
    assert instrument_path(s) is s


def test_ondrejov_file_end_to_end_against_thesis_code():
    """prepare(file) == the thesis's own lines (Secs. 7.1.1-7.3) written out independently."""
    from astropy.convolution import Gaussian1DKernel, convolve
    from astropy.io import fits
    from sklearn.preprocessing import scale
    with fits.open(GCAS) as h:
        wa, fl = np.array(h[1].data["spectral"], float), np.array(h[1].data["flux"], float)
    s = 1e4 / wa
    n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s ** 2) + 1.5998e-4 / (38.9 - s ** 2)
    smoothed = convolve(fl, Gaussian1DKernel(stddev=7), boundary="extend")
    new = np.interp(np.linspace(6519, 6732, num=140), n * wa, smoothed)
    expected = scale(new[None, :], axis=1)[0]
    np.testing.assert_allclose(prepare(CONTRACT, GCAS).flux[0], expected, atol=2e-5)


def test_lamost_file_end_to_end_against_thesis_code():
    s = read(BTCMI_L)
    from sklearn.preprocessing import scale
    good = ~s.mask
    new = np.interp(np.linspace(6519, 6732, num=140), s.angstrom[good], s.flux[good])
    np.testing.assert_allclose(prepare(CONTRACT, BTCMI_L).flux[0], scale(new[None, :], axis=1)[0], atol=2e-5)


def test_array_and_file_give_the_same_input():
    s = read(GCAS)
    a = prepare(CONTRACT, s.flux, s.wavelength, instrument="ondrejov", medium="air").flux
    np.testing.assert_allclose(a, prepare(CONTRACT, GCAS).flux, atol=1e-6)
    lam = read(BTCMI_L)
    b = prepare(CONTRACT, lam.flux, lam.wavelength, medium="vacuum", mask=lam.mask).flux
    np.testing.assert_allclose(b, prepare(CONTRACT, BTCMI_L).flux, atol=1e-6)


def test_bad_input_typed_errors():
    from zoo.errors import InsufficientDataError, UnphysicalFluxError, WavelengthCoverageError
    w = np.linspace(6000, 6500, 300)
    with pytest.raises(WavelengthCoverageError):
        prepare(CONTRACT, np.ones(300), w, medium="vacuum")
    with pytest.raises(InsufficientDataError):
        prepare(CONTRACT, np.zeros(140))
    with pytest.raises(UnphysicalFluxError):
        prepare(CONTRACT, -np.ones(140))
