"""Reader for LAMOST low-resolution survey spectra (``spec-*.fits``, optionally gzipped).

Two layouts occur in the public archive; both are read into the same
:class:`~zoo.spectrum.Spectrum`.

DR1-DR5 (image layout)
----------------------
The primary HDU holds a 5 x N image, rows (header ``EXTEN0 = 'Flux Inverse
Wavelength Andmask Ormask'``):

0. flux (relative flux-calibrated, arbitrary scale)
1. inverse variance of the flux (0 = no information)
2. wavelength, vacuum Angstrom
3. and-mask (bits set in *every* exposure)
4. or-mask (bits set in *any* exposure)

Some DR1 files (float32, ``EXTEN0 = 'Flux Inverse Subcontinuum Andmask
Ormask'``) hold the continuum-normalized flux in row 2 instead of the
wavelengths; the reader follows ``EXTEN0``, takes the wavelengths from the
header solution for them and keeps that row in ``meta["subcontinuum"]``.
Wavelengths are vacuum (``VACUUM = T``) on a log-linear grid
``log10(lambda) = CRVAL1 + CD1_1 * (i + 1 - CRPIX1)`` (``CRVAL1`` = 3.5682,
``CD1_1`` = 1e-4, ``DC-FLAG = 1``), i.e. 3699.99 A upwards.  The reader takes
the wavelength row of the image; when that row is unusable (zeros or not
increasing) it falls back to the header solution.

DR6 and later (binary-table layout)
-----------------------------------
The primary HDU is header only; an extension (``EXTNAME = 'COADD'``, or the
first table with the columns) is a binary table with the columns ``FLUX``,
``IVAR``, ``WAVELENGTH``, ``ANDMASK``, ``ORMASK`` (and ``NORMALIZATION``),
either as one row of N-element arrays or as N rows of scalars.  Column names
are matched case-insensitively.

Bad pixels
----------
``Spectrum.mask`` is True where the flux is not finite, the and-mask is non-zero
(bad in every exposure), or there is no data (inverse variance <= 0 *and*
flux exactly 0).  An inverse variance of 0 alone does not mask a pixel: the
LAMOST DR1 pipeline also gives ivar = 0 to valid flux, e.g. across the peak of
a bright line above the continuum (BT CMi's H-alpha, 6556-6572 A, in
``zoo/data/lamost/bt-cmi-lamost.fits``), and the models built on LAMOST
(Podsztavek 2017; Zou et al. 2020) read the flux row as delivered.  Those
pixels get ``error = LAMOST_NO_ERROR`` (1e10, finite, so that the pixels stay
usable) and are listed in ``meta["ivar_zero"]`` (bool array, True where
ivar <= 0).  Whether they are missing is each model's rule, stated in its card
(``input.missing.error_at_least``: 1e9 would make them missing; every card that
reads LAMOST files says null, not missing; docs/deploy.md).  Elsewhere
``Spectrum.error`` is ``1/sqrt(ivar)``.  The or-mask is kept in ``meta["ormask"]``.

Metadata
--------
``meta`` carries the pipeline's labels ``CLASS`` (STAR/GALAXY/QSO/Unknown),
``SUBCLASS`` (spectral type or "Non") and ``Z`` / ``Z_ERR`` (``None`` for the
-9999 sentinel), under those names and in lower case (``class``, ``subclass``,
``z``, ``z_err``), plus ``object`` (the ``DESIG`` designation), ``obsid``,
``ra``, ``dec``, ``snr`` (dict of ``SN_U``..``SN_Z``), ``layout``
("image" or "table"), ``instrument = "lamost"``, ``format = "lamost"``,
``file`` and ``header`` (a dict subset of the primary header).
"""
from __future__ import annotations

import gzip
import os
import warnings

import astropy.units as u
import numpy as np

from ..errors import CorruptFileError
from ..spectrum import Spectrum
from .fits import _DTYPES, _NotSimple, _card_value, _cards, _scan_file, find_table, open_fits

__all__ = ["read_lamost", "looks_like_lamost", "lamost_wavelength",
           "LAMOST_LOGLAM0", "LAMOST_DLOGLAM", "LAMOST_ROWS",
           "LAMOST_NO_ERROR"]

