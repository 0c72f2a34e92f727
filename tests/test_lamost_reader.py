"""LAMOST reader (zoo.io.lamost): both layouts, header labels, masks, bad files.

Bundled real files (zoo/data/lamost) always; every file in ../shared/data/lamost when present.
"""
import glob
import gzip
import os
import shutil
from importlib import resources

import numpy as np
import pytest
from astropy.io import fits

from zoo.errors import CorruptFileError, SpectrumFileError, UnsupportedFormatError
from zoo.io import read, readers
from zoo.io.lamost import LAMOST_DLOGLAM, LAMOST_NO_ERROR, LAMOST_LOGLAM0, lamost_wavelength, looks_like_lamost, read_lamost

DATA = resources.files("zoo") / "data" / "lamost"
FILES = sorted(str(p) for p in DATA.iterdir() if p.name.endswith(".fits"))
BT_CMI = [p for p in FILES if "bt-cmi" in p][0]
WAVE_ROW = [p for p in FILES if "Wavelength" in fits.getheader(p)["EXTEN0"]][0]


def test_bundled_files_and_registration():
    assert len(FILES) == 5
    assert "lamost" in readers()
    for p in FILES:
        assert looks_like_lamost(p)
        assert read(p).meta["format"] == "lamost"


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_image_layout(path):
    s = read_lamost(path)
    with fits.open(path) as h:
        img = h[0].data.astype(float)
        hdr = h[0].header
    n = img.shape[1]
    assert s.medium == "vacuum" and s.meta["layout"] == "image" and s.meta["instrument"] == "lamost"
    if "Wavelength" in hdr["EXTEN0"]:
        np.testing.assert_allclose(s.angstrom, img[2])                   # wavelength row
    else:   # DR1 'Flux Inverse Subcontinuum Andmask Ormask': row 2 is the normalized flux
        assert "Subcontinuum" in hdr["EXTEN0"]
        np.testing.assert_allclose(s.meta["subcontinuum"], img[2])
    # the row agrees with the header's log-linear solution
    np.testing.assert_allclose(s.angstrom, lamost_wavelength(n, hdr["CRVAL1"], hdr["CD1_1"]), rtol=1e-6)
    assert s.angstrom[0] == pytest.approx(10 ** LAMOST_LOGLAM0, abs=0.01)
    np.testing.assert_allclose(np.diff(np.log10(s.angstrom)), LAMOST_DLOGLAM, rtol=1e-4)
    no_ivar = img[1] <= 0
    bad = (no_ivar & (img[0] == 0)) | (img[3] != 0)
    np.testing.assert_array_equal(s.mask, bad)
    np.testing.assert_array_equal(s.meta["ivar_zero"], no_ivar)
    np.testing.assert_allclose(s.error[~no_ivar], 1 / np.sqrt(img[1][~no_ivar]))
    assert (s.error[no_ivar] == LAMOST_NO_ERROR).all() and np.isfinite(s.error).all()
    np.testing.assert_allclose(s.flux, img[0])
    np.testing.assert_array_equal(s.meta["ormask"], img[4].astype(np.int64))
    assert s.meta["CLASS"] == hdr["CLASS"].strip() == s.meta["class"]
    assert s.meta["SUBCLASS"] == hdr["SUBCLASS"].strip()
    if hdr["Z"] > -9990:
        assert s.meta["Z"] == pytest.approx(hdr["Z"])
    else:                                       # the pipeline's -9999 "no redshift"
        assert s.meta["Z"] is None and s.meta["CLASS"] == "Unknown"
    assert s.meta["object"].startswith("LAMOST J")


def test_emission_peak_with_zero_ivar_is_kept():
    """LAMOST DR1 gives ivar = 0 across BT CMi's H-alpha emission peak; the flux is valid
    (smooth, 2.6 x the continuum) and must not be masked away."""
    s = read_lamost(BT_CMI)
    w = s.angstrom
    peak = (w > 6556) & (w < 6572)
    assert s.meta["ivar_zero"][peak].all() and not s.mask[peak].any()
    cont = np.median(s.flux[(w > 6600) & (w < 6700)])
    assert s.flux[peak].max() > 2.3 * cont


def test_bt_cmi_labels():
    m = read_lamost(BT_CMI).meta
    assert (m["CLASS"], m["SUBCLASS"]) == ("STAR", "A2V")
    assert m["Z"] == pytest.approx(0.00026021)
    assert m["snr"]["r"] == pytest.approx(64.14)


