"""Reader for Ondřejov 2 m telescope CCD700 (coudé) spectra, FITS, air wavelengths.

Two layouts occur (both in the Ondřejov archive and in the thesis's data):

Header layout (the archive's reduced 1-D FITS)
    The primary HDU is a 1-D image of the flux (ADU or rectified); the
    wavelength solution is linear in the header: ``lambda = CRVAL1 +
    CDELT1 * (i + 1 - CRPIX1)`` (``CD1_1`` when ``CDELT1`` is absent).
    Recognized by ``INSTRUME`` (e.g. ``COUDE700``) or ``TELESCOP``
    (``ZEISS-2m``) in the header.

Table layout (the archive's SSAP / VO service)
    An extension is a binary table with the columns ``spectral`` (air
    wavelength, ``TUNIT1`` Angstrom) and ``flux`` (relative flux), one row per
    pixel; the header says where it comes from (``DS_IDPUB =
    'ivo://asu.cas.cz/stel/ccd700/...'``, ``TITLE = 'ccd700/...'``).

Both give a :class:`~zoo.spectrum.Spectrum` with ``medium="air"`` (Ondřejov
stores air wavelengths), no errors (the files carry none), a mask of
non-finite and exactly-zero pixels, and ``meta`` with ``instrument =
"ondrejov"``, ``format = "ondrejov"``, ``layout`` ("header" or "table"),
``object``, ``ra``/``dec``, ``date``, ``flux_unit``, ``resolving_power``
(~13000, the CCD700 around H-alpha), ``pixel_step`` (Angstrom), ``file``
and ``header`` (a dict subset).

No resolution matching or air->vacuum conversion happens here: the reader
returns the spectrum as observed; models decide what their input needs.
"""
from __future__ import annotations

import os
import warnings

import astropy.units as u
import numpy as np

from zoo.errors import CorruptFileError
from zoo.registry import register_reader
from zoo.spectrum import Spectrum
from zoo.io.fits import open_fits, find_table, is_fits

__all__ = ["read_ondrejov", "looks_like_ondrejov", "ONDREJOV_RESOLVING_POWER"]

#: Resolving power of the CCD700 coudé spectrograph around H-alpha (data README).
ONDREJOV_RESOLVING_POWER = 13000.0

_MARKERS = ("COUDE", "CCD700", "ZEISS-2M", "ONDREJOV", "ONDŘEJOV", "ASU.CAS.CZ")
_HEADER_KEYS = ("OBJECT", "TELESCOP", "INSTRUME", "DATE-OBS", "DATE", "EXPTIME", "RA", "DEC",
                "BUNIT", "CRVAL1", "CDELT1", "CD1_1", "CRPIX1", "CTYPE1", "TITLE", "DS_IDPUB",
                "TMID", "FLUX_CAL", "SPEC_CAL")


def _has_marker(*headers) -> bool:
    for h in headers:
        for key in ("INSTRUME", "TELESCOP", "DS_IDPUB", "TITLE", "VOPUB", "OBSERVAT", "ORIGIN"):
            v = str(h.get(key, "")).upper()
            if any(m in v for m in _MARKERS):
                return True
    return False


def _table_hdu(hdul):
    """Index of a table with ``spectral`` and ``flux`` columns (case-insensitive), or None."""
    return find_table(hdul, ("spectral", "flux"), lower=True)


def looks_like_ondrejov(path) -> bool:
    """Sniff whether ``path`` is an Ondřejov CCD700 FITS spectrum. Never raises.

    True for a FITS file with a ``spectral``/``flux`` table extension that
    carries an Ondřejov marker (``DS_IDPUB``/``TITLE`` naming ccd700 or
    asu.cas.cz), or a 1-D primary image with a linear ``CRVAL1`` solution and
    ``INSTRUME``/``TELESCOP`` naming the coudé spectrograph or the Zeiss 2 m.
    """
    try:
        path = os.fspath(path)
        if not os.path.isfile(path) or not is_fits(path):
            return False
        from astropy.io import fits
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdul:
                h0 = hdul[0].header
                i = _table_hdu(hdul)
                if i is not None:
                    return _has_marker(h0, hdul[i].header)
                return (h0.get("NAXIS") == 1 and "CRVAL1" in h0 and _has_marker(h0)
                        and int(h0.get("DC-FLAG", 0) or 0) == 0)
    except Exception:  # a sniffer must not raise
        return False