#: log10 of the first wavelength of the DR1-DR5 files (header CRVAL1).
LAMOST_LOGLAM0 = 3.5682
#: log10 step per pixel (header CD1_1).
LAMOST_DLOGLAM = 1e-4
#: Error given to pixels whose inverse variance is 0 (finite, so the pixel stays usable).
LAMOST_NO_ERROR = 1.0e10
#: Rows of the DR1-DR5 image, in order.
LAMOST_ROWS = ("flux", "ivar", "wavelength", "andmask", "ormask")

_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")
_HEADER_KEYS = ("FILENAME", "OBSID", "DESIG", "OBJNAME", "OBJTYPE", "TELESCOP", "DATE-OBS",
                "MJD", "LMJD", "PLANID", "SPID", "FIBERID", "RA", "DEC", "EXPTIME", "VACUUM",
                "WFITTYPE", "CRVAL1", "CD1_1", "CRPIX1", "DC-FLAG", "VERSPIPE", "DATA_V",
                "CLASS", "SUBCLASS", "Z", "Z_ERR", "SN_U", "SN_G", "SN_R", "SN_I", "SN_Z",
                "SNRU", "SNRG", "SNRR", "SNRI", "SNRZ")


def lamost_wavelength(npix: int, loglam0: float = LAMOST_LOGLAM0,
                      dloglam: float = LAMOST_DLOGLAM, crpix: float = 1.0) -> np.ndarray:
    """The log-linear LAMOST vacuum grid ``10**(loglam0 + dloglam*(i + 1 - crpix))`` in A."""
    return 10.0 ** (loglam0 + dloglam * (np.arange(npix) + 1.0 - crpix))


def _magic(path) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                head = fh.read(9)
        return head
    except (OSError, EOFError):
        return b""


def _find_table(hdul):
    """Index of the HDU holding the DR6+ table (``COADD`` first), or None."""
    return find_table(hdul, ("FLUX", "WAVELENGTH"), prefer="COADD")


#: words of the header's EXTEN0 row description -> row names
_ROW_WORDS = {"flux": "flux", "inverse": "ivar", "ivar": "ivar", "wavelength": "wavelength",
              "subcontinuum": "subcontinuum", "andmask": "andmask", "ormask": "ormask"}


def _fast_header(text: str) -> dict:
    """``{keyword: value}`` of a plain header's text, as astropy's ``header[key]`` gives them (the
    first card of a repeated keyword; commentary cards left out); :class:`_NotSimple` otherwise."""
    out = {}
    for key, card in _cards(text).items():
        if key in ("COMMENT", "HISTORY", "END") or card[8:10] != "= ":
            continue
        out[key] = _card_value(card)
    return out


def _fast_image(path):
    """``(primary header dict, image as float)`` of a plain (not gzipped) DR1-DR5 file with its
    fixed-format header and unscaled image, read without astropy (~10x faster); None to read the
    file with astropy (gzip, a table layout, scaled data, anything unusual)."""
    try:
        hdus = _scan_file(path)
        text, offset, nbytes = hdus[0]
        h0 = _fast_header(text)
    except (_NotSimple, OSError, UnicodeDecodeError, ValueError, KeyError, IndexError):
        return None
    if (h0.get("NAXIS") != 2 or h0.get("BITPIX") not in _DTYPES or h0.get("BSCALE", 1) != 1
            or h0.get("BZERO", 0) != 0 or "BLANK" in h0):
        return None
    shape = (int(h0["NAXIS2"]), int(h0["NAXIS1"]))
    with open(path, "rb") as fh:
        fh.seek(offset)
        raw = fh.read(nbytes)
    if len(raw) != nbytes:
        return None
    return h0, np.frombuffer(raw, dtype=_DTYPES[h0["BITPIX"]]).reshape(shape).astype(float)


def _looks_like_lamost_fast(path):
    """True / False from the primary header alone; None to ask astropy (a table layout or an
    unusual file)."""
    try:
        hdus = _scan_file(path)
        cards = _cards(hdus[0][0])       # only the three cards it needs are parsed (the reader parses all)
        h0 = {k: _card_value(cards[k]) for k in ("TELESCOP", "NAXIS", "NAXIS2") if k in cards}
    except (_NotSimple, OSError, UnicodeDecodeError, ValueError, KeyError, IndexError):
        return None
    if "LAMOST" not in str(h0.get("TELESCOP", "")).upper():
        return False
    if h0.get("NAXIS") == 2 and h0.get("NAXIS2") == 5:
        return True
    return None


