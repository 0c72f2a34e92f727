"""Reader for APOGEE ``apStar`` files (SDSS-III/IV APOGEE combined spectra).

File layout (SDSS data model, DR13-DR17)
----------------------------------------
HDU 0
    Header only: object (``OBJID``), median S/N (``SNR``), the coarse
    RV-pipeline mini-grid labels (``RVTEFF``/``RVLOGG``/``RVFEH`` in the
    DR13-era ``r6`` files, ``RV_TEFF``/``RV_LOGG``/``RV_FEH`` in DR17), ...
HDU 1
    Flux, units 1e-17 erg/s/cm^2/A.  Either a single 8575-pixel row (one
    visit) or a 2-D image whose first rows are the combined spectra
    (pixel-weighted, then global-weighted) followed by one row per visit.
    This reader returns row 0, the pixel-weighted combined spectrum.
HDU 2
    1-sigma flux errors, same shape.  Bad pixels carry an error of 1e10
    (``r6``) or NaN (DR17).
HDU 3
    ``APOGEE_PIXMASK`` bit mask, same shape.

Wavelengths are vacuum, on a log-linear grid
``log10(lambda / A) = CRVAL1 + CDELT1 * i`` with ``CRVAL1 = 4.179`` and
``CDELT1 = 6e-6`` (``CRPIX1 = 1``), i.e. 15100.8 A to 16999.8 A in 8575
pixels.

Bad pixels
----------
The returned ``Spectrum.mask`` is True where a pixel is bad, namely where
any of the standard APOGEE_PIXMASK "bad" bits is set -- BADPIX (0), CRPIX (1),
SATPIX (2), UNFIXABLE (3), BADDARK (4), BADFLAT (5), BADERR (6), NOSKY (7) --
or where the flux is zero or non-finite, or the error is non-positive,
non-finite or the 1e10 sentinel.  The warning bits (LITTROW_GHOST 8,
PERSIST_* 9-11, SIG_SKYLINE 12, SIG_TELLURIC 13, NOT_ENOUGH_PSF 14) are kept
in ``meta['pixmask']`` but do not mark a pixel bad.  The flux and error conditions
are the APOGEE models' card rules too (``input.missing``: ``flux_zero``,
``error_nonfinite``, ``error_nonpositive``, ``error_at_least`` 1e9), so arrays passed
without this mask get the same treatment.

Chip gaps
---------
The three detectors cover only part of the grid.  ASPCAP (and The Payne,
Ting et al. 2019) use the 7214 pixels in :data:`APSTAR_CHIP_SLICES`, i.e.
apStar pixels 322-3241, 3648-6047 and 6412-8305 *inclusive*
(``slice(322, 3242)``, ``slice(3648, 6048)``, ``slice(6412, 8306)``:
2920 + 2400 + 1894 = 7214 pixels).  This was verified against the
``apogee_wavelength.npz`` grid of The Payne: every one of its 7214
wavelengths equals an apStar grid wavelength to better than 1e-8 A, and the
indices are exactly these three runs.
"""
from __future__ import annotations

import os
import warnings

import astropy.units as u
import numpy as np

from zoo.errors import CorruptFileError
from zoo.registry import register_reader
from zoo.spectrum import Spectrum
from zoo.io.fits import (_BLOCK, _DTYPES, _NotSimple, _card_value, _cards, _scan_file,  # noqa: F401
                    _value, is_fits, open_fits)

__all__ = [
    "read_apstar", "looks_like_apstar", "apstar_wavelength", "apstar_bad_mask",
    "aspcap_pixel_mask",
    "APSTAR_NPIX", "APSTAR_LOGLAM0", "APSTAR_DLOGLAM", "APSTAR_CHIP_SLICES",
    "APSTAR_BAD_BITS", "APSTAR_BAD_ERROR", "N_ASPCAP_PIX",
]