def read_ondrejov(path) -> Spectrum:
    """Read an Ondřejov CCD700 spectrum (header or table layout).

    Raises
    ------
    SpectrumFileError
        The file does not exist.
    CorruptFileError
        Not a readable FITS file, truncated, no flux, no wavelength solution,
        or wavelengths that are not increasing optical Angstrom.
    """
    path = os.fspath(path)
    with open_fits(path, "Ondřejov") as hdul:
        h0 = hdul[0].header.copy()
        i = _table_hdu(hdul)
        if i is not None:
            hdr = hdul[i].header.copy()
            data = hdul[i].data
            if data is None or len(data) == 0:
                raise CorruptFileError(f"{path}: Ondřejov table holds no rows")
            names = {n.lower(): n for n in data.columns.names}
            wave = np.array(data[names["spectral"]], dtype=float).ravel()
            flux = np.array(data[names["flux"]], dtype=float).ravel()
            unit = str(hdr.get(f"TUNIT{data.columns.names.index(names['spectral']) + 1}",
                               "Angstrom")).strip()
            layout = "table"
        else:
            img = hdul[0].data
            if img is None or np.ndim(img) != 1:
                raise CorruptFileError(
                    f"{path}: neither a 1-D primary image with a CRVAL1/CDELT1 wavelength "
                    "solution nor a table with 'spectral' and 'flux' columns")
            if "CRVAL1" not in h0 or not ("CDELT1" in h0 or "CD1_1" in h0):
                raise CorruptFileError(f"{path}: 1-D image without a CRVAL1/CDELT1 "
                                       "wavelength solution in the header")
            hdr = h0
            flux = np.array(img, dtype=float)
            step = float(h0.get("CDELT1", h0.get("CD1_1")))
            crpix = float(h0.get("CRPIX1", 1.0))
            wave = float(h0["CRVAL1"]) + step * (np.arange(flux.size) + 1.0 - crpix)
            unit = str(h0.get("CUNIT1", "Angstrom")).strip() or "Angstrom"
            layout = "header"

    if flux.size < 2 or wave.size != flux.size:
        raise CorruptFileError(f"{path}: {flux.size} flux values for {wave.size} wavelengths")
    try:
        wave_q = (wave * u.Unit(unit)).to(u.AA)
    except (ValueError, TypeError):
        wave_q = wave * u.AA
    wave = wave_q.value
    if not np.all(np.isfinite(wave)) or np.any(np.diff(wave) <= 0):
        raise CorruptFileError(f"{path}: Ondřejov wavelengths are not finite and strictly increasing")
    if not (3000.0 < wave[0] and wave[-1] < 12000.0):
        raise CorruptFileError(f"{path}: wavelengths {wave[0]:.4g}-{wave[-1]:.4g} A are not the "
                               "optical range of the CCD700")
    mask = ~np.isfinite(flux) | (flux == 0)
    flux = np.where(np.isfinite(flux), flux, 0.0)
    if mask.all():
        raise CorruptFileError(f"{path}: every flux value is zero or not finite")

    def _get(*keys):
        for h in (hdr, h0):
            for k in keys:
                if k in h and str(h[k]).strip():
                    return h[k]
        return None

    header = {}
    for h in (h0, hdr):
        header.update({k: h[k] for k in _HEADER_KEYS if k in h})
    obj = _get("OBJECT")
    meta = {"file": path, "format": "ondrejov", "instrument": "ondrejov", "layout": layout,
            "object": None if obj is None else str(obj).strip(), "ra": _get("RA"),
            "dec": _get("DEC"), "date": _get("DATE-OBS", "TMID"),
            "flux_unit": _get("BUNIT") or ("relative" if layout == "table" else None),
            "resolving_power": ONDREJOV_RESOLVING_POWER,
            "pixel_step": float(np.median(np.diff(wave))), "header": header}
    return Spectrum(wavelength=wave * u.AA, flux=flux, error=None, mask=mask,
                    medium="air", meta=meta)


register_reader("ondrejov", looks_like_ondrejov, read_ondrejov)