def _write_table(src, dst, *, scalar_rows=False, lower=False, extname="COADD"):
    """A DR6+ layout file (primary header + binary table) with the arrays of ``src``."""
    with fits.open(src) as h:
        img = h[0].data.astype(np.float32)
        hdr = h[0].header.copy()
    for k in ("NAXIS1", "NAXIS2"):
        hdr.remove(k, ignore_missing=True)
    names = ["FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK"]
    names = [n.lower() for n in names] if lower else names
    n = img.shape[1]
    if scalar_rows:
        cols = [fits.Column(name=nm, format="E", array=img[i]) for i, nm in enumerate(names)]
    else:
        cols = [fits.Column(name=nm, format=f"{n}E", array=img[i][None, :]) for i, nm in enumerate(names)]
    tab = fits.BinTableHDU.from_columns(cols, name=extname)
    prim = fits.PrimaryHDU(header=hdr)
    fits.HDUList([prim, tab]).writeto(dst, overwrite=True)
    return img


@pytest.mark.parametrize("variant", [{}, {"scalar_rows": True}, {"lower": True, "extname": "SPEC"}])
def test_table_layout_matches_image_layout(tmp_path, variant):
    dst = str(tmp_path / "spec-dr6.fits")
    img = _write_table(WAVE_ROW, dst, **variant)
    assert looks_like_lamost(dst)
    t, i = read(dst), read_lamost(WAVE_ROW)
    np.testing.assert_allclose(t.angstrom, img[2])
    assert t.meta["layout"] == "table" and t.medium == "vacuum"
    np.testing.assert_allclose(t.angstrom, i.angstrom, rtol=1e-6)
    np.testing.assert_allclose(t.flux, i.flux, rtol=1e-6)
    np.testing.assert_array_equal(t.mask, i.mask)
    assert t.meta["CLASS"] == i.meta["CLASS"] and t.meta["SUBCLASS"] == i.meta["SUBCLASS"]


def test_gzipped(tmp_path):
    dst = str(tmp_path / "spec.fits.gz")
    with open(BT_CMI, "rb") as src, gzip.open(dst, "wb") as out:
        shutil.copyfileobj(src, out)
    assert looks_like_lamost(dst)
    np.testing.assert_allclose(read(dst).flux, read_lamost(BT_CMI).flux)


def test_both_image_row_layouts_present():
    ext = {fits.getheader(p)["EXTEN0"] for p in FILES}
    assert ext == {"Flux Inverse Wavelength Andmask Ormask", "Flux Inverse Subcontinuum Andmask Ormask"}


def test_header_solution_when_wavelength_row_is_broken(tmp_path):
    dst = str(tmp_path / "spec.fits")
    src = [p for p in FILES if "Wavelength" in fits.getheader(p)["EXTEN0"]][0]
    with fits.open(src) as h:
        h[0].data[2] = 0.0
        h.writeto(dst)
    np.testing.assert_allclose(read_lamost(dst).angstrom, read_lamost(src).angstrom, rtol=1e-6)


def test_missing_file():
    with pytest.raises(SpectrumFileError, match="no such file"):
        read_lamost("/nonexistent/spec.fits")


def test_not_fits(tmp_path):
    p = tmp_path / "spec.fits"
    p.write_text("not a fits file\n" * 10)
    assert not looks_like_lamost(str(p))
    with pytest.raises(CorruptFileError, match="spec.fits"):
        read_lamost(str(p))
    with pytest.raises(UnsupportedFormatError) as e:
        read(str(p))
    # the formats named in sorted order: the registration order depends on which family a process imported
    # first, and a batch run's errors.jsonl must read the same from workers as from one process
    from zoo.registry import readers
    assert "known: " + ", ".join(sorted(readers())) + ")" in str(e.value)


def test_truncated(tmp_path):
    p = tmp_path / "cut.fits"
    p.write_bytes(open(BT_CMI, "rb").read()[:40000])
    with pytest.raises(CorruptFileError, match="truncated|cut.fits"):
        read_lamost(str(p))


def test_too_few_rows(tmp_path):
    p = str(tmp_path / "rows.fits")
    with fits.open(BT_CMI) as h:
        hdu = fits.PrimaryHDU(h[0].data[:2], header=h[0].header)
        hdu.writeto(p)
    with pytest.raises(CorruptFileError, match="rows"):
        read_lamost(p)


def test_table_without_flux(tmp_path):
    p = str(tmp_path / "t.fits")
    hdr = fits.Header()
    hdr["TELESCOP"] = "LAMOST"
    tab = fits.BinTableHDU.from_columns([fits.Column(name="WAVELENGTH", format="E", array=np.arange(5.0))])
    fits.HDUList([fits.PrimaryHDU(header=hdr), tab]).writeto(p)
    assert not looks_like_lamost(p)
    with pytest.raises(CorruptFileError, match="neither"):
        read_lamost(p)