#: Number of pixels of an apStar spectrum.
APSTAR_NPIX = 8575
#: log10 of the first wavelength (A), header CRVAL1.
APSTAR_LOGLAM0 = 4.179
#: log10 step per pixel, header CDELT1.
APSTAR_DLOGLAM = 6e-6
#: The three detector (blue, green, red) ranges used by ASPCAP / The Payne,
#: as half-open slices of the apStar grid (pixels 322-3241, 3648-6047,
#: 6412-8305 inclusive).
APSTAR_CHIP_SLICES = (slice(322, 3242), slice(3648, 6048), slice(6412, 8306))
#: Number of ASPCAP pixels (sum of the chip lengths).
N_ASPCAP_PIX = sum(s.stop - s.start for s in APSTAR_CHIP_SLICES)
#: The chips' (first, last) pixels, inclusive (:data:`APSTAR_CHIP_SLICES` as docs write them).
APSTAR_CHIP_PIXELS = tuple((s.start, s.stop - 1) for s in APSTAR_CHIP_SLICES)
#: Pixels of the apStar grid outside the chips (the two gaps and the two ends).
N_NON_ASPCAP_PIX = APSTAR_NPIX - N_ASPCAP_PIX
#: APOGEE_PIXMASK bits that make a pixel unusable (SDSS bitmask documentation):
#: BADPIX, CRPIX, SATPIX, UNFIXABLE, BADDARK, BADFLAT, BADERR, NOSKY.
APSTAR_BAD_BITS = {"BADPIX": 0, "CRPIX": 1, "SATPIX": 2, "UNFIXABLE": 3,
                   "BADDARK": 4, "BADFLAT": 5, "BADERR": 6, "NOSKY": 7}
_BAD_BITMASK = sum(1 << b for b in APSTAR_BAD_BITS.values())
#: Error the apStar files (and our simulations) give a bad pixel.
APSTAR_BAD_ERROR = 1.0e10

# header key of the label -> meta key; DR13-era and DR17 spellings
_LABEL_KEYS = {"teff": ("RV_TEFF", "RVTEFF"), "logg": ("RV_LOGG", "RVLOGG"),
               "feh": ("RV_FEH", "RVFEH"), "alpha": ("RV_ALPHA", "RVALPH"),
               "carb": ("RV_CARB", "RVCARB")}
# primary-header keys copied verbatim into meta["header"]
_HEADER_KEYS = ("OBJID", "OBJECT", "APOGEE_ID", "TELESCOP", "FIELD", "LOCID",
                "RA", "DEC", "J", "H", "K", "NVISITS", "SNR", "VHELIO", "VSCATTER",
                "VERR", "STARFLAG", "ANDFLAG",
                "RVTEFF", "RVLOGG", "RVFEH", "RVALPH", "RVCARB",
                "RV_TEFF", "RV_LOGG", "RV_FEH", "RV_ALPHA", "RV_CARB")


def apstar_wavelength(npix: int = APSTAR_NPIX, loglam0: float = APSTAR_LOGLAM0,
                      dloglam: float = APSTAR_DLOGLAM) -> u.Quantity:
    """The apStar vacuum wavelength grid, ``10**(loglam0 + dloglam * i)`` Angstrom.

    Returns
    -------
    astropy Quantity, shape (npix,)
        15100.80 A ... 16999.81 A for the defaults.
    """
    return (10.0 ** (loglam0 + dloglam * np.arange(npix))) * u.AA


def aspcap_pixel_mask() -> np.ndarray:
    """Boolean array (8575,), True on the 7214 ASPCAP pixels (inside the chips)."""
    m = np.zeros(APSTAR_NPIX, dtype=bool)
    for s in APSTAR_CHIP_SLICES:
        m[s] = True
    return m


