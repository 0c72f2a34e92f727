"""Ondřejov CCD700 reader (zoo.families.bestars.ondrejov): both layouts, air medium, bad files."""
import glob
import os
from importlib import resources

import numpy as np
import pytest
from astropy.io import fits

from zoo.errors import CorruptFileError, SpectrumFileError
from zoo.io import read, readers
from zoo.families.bestars.ondrejov import looks_like_ondrejov, read_ondrejov

DATA = resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov"
FILES = sorted(str(p) for p in DATA.iterdir() if p.name.endswith(".fits"))
TABLE = [p for p in FILES if "gamma-cas" in p][0]
HEADER = [p for p in FILES if "oe270005" in p][0]


def test_bundled_and_registered():
    assert len(FILES) == 4 and "ondrejov" in readers()
    for p in FILES:
        assert looks_like_ondrejov(p)
        s = read(p)
        assert s.meta["format"] == "ondrejov" and s.meta["instrument"] == "ondrejov"
        assert s.medium == "air" and s.error is None
        assert 6250 < s.angstrom[0] < 6300 and 6730 < s.angstrom[-1] < 6800
        assert 0.2 < s.meta["pixel_step"] < 0.3        # R ~ 13000: ~0.25 A pixels
        assert not s.mask.any()


def test_table_layout():
    s = read_ondrejov(TABLE)
    with fits.open(TABLE) as h:
        d = h[1].data
    np.testing.assert_array_equal(s.angstrom, d["spectral"])
    np.testing.assert_array_equal(s.flux, d["flux"])
    assert s.meta["layout"] == "table" and s.meta["object"] == "gamma Cas"
    assert s.meta["header"]["DS_IDPUB"].startswith("ivo://asu.cas.cz/stel/ccd700")


def test_header_layout():
    s = read_ondrejov(HEADER)
    h = fits.getheader(HEADER)
    assert s.meta["layout"] == "header" and s.meta["object"] == "HD 208905"
    assert s.angstrom[0] == pytest.approx(h["CRVAL1"])
    assert s.angstrom[10] - s.angstrom[9] == pytest.approx(h["CDELT1"])
    assert len(s) == h["NAXIS1"] and s.meta["flux_unit"] == "ADU"


def test_other_formats_not_claimed():
    for p in glob.glob(str(resources.files("zoo") / "data" / "lamost" / "*.fits")):
        assert not looks_like_ondrejov(p)
    for p in glob.glob(str(resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee" / "*.fits"))[:2]:
        assert not looks_like_ondrejov(p)


def test_missing_and_not_fits(tmp_path):
    with pytest.raises(SpectrumFileError):
        read_ondrejov(str(tmp_path / "nope.fits"))
    p = tmp_path / "x.fits"
    p.write_bytes(b"\x00" * 5000)
    assert not looks_like_ondrejov(str(p))
    with pytest.raises(CorruptFileError, match="x.fits"):
        read_ondrejov(str(p))


def test_truncated(tmp_path):
    p = tmp_path / "cut.fits"
    p.write_bytes(open(TABLE, "rb").read()[:20000])
    with pytest.raises(CorruptFileError, match="cut.fits"):
        read_ondrejov(str(p))


def test_image_without_solution(tmp_path):
    p = str(tmp_path / "nosol.fits")
    hdr = fits.Header()
    hdr["INSTRUME"] = "COUDE700"
    fits.PrimaryHDU(np.ones(100, np.float32), header=hdr).writeto(p)
    with pytest.raises(CorruptFileError, match="wavelength solution"):
        read_ondrejov(p)


def test_decreasing_wavelengths(tmp_path):
    p = str(tmp_path / "rev.fits")
    with fits.open(TABLE) as h:
        h[1].data["spectral"] = h[1].data["spectral"][::-1].copy()
        h.writeto(p)
    with pytest.raises(CorruptFileError, match="increasing"):
        read_ondrejov(p)


def test_all_zero_flux(tmp_path):
    p = str(tmp_path / "zero.fits")
    with fits.open(TABLE) as h:
        h[1].data["flux"] = 0.0
        h.writeto(p)
    with pytest.raises(CorruptFileError, match="zero"):
        read_ondrejov(p)


def test_nan_pixels_masked(tmp_path):
    p = str(tmp_path / "nan.fits")
    with fits.open(TABLE) as h:
        h[1].data["flux"][100:110] = np.nan
        h.writeto(p)
    s = read_ondrejov(p)
    assert s.mask[100:110].all() and s.mask.sum() == 10 and np.isfinite(s.flux).all()


def test_shared_files_match_bundled(shared_data):
    files = sorted(glob.glob(os.path.join(shared_data, "ondrejov", "*.fits")))
    if not files:
        pytest.skip("no Ondřejov files in shared data")
    for p in files:
        s = read(p)
        assert s.meta["format"] == "ondrejov"
        b = os.path.join(str(DATA), os.path.basename(p))
        if os.path.exists(b):
            np.testing.assert_array_equal(read(b).flux, s.flux)