def looks_like_lamost(path) -> bool:
    """Sniff whether ``path`` is a LAMOST ``spec`` file (either layout). Never raises.

    True for a FITS file (plain or gzipped) whose primary header says
    ``TELESCOP = 'LAMOST'`` and that holds a 5 x N primary image or a table
    with ``FLUX`` and ``WAVELENGTH`` columns.
    """
    try:
        path = os.fspath(path)
        if not os.path.isfile(path) or _magic(path) != b"SIMPLE  =":
            return False
        fast = _looks_like_lamost_fast(path)
        if fast is not None:
            return fast
        from astropy.io import fits
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                h0 = hdul[0].header
                if "LAMOST" not in str(h0.get("TELESCOP", "")).upper():
                    return False
                if h0.get("NAXIS") == 2 and h0.get("NAXIS2") == 5:
                    return True
                return _find_table(hdul) is not None
    except Exception:  # a sniffer must not raise
        return False


def _image_rows(h0, nrows):
    """Names of the image rows from ``EXTEN0`` (e.g. 'Flux Inverse Wavelength Andmask
    Ormask'); some DR1 files have 'Subcontinuum' (continuum-normalized flux) in row 2
    instead of the wavelengths.  Without EXTEN0: :data:`LAMOST_ROWS`."""
    words = str(h0.get("EXTEN0", "")).lower().split()
    names = [_ROW_WORDS.get(w) for w in words]
    if len(names) < min(nrows, 3) or None in names[:nrows] or names[:2] != ["flux", "ivar"]:
        names = list(LAMOST_ROWS)
    return names[:nrows]


def _table_columns(hdu, path):
    data = hdu.data
    if data is None or len(data) == 0:
        raise CorruptFileError(f"{path}: LAMOST table HDU {hdu.name!r} holds no rows")
    names = {n.upper(): n for n in data.columns.names}
    out = {}
    for col in _COLUMNS:
        if col not in names:
            if col in ("ANDMASK", "ORMASK", "IVAR"):
                out[col.lower()] = None
                continue
            raise CorruptFileError(f"{path}: LAMOST table lacks the {col} column")
        arr = np.asarray(data[names[col]])
        if arr.ndim == 2:            # one row of arrays (the archive's form): take row 0
            arr = arr[0]
        out[col.lower()] = np.array(arr, dtype=float).ravel()
    return out


def read_lamost(path) -> Spectrum:
    """Read a LAMOST low-resolution ``spec`` file (DR1-DR5 image or DR6+ table layout).

    Returns
    -------
    Spectrum
        vacuum wavelengths (A), flux, error (``1/sqrt(ivar)``, :data:`LAMOST_NO_ERROR` where
        ivar <= 0), mask (True = bad: see the module docstring),
        ``medium="vacuum"``; ``meta`` as described in the module docstring.

    Raises
    ------
    SpectrumFileError
        The file does not exist.
    CorruptFileError
        Not a readable FITS file, truncated, or without the LAMOST rows/columns
        (the message names the file and the problem).
    """
    path = os.fspath(path)
    fast = _fast_image(path) if os.path.isfile(path) else None
    if fast is not None:     # the same values as the astropy path (tests/test_lamost_reader.py)
        h0, img = fast
        cols, layout = _image_columns(path, h0, img), "image"
    else:
        h0, cols, layout = _read_astropy(path)
    return _spectrum(path, h0, cols, layout)


def _image_columns(path, h0, img) -> dict:
    if img.shape[0] < 3:
        raise CorruptFileError(
            f"{path}: LAMOST image has {img.shape[0]} rows, expected 5 "
            "(flux, ivar, wavelength, andmask, ormask)")
    rows = _image_rows(h0, img.shape[0])
    return {name: img[i] for i, name in enumerate(rows)}


def _read_astropy(path):
    with open_fits(path, "LAMOST") as hdul:
        h0 = hdul[0].header.copy()
        img = hdul[0].data
        if img is not None and np.ndim(img) == 2:
            cols = _image_columns(path, h0, np.array(img, dtype=float))
            layout = "image"
        else:
            i = _find_table(hdul)
            if i is None:
                raise CorruptFileError(
                    f"{path}: neither a 5 x N primary image (DR1-DR5) nor a table with "
                    "FLUX/WAVELENGTH columns (DR6+) found")
            cols = _table_columns(hdul[i], path)
            layout = "table"
    return h0, cols, layout


