"""Per-chip continuum normalisation (zoo.families.apogeenet.continuum)."""
from importlib import resources

import numpy as np
import pytest

from zoo.families.apogeenet.continuum import continuum_pixels, fit_continuum, normalize_apstar
from zoo.errors import SpectrumLengthError
from zoo.families.apogeenet.apstar import APSTAR_CHIP_SLICES, APSTAR_NPIX, aspcap_pixel_mask, read_apstar


def _synthetic(n=4, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, APSTAR_NPIX)
    lines = np.ones(APSTAR_NPIX)
    cont = continuum_pixels()
    idx = rng.choice(np.flatnonzero(~cont & aspcap_pixel_mask()), 800, replace=False)
    lines[idx] = rng.uniform(0.5, 0.95, idx.size)
    scale = np.array([1.0, 1e3, 1e-2, 5e5])[:n]
    shape = 1 + 0.3 * x - 0.2 * x ** 2
    return scale[:, None] * shape * lines, lines


def test_continuum_pixels_on_grid():
    c = continuum_pixels()
    assert c.shape == (APSTAR_NPIX,) and c.sum() == 529
    assert not (c & ~aspcap_pixel_mask()).any()


def test_recovers_lines_independent_of_scale():
    flux, lines = _synthetic()
    nf, ne = normalize_apstar(flux)
    assert ne is None and nf.shape == flux.shape and nf.dtype == np.float32
    chips = aspcap_pixel_mask()
    for row in nf:
        np.testing.assert_allclose(row[chips], lines[chips], atol=2e-3)
        assert np.all(row[~chips] == 1.0)


def test_mask_errors_and_fill():
    flux, lines = _synthetic(2)
    err = 0.01 * flux
    mask = np.zeros_like(flux, dtype=bool)
    mask[:, 1000:1100] = True
    flux[:, 1000:1100] = 0.0
    flux[0, 2000] = np.nan
    nf, ne, bad = normalize_apstar(flux, err, mask, return_mask=True)
    assert np.all(nf[:, 1000:1100] == 1.0) and nf[0, 2000] == 1.0
    assert bad[0, 2000] and bad[:, 1000:1100].all() and not bad[1, 2000]
    good = ~bad
    np.testing.assert_allclose(ne[good], 0.01 * lines[np.nonzero(good)[1]], rtol=5e-3)
    assert np.isfinite(nf).all() and np.isfinite(ne).all()


def test_single_spectrum_and_bad_length():
    flux, _ = _synthetic(1)
    nf, _ = normalize_apstar(flux[0])
    assert nf.shape == (APSTAR_NPIX,)
    with pytest.raises(SpectrumLengthError):
        normalize_apstar(np.ones(7214))


def test_heavily_masked_chip_falls_back_or_gives_up():
    flux, lines = _synthetic(2)
    mask = np.zeros_like(flux, dtype=bool)
    s = APSTAR_CHIP_SLICES[1]
    mask[0, s] = continuum_pixels()[s]            # no continuum pixels: running quantile
    mask[1, s] = True                               # whole chip bad: given up
    cont, bad = fit_continuum(flux, mask=mask)
    assert np.isfinite(cont[0, s]).all()
    ratio = flux[0, s][~mask[0, s]] / cont[0, s][~mask[0, s]]
    assert 0.9 < np.median(ratio) < 1.1
    assert bad[1, s].all()


def test_real_files_normalise_near_one():
    d = resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee"
    for p in sorted(x for x in d.iterdir() if x.name.endswith(".fits")):
        s = read_apstar(p)
        nf, ne, bad = normalize_apstar(s.flux, s.error, s.mask, return_mask=True)
        for c in APSTAR_CHIP_SLICES:
            med = np.median(nf[c][~bad[c]])
            assert 0.85 < med < 1.05, (p.name, med)


def test_fast_row_median_equals_numpy_nanmedian():
    import warnings

    from zoo.families.apogeenet.continuum import _nanmedian_rows
    rng = np.random.default_rng(5)
    for m in (1, 2, 7, 240, 2920):
        a = rng.normal(size=(6, m))
        a[rng.random(a.shape) < 0.3] = np.nan
        a[0] = np.nan                                   # an all-NaN row
        a[1, 0] = np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(a, axis=1, keepdims=True)
        np.testing.assert_array_equal(_nanmedian_rows(a), ref)