def test_zeroed_data_is_all_masked_and_refused(tmp_path):
    """A file whose data bytes were zeroed reads (the header is intact) with every pixel bad,
    and the contract refuses it with a typed error instead of predicting."""
    from zoo.card import InputContract
    from zoo.errors import InsufficientDataError
    from zoo.preprocess import to_contract
    p = str(tmp_path / "z.fits")
    with fits.open(BT_CMI) as h:
        h[0].data[0:2] = 0.0
        h[0].data[3:] = 0.0
        h.writeto(p)
    with pytest.warns(UserWarning, match="flagged bad"):
        s = read_lamost(p)
    assert s.mask.all()
    c = InputContract(wavelength_start=6519.0, step=213 / 139, n_pixels=140, medium="vacuum",
                      flux_normalization="rectified", fill_value=0.0)
    with pytest.raises(InsufficientDataError):
        to_contract(s.flux, c, s.wavelength, error=s.error, mask=s.mask, medium=s.medium)


def test_other_formats_not_claimed():
    for p in glob.glob(str(resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov" / "*.fits")):
        assert not looks_like_lamost(p)
    for p in glob.glob(str(resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee" / "*.fits"))[:2]:
        assert not looks_like_lamost(p)


def test_every_shared_lamost_file(shared_data):
    files = sorted(glob.glob(os.path.join(shared_data, "lamost", "*.fits")))
    if not files:
        pytest.skip("no LAMOST files in shared data")
    for p in files:
        s = read(p)
        assert s.meta["format"] == "lamost" and s.medium == "vacuum"
        assert s.meta["CLASS"] in ("STAR", "GALAXY", "QSO", "Unknown")
        assert 3690 < s.angstrom[0] < 3710 and s.angstrom[-1] > 9000
        assert 0 <= s.mask.mean() < 0.6


def test_cards_state_the_ivar_zero_rule_and_the_zoo_follows_it():
    """Issue 17: the RAC-Net cards said inverse variance 0 marks a missing pixel while the reader
    (rightly, for emission peaks) keeps those pixels.  Card and code now agree: every card that
    reads LAMOST files says ``missing.error_at_least: null`` (the reader's 1e10 is not missing),
    no note says otherwise, and the zoo's prepared mask follows the card's field."""
    import dataclasses

    import zoo
    from zoo.preprocess import to_contract
    s = read_lamost(BT_CMI)
    peak = s.meta["ivar_zero"] & (s.flux != 0)
    assert peak.sum() > 100
    names = [n for n in ("racnet_ds1", "racnet_ds2", "racnet_fgk", "emission_cnn", "emission_fc")]
    for name in names:
        c = zoo.get_card(name).input
        assert c.missing["error_at_least"] is None, name
        assert "inverse variance 0 marks" not in c.notes and "ivar = 0" in c.notes, name
        kept = to_contract(s.flux, c, s.wavelength, error=s.error, mask=s.mask, medium=s.medium)
        strict = dataclasses.replace(c, missing={**c.missing, "error_at_least": 1e9})
        dropped = to_contract(s.flux, strict, s.wavelength, error=s.error, mask=s.mask, medium=s.medium)
        assert dropped.mask.sum() > kept.mask.sum(), name


def test_fast_path_equals_astropy_on_every_bundled_file(monkeypatch):
    """The plain-FITS fast path (no astropy) gives exactly what the astropy path gives: arrays, masks,
    wavelengths and every meta entry, header values included."""
    import glob
    import numpy as np
    from zoo.io import lamost as L
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = sorted(glob.glob(os.path.join(root, "zoo", "data", "lamost", "*.fits"))
                   + glob.glob(os.path.join(root, "tests", "data", "lamost_dev", "*.fits")))
    assert len(files) >= 10
    for f in files:
        assert L._fast_image(f) is not None, f          # these files take the fast path
        a = L.read_lamost(f)
        with monkeypatch.context() as m:
            m.setattr(L, "_fast_image", lambda p: None)
            b = L.read_lamost(f)
        for k in ("flux", "error", "mask"):
            assert np.array_equal(getattr(a, k), getattr(b, k)), (f, k)
        assert np.array_equal(a.wavelength.value, b.wavelength.value)
        assert set(a.meta) == set(b.meta)
        for k, v in a.meta.items():
            if isinstance(v, np.ndarray):
                assert np.array_equal(v, b.meta[k]), (f, k)
            else:
                assert v == b.meta[k] and type(v) is type(b.meta[k]) or k == "header", (f, k)
        assert {k: (v, type(v)) for k, v in a.meta["header"].items()} == \
            {k: (v, type(v)) for k, v in b.meta["header"].items()}, f