def _spectrum(path, h0, cols, layout) -> Spectrum:
    flux = cols["flux"]
    npix = flux.size
    rows_desc = [k for k, v in cols.items() if v is not None]
    if npix < 2:
        raise CorruptFileError(f"{path}: LAMOST spectrum has {npix} pixel(s)")
    for name in ("ivar", "wavelength", "andmask", "ormask"):
        arr = cols.get(name)
        if arr is not None and arr.size != npix:
            raise CorruptFileError(f"{path}: LAMOST {name} has {arr.size} pixels, flux has {npix}")

    wave = cols.get("wavelength")
    if wave is None or not np.all(np.isfinite(wave)) or np.any(np.diff(wave) <= 0) or wave[0] <= 0:
        if "CRVAL1" not in h0:
            raise CorruptFileError(f"{path}: LAMOST wavelengths are not strictly increasing and "
                                   "the header has no CRVAL1/CD1_1 solution")
        crval = float(h0["CRVAL1"])
        step = float(h0.get("CD1_1", h0.get("CDELT1", LAMOST_DLOGLAM)))
        crpix = float(h0.get("CRPIX1", 1.0))
        if int(h0.get("DC-FLAG", 1)) == 1:
            wave = lamost_wavelength(npix, crval, step, crpix)
        else:
            wave = crval + step * (np.arange(npix) + 1.0 - crpix)
    if not (1000.0 < wave[0] < wave[-1] < 20000.0):
        raise CorruptFileError(f"{path}: LAMOST wavelengths {wave[0]:.4g}-{wave[-1]:.4g} are not "
                               "optical Angstrom")

    ivar = cols.get("ivar")
    ivar = np.ones(npix) if ivar is None else ivar
    andmask = cols.get("andmask")
    ormask = cols.get("ormask")
    with np.errstate(divide="ignore", invalid="ignore"):
        no_ivar = ~np.isfinite(ivar) | (ivar <= 0)
        bad = ~np.isfinite(flux) | (no_ivar & (np.nan_to_num(flux) == 0))
        if andmask is not None:
            bad |= np.nan_to_num(andmask) != 0
        error = np.where(no_ivar, LAMOST_NO_ERROR, 1.0 / np.sqrt(np.where(no_ivar, 1.0, ivar)))
    flux = np.where(np.isfinite(flux), flux, 0.0)
    if bad.all():
        warnings.warn(f"{path}: every LAMOST pixel is flagged bad (no data, and-mask set or not finite)")

    def _str(key):
        v = h0.get(key)
        return None if v is None else str(v).strip()

    def _z(key):
        v = h0.get(key)
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        return None if v <= -9990 else v

    header = {k: h0[k] for k in _HEADER_KEYS if k in h0}
    meta = {
        "file": path, "format": "lamost", "instrument": "lamost", "layout": layout,
        "header": header, "CLASS": _str("CLASS"), "SUBCLASS": _str("SUBCLASS"),
        "Z": _z("Z"), "Z_ERR": _z("Z_ERR"),
        "object": _str("DESIG") or _str("OBJNAME"), "obsid": h0.get("OBSID"),
        "ra": h0.get("RA"), "dec": h0.get("DEC"),
        "snr": {b: float(h0[k]) for b, k in (("u", "SN_U"), ("g", "SN_G"), ("r", "SN_R"),
                                              ("i", "SN_I"), ("z", "SN_Z")) if k in h0}
        or {b: float(h0[k]) for b, k in (("u", "SNRU"), ("g", "SNRG"), ("r", "SNRR"),
                                         ("i", "SNRI"), ("z", "SNRZ")) if k in h0},
        "ormask": None if ormask is None else ormask.astype(np.int64),
        "rows": rows_desc, "ivar_zero": no_ivar,
    }
    if cols.get("subcontinuum") is not None:
        meta["subcontinuum"] = cols["subcontinuum"]
    meta["class"], meta["subclass"], meta["z"], meta["z_err"] = (
        meta["CLASS"], meta["SUBCLASS"], meta["Z"], meta["Z_ERR"])
    return Spectrum(wavelength=wave * u.AA, flux=flux, error=error, mask=bad,
                    medium="vacuum", meta=meta)