def apstar_bad_mask(pixmask, flux=None, error=None) -> np.ndarray:
    """Boolean "bad pixel" mask from an APOGEE_PIXMASK array (and flux/error).

    A pixel is bad where any of :data:`APSTAR_BAD_BITS` is set, or the flux is
    zero or non-finite, or the error is non-positive, non-finite or at least
    the ``1e10`` sentinel of the apStar files.  Works on any shape.
    """
    pixmask = np.asarray(pixmask)
    bad = (pixmask.astype(np.int64) & _BAD_BITMASK) != 0
    if flux is not None:
        flux = np.asarray(flux, dtype=float)
        bad |= ~np.isfinite(flux) | (flux == 0)
    if error is not None:
        error = np.asarray(error, dtype=float)
        with np.errstate(invalid="ignore"):
            bad |= ~np.isfinite(error) | (error <= 0) | (error >= 0.1 * APSTAR_BAD_ERROR)
    return bad


def _open(path_or_hdul):
    """Open a FITS file lazily-safe; returns (hdul, must_close)."""
    from astropy.io import fits
    if isinstance(path_or_hdul, fits.HDUList):
        return path_or_hdul, False
    return fits.open(os.fspath(path_or_hdul), memmap=False), True


def looks_like_apstar(path_or_hdul) -> bool:
    """Sniff whether a path (or an open ``HDUList``) is an apStar file.

    True for a FITS file with at least three HDUs whose HDU 1 is an image with
    8575-pixel rows or carries the apStar log-linear header
    (``CRVAL1`` ~ 4.179, ``CDELT1`` ~ 6e-6).  Never raises: unreadable or
    non-FITS input gives False.
    """
    from astropy.io import fits
    if not isinstance(path_or_hdul, fits.HDUList):
        path = os.fspath(path_or_hdul)
        if not os.path.isfile(path) or not is_fits(path):
            return False
        fast = _looks_like_apstar_fast(path)
        if fast is not None:
            return fast
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul, close = _open(path_or_hdul)
            try:
                if len(hdul) < 3:
                    return False
                h1 = hdul[1].header
                naxis1 = h1.get("NAXIS1")
                crval, cdelt = h1.get("CRVAL1"), h1.get("CDELT1")
                if naxis1 == APSTAR_NPIX and h1.get("NAXIS", 0) in (1, 2):
                    return True
                return (crval is not None and cdelt is not None
                        and abs(float(crval) - APSTAR_LOGLAM0) < 1e-3
                        and abs(float(cdelt) - APSTAR_DLOGLAM) < 1e-8)
            finally:
                if close:
                    hdul.close()
    except Exception:  # a sniffer must not raise
        return False


def _row0(arr, name, path):
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[0]
    elif arr.ndim != 1:
        raise CorruptFileError(f"{path}: apStar HDU {name} has {arr.ndim} dimensions, "
                               "expected 1 or 2")
    return arr


#: Exactly-zero flux or error on this many chip pixels that PIXMASK calls good means damaged data.
ZEROED_PIXELS_LIMIT = 3


def _check_not_zeroed(flux, error, pixmask, path) -> None:
    """Raise CorruptFileError for flux or errors exactly 0 inside the chips where the pipeline's
    PIXMASK flags nothing: the APOGEE pipeline never writes a calibrated 0 there (bad pixels
    are flagged), so such pixels are zeroed bytes, not data (measured on the bundled files: none)."""
    inchip = np.zeros(flux.shape[-1], bool)
    for sl in APSTAR_CHIP_SLICES:
        inchip[sl] = True
    clean = inchip & ((pixmask & _BAD_BITMASK) == 0)
    for name, arr in (("flux", flux), ("error", error)):
        n = int(np.sum(clean & (arr == 0)))
        if n >= ZEROED_PIXELS_LIMIT:
            raise CorruptFileError(
                f"{path}: {name} is exactly 0 on {n} pixels inside the detector chips that APOGEE_PIXMASK "
                "flags as good: the file's data are zeroed or damaged")


# --------------------------------------------------------------------------- fast path
# astropy.io.fits parses every card of every HDU (an apStar file has 10-11 HDUs and
# 100-200 cards): ~25 ms a file, 25x the model's time per spectrum.  The apStar layout is
# fixed, so a plain file holding it is read here directly: the headers are walked block by
# block, only the structural keywords and the keys the reader returns are parsed, and only
# row 0 of HDUs 1-3 is read.  Anything unexpected (gzip, scaled or non-image data, long
# strings, a value the simple parser does not know, truncation) makes the fast path give up
# and the astropy path below read the file, with its errors and messages; both give the
# same Spectrum (tests/test_apstar.py holds them equal on the bundled files).

