"""apStar reader on the bundled real files (zoo/families/apogeenet/data/apogee)."""
from importlib import resources

import numpy as np
import pytest

from zoo.errors import CorruptFileError, SpectrumFileError
from zoo.families.apogeenet.apstar import (APSTAR_CHIP_SLICES, APSTAR_NPIX, N_ASPCAP_PIX,
                           apstar_wavelength, looks_like_apstar, read_apstar)

DATA = resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee"
FILES = sorted(str(p) for p in DATA.iterdir() if p.name.endswith(".fits"))


def test_bundled_files_present():
    assert len(FILES) == 5


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_read_shape_grid_and_labels(path):
    s = read_apstar(path)
    assert looks_like_apstar(path)
    assert s.flux.shape == (APSTAR_NPIX,) and s.error.shape == s.flux.shape
    assert s.mask.shape == s.flux.shape and s.mask.dtype == bool
    assert s.medium == "vacuum"
    wl = s.angstrom
    assert wl[0] == pytest.approx(15100.8, abs=0.05)
    assert wl[-1] == pytest.approx(16999.8, abs=0.05)
    assert np.all(np.diff(np.log10(wl)) == pytest.approx(6e-6, rel=1e-6))
    assert np.isfinite(s.flux).all() and np.isfinite(s.error).all()
    good = ~s.mask
    # the detectors reach a few hundred pixels beyond the ASPCAP ranges; the grid
    # ends and most of the chip gaps are empty and flagged
    assert 0.8 * N_ASPCAP_PIX < good.sum() < APSTAR_NPIX - 600
    assert s.mask[:200].all() and s.mask[8450:].all()
    assert np.all(s.error[good] > 0) and np.all(s.flux[good] != 0)
    for key in ("teff", "logg", "feh"):
        assert isinstance(s.meta[key], float)
    assert 2500 < s.meta["teff"] < 8000
    assert s.meta["object"] and s.meta["object"] in path
    assert s.meta["snr"] > 0


def test_both_header_layouts():
    dr17 = [p for p in FILES if "dr17" in p]
    r6 = [p for p in FILES if "-r6-" in p]
    assert dr17 and r6
    assert "RV_TEFF" in read_apstar(dr17[0]).meta["header"]
    assert "RVTEFF" in read_apstar(r6[0]).meta["header"]
    m = read_apstar([p for p in r6 if "2M14305591" in p][0]).meta   # the M dwarf
    assert (m["teff"], m["logg"], m["feh"]) == (3100.0, 5.0, -0.5)


def test_multirow_file_uses_combined_row():
    from astropy.io import fits
    path = [p for p in FILES if "2M14305591" in p][0]
    with fits.open(path) as h:
        rows = h[1].data
    assert rows.ndim == 2 and rows.shape[0] == 5
    s = read_apstar(path)
    assert s.meta["nrows"] == 5
    good = ~s.mask
    np.testing.assert_allclose(s.flux[good], rows[0][good])
    assert not np.allclose(s.flux[good], rows[2][good])


def test_empty_pixels_flagged_in_both_layouts():
    # r6 files: empty pixels have flux 0 and error 1e10; DR17: NaN flux and error
    for p in FILES:
        s = read_apstar(p)
        gap = slice(APSTAR_CHIP_SLICES[0].stop + 50, APSTAR_CHIP_SLICES[1].start - 50)
        assert s.mask[gap].mean() > 0.6
        assert np.all(s.error[s.mask & (s.flux == 0)] > 1e9)


def test_wavelength_helper():
    wl = apstar_wavelength().value
    assert wl.shape == (APSTAR_NPIX,)
    np.testing.assert_allclose(wl, read_apstar(FILES[0]).angstrom)


@pytest.mark.parametrize("frac", [0.5, 0.01])
def test_truncated_file_raises_corrupt(tmp_path, frac):
    src = [p for p in FILES if "2M14305591" in p][0]
    data = open(src, "rb").read()
    bad = tmp_path / "apStar-truncated.fits"
    bad.write_bytes(data[: int(len(data) * frac)])
    with pytest.raises(CorruptFileError, match="apStar-truncated.fits"):
        read_apstar(bad)


def test_non_fits_raises_spectrum_file_error(tmp_path):
    p = tmp_path / "not_a_spectrum.fits"
    p.write_text("this is not FITS\n")
    assert not looks_like_apstar(p)
    with pytest.raises(SpectrumFileError):
        read_apstar(p)
    with pytest.raises(SpectrumFileError):
        read_apstar(tmp_path / "missing.fits")


def test_other_fits_not_apstar(tmp_path):
    from astropy.io import fits
    p = tmp_path / "image.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4)))]).writeto(p)
    assert not looks_like_apstar(p)
    with pytest.raises(CorruptFileError):
        read_apstar(p)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_fast_reader_equals_astropy_reader(path):
    """The direct reader (headers walked, row 0 of HDUs 1-3 read) gives exactly what astropy gives."""
    from zoo.families.apogeenet.apstar import _read_astropy, _read_fast, _spectrum
    fast = _read_fast(path)
    assert fast is not None                              # the bundled files take the fast path
    slow = _read_astropy(path)
    a, b = _spectrum(path, *fast), _spectrum(path, *slow)
    for k in ("flux", "error", "mask"):
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype and np.array_equal(x, y), k
    np.testing.assert_array_equal(a.wavelength.value, b.wavelength.value)
    np.testing.assert_array_equal(a.meta.pop("pixmask"), b.meta.pop("pixmask"))
    assert a.meta == b.meta
    assert all(type(v) is type(b.meta["header"][k]) for k, v in a.meta["header"].items())


def test_gzipped_apstar_reads_through_astropy(tmp_path):
    import gzip
    src = [p for p in FILES if "2M03290406" in p][0]
    gz = tmp_path / "apStar-r6-2M03290406+3117075.fits.gz"
    gz.write_bytes(gzip.compress(open(src, "rb").read()))
    from zoo.families.apogeenet.apstar import _read_fast
    assert _read_fast(str(gz)) is None
    a, b = read_apstar(gz), read_apstar(src)
    assert np.array_equal(a.flux, b.flux) and np.array_equal(a.mask, b.mask)