def _looks_like_apstar_fast(path):
    """True / False for a plain FITS file the fast path can walk; None to ask astropy."""
    try:
        hdus = _scan_file(path)
    except (_NotSimple, OSError, UnicodeDecodeError, ValueError, KeyError):
        return None
    if len(hdus) < 3:
        return False
    try:
        h1 = _cards(hdus[1][0])
    except _NotSimple:
        return None
    naxis1, crval, cdelt = _value(h1, "NAXIS1"), _value(h1, "CRVAL1"), _value(h1, "CDELT1")
    if naxis1 == APSTAR_NPIX and _value(h1, "NAXIS", 0) in (1, 2):
        return True
    return (crval is not None and cdelt is not None
            and abs(float(crval) - APSTAR_LOGLAM0) < 1e-3
            and abs(float(cdelt) - APSTAR_DLOGLAM) < 1e-8)


def _read_fast(path):
    """``(hdr0, hdr1, nrows, flux, error, pixmask)`` of a plain apStar file (hdr0/hdr1: the
    parsed values the reader uses), or None to read it with astropy."""
    try:
        hdus = _scan_file(path)
        with open(path, "rb") as fh:
            if len(hdus) < 4:
                return None
            rows = []
            nrows = None
            for k in (1, 2, 3):
                text, offset, _ = hdus[k]
                cards = _cards(text)
                if (_value(cards, "XTENSION") != "IMAGE" or _value(cards, "BSCALE", 1) != 1
                        or _value(cards, "BZERO", 0) != 0 or "BLANK" in cards):
                    return None
                bitpix, naxis = _value(cards, "BITPIX"), _value(cards, "NAXIS")
                if bitpix not in _DTYPES or naxis not in (1, 2):
                    return None
                npix = _value(cards, "NAXIS1")
                n = 1 if naxis == 1 else _value(cards, "NAXIS2")
                if npix < 1 or n < 1:
                    return None
                nrows = n if nrows is None else nrows
                dtype = np.dtype(_DTYPES[bitpix])
                fh.seek(offset)
                buf = fh.read(npix * dtype.itemsize)
                rows.append(np.frombuffer(buf, dtype))
            cards0, cards1 = _cards(hdus[0][0]), _cards(hdus[1][0])
            hdr0 = {k: _card_value(c) for k, c in cards0.items() if k in _PRIMARY_KEYS}
            hdr1 = {k: _card_value(cards1[k]) for k in _HDU1_KEYS if k in cards1}
    except (_NotSimple, OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    flux = rows[0].astype(float)
    error = rows[1].astype(float)
    pixmask = rows[2].astype(np.int64)
    return hdr0, hdr1, nrows, flux, error, pixmask


_PRIMARY_KEYS = frozenset(_HEADER_KEYS) | {n for names in _LABEL_KEYS.values() for n in names} | {
    "APOGEE_ID", "OBJID", "OBJECT", "SNR", "NVISITS"}
_HDU1_KEYS = ("CRVAL1", "CDELT1", "CRPIX1", "BUNIT")


def read_apstar(path) -> Spectrum:
    """Read the combined spectrum of an APOGEE apStar file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Spectrum
        ``wavelength`` (Quantity, A, vacuum, 8575 pixels from the header
        solution), ``flux`` and ``error`` (row 0 of HDU 1/2, the combined
        spectrum, in 1e-17 erg/s/cm^2/A), ``mask`` (bool, True = bad; see
        :func:`apstar_bad_mask`), ``medium="vacuum"`` and ``meta`` with
        ``teff``, ``logg``, ``feh`` (the coarse RV-pipeline labels, from
        ``RV_TEFF``/``RVTEFF`` etc.; None if absent), ``object`` and
        ``APOGEE_ID`` (from ``OBJID``/``APOGEE_ID``/``OBJECT``), ``snr``,
        ``nvisits``, ``nrows`` (rows in HDU 1), ``pixmask`` (the raw bit mask of
        row 0), ``header`` (a dict subset of the primary header), ``file``.

    Raises
    ------
    SpectrumFileError
        The file does not exist.
    CorruptFileError
        The file is truncated, not valid FITS, or lacks the apStar HDUs.
    """
    path = os.fspath(path)
    fast = _read_fast(path) if os.path.isfile(path) else None
    if fast is not None:
        hdr0, hdr1, nrows, flux, error, pixmask = fast
    else:
        hdr0, hdr1, nrows, flux, error, pixmask = _read_astropy(path)
    return _spectrum(path, hdr0, hdr1, nrows, flux, error, pixmask)


def _read_astropy(path):
    """The astropy path of :func:`read_apstar` (any FITS file astropy reads; its errors)."""
    with open_fits(path, "apStar") as hdul:
        if len(hdul) < 4:
            raise CorruptFileError(
                f"{path}: apStar file needs flux, error and mask HDUs (1-3), "
                f"found {len(hdul)} HDUs")
        hdr0 = hdul[0].header.copy()
        hdr1 = hdul[1].header.copy()
        flux_all = hdul[1].data
        err_all = hdul[2].data
        pixmask_all = hdul[3].data
        if flux_all is None or err_all is None or pixmask_all is None:
            raise CorruptFileError(f"{path}: apStar HDU 1, 2 or 3 holds no data")
        nrows = 1 if np.ndim(flux_all) == 1 else int(np.shape(flux_all)[0])
        flux = np.array(_row0(flux_all, 1, path), dtype=float)
        error = np.array(_row0(err_all, 2, path), dtype=float)
        pixmask = np.array(_row0(pixmask_all, 3, path), dtype=np.int64)
    return hdr0, hdr1, nrows, flux, error, pixmask


def _spectrum(path, hdr0, hdr1, nrows, flux, error, pixmask) -> Spectrum:
    npix = flux.shape[-1]
    if error.shape != flux.shape or pixmask.shape != flux.shape:
        raise CorruptFileError(f"{path}: flux, error and mask HDUs differ in shape "
                               f"({flux.shape}, {error.shape}, {pixmask.shape})")
    crval = float(hdr1.get("CRVAL1", APSTAR_LOGLAM0))
    cdelt = float(hdr1.get("CDELT1", APSTAR_DLOGLAM))
    crpix = float(hdr1.get("CRPIX1", 1.0))
    loglam = crval + cdelt * (np.arange(npix) + 1.0 - crpix)
    wavelength = (10.0 ** loglam) * u.AA

    _check_not_zeroed(flux, error, pixmask, path)
    bad = apstar_bad_mask(pixmask, flux, error)
    # keep the arrays finite: NaN flux/error (DR17) become 0 / the 1e10 sentinel
    flux = np.where(np.isfinite(flux), flux, 0.0)
    error = np.where(np.isfinite(error), error, APSTAR_BAD_ERROR)

    header = {k: hdr0[k] for k in _HEADER_KEYS if k in hdr0}
    meta = {"file": path, "format": "apstar", "header": header, "nrows": nrows,
            "row": 0, "pixmask": pixmask, "flux_unit": hdr1.get("BUNIT")}
    for key, names in _LABEL_KEYS.items():
        meta[key] = next((float(hdr0[n]) for n in names if n in hdr0), None)
    obj = next((str(hdr0[k]).strip() for k in ("APOGEE_ID", "OBJID", "OBJECT") if k in hdr0),
               None)
    meta["object"] = obj
    meta["APOGEE_ID"] = obj
    meta["snr"] = float(hdr0["SNR"]) if "SNR" in hdr0 else None
    meta["nvisits"] = int(hdr0["NVISITS"]) if "NVISITS" in hdr0 else None
    return Spectrum(wavelength=wavelength, flux=flux, error=error, mask=bad,
                    medium="vacuum", meta=meta)


register_reader("apstar", looks_like_apstar, read_apstar)
