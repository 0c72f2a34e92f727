"""Reader for the MKCLASS ``.rbn`` standard-spectrum format (Gray & Corbally 2014).

An ``.rbn`` file is ASCII with two columns, wavelength in Angstrom (air) and
rectified flux (continuum = 1), 0.5 A steps from 3800.0 A.  A flux of exactly 0
marks a pixel outside the observed range (leading or trailing runs) or a
dropped pixel; those pixels are returned in ``Spectrum.mask``.

The file name ``tSSSlLLpPP.rbn`` encodes the MKCLASS spectral code ``SSS/10``
and luminosity code ``LL/10``; :func:`parse_rbn_name` decodes it into MK types.
"""
from __future__ import annotations

import os
import re

import astropy.units as u
import numpy as np

from zoo.errors import CorruptFileError, SpectrumFileError
from zoo.registry import register_reader
from zoo.spectrum import Spectrum

__all__ = ["read_rbn", "looks_like_rbn", "parse_rbn_name",
           "SPECTRAL_CODES", "LUMINOSITY_CODES"]

#: MKCLASS spectral code -> MK spectral type (data README, Gray & Corbally 2014).
SPECTRAL_CODES = {
    0: "O3", 1: "O4", 2: "O5", 3: "O6", 4: "O7", 5: "O8", 6: "O9",
    7: "B0", 7.5: "B0.5", 8: "B1", 9: "B2", 10: "B3", 12: "B5", 13: "B7",
    14: "B8", 15: "B9", 16: "A0", 17: "A1", 18: "A2", 19: "A3", 20: "A5",
    21: "A7", 23: "F0", 24: "F2", 25: "F3", 26: "F5", 27: "F6", 28: "F8",
    29: "F9", 30: "G0", 31: "G2", 31.7: "G4", 32: "G5", 33: "G8", 34: "K0",
    36: "K2", 37: "K3", 39: "K5", 40: "K7",
}
#: MKCLASS luminosity code -> MK luminosity class.
LUMINOSITY_CODES = {0: "Ia", 1: "Ib", 2: "II", 2.5: "II-III", 3: "III",
                    3.5: "III-IV", 4: "IV", 5: "V"}

_NAME = re.compile(r"^t(\d{3})l(\d{2})p(\d{2})\.rbn$")


def parse_rbn_name(path) -> dict:
    """Decode ``tSSSlLLpPP.rbn`` into spectral and luminosity codes and MK types.

    Returns a dict with ``spectral_code``, ``luminosity_code``,
    ``spectral_type`` (e.g. ``"B3"``) and ``luminosity_type`` (e.g. ``"III"``);
    raises ``ValueError`` for a name that does not follow the convention.
    """
    name = os.path.basename(os.fspath(path))
    m = _NAME.match(name)
    if not m:
        raise ValueError(f"{name!r} is not an MKCLASS standard name tSSSlLLpPP.rbn")
    sc, lc = int(m.group(1)) / 10, int(m.group(2)) / 10
    sc_key = int(sc) if sc == int(sc) else sc
    lc_key = int(lc) if lc == int(lc) else lc
    if sc_key not in SPECTRAL_CODES or lc_key not in LUMINOSITY_CODES:
        raise ValueError(f"{name!r}: unknown spectral code {sc} or luminosity code {lc}")
    return {"spectral_code": sc, "luminosity_code": lc,
            "spectral_type": SPECTRAL_CODES[sc_key],
            "luminosity_type": LUMINOSITY_CODES[lc_key]}


def looks_like_rbn(path) -> bool:
    """True if the file starts with two numeric columns, a wavelength in A first."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
        first = head.decode("ascii").splitlines()[0].split()
        return len(first) == 2 and 1000.0 < float(first[0]) < 100000.0
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        return False


def read_rbn(path) -> Spectrum:
    """Read one ``.rbn`` spectrum as it is in the file.

    Zero-flux pixels are flagged in ``mask`` (never silently fed to a model);
    the MK type from a conventional file name goes to ``meta``.  What a model
    needs done at the edges (the ramps of smeared zero padding) is the input
    contract's business (:func:`zoo.preprocess.mask_edges`), the same for
    files and arrays.

    Raises
    ------
    SpectrumFileError
        The file cannot be opened.
    CorruptFileError
        The content is not two numeric columns of increasing wavelengths.
    """
    path = os.fspath(path)
    try:
        with open(path, "r", encoding="ascii") as fh:
            text = fh.read()
    except FileNotFoundError as exc:
        raise SpectrumFileError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: not a readable .rbn text file ({exc})") from exc
    try:
        data = np.loadtxt(text.splitlines(), dtype=float, ndmin=2)
    except ValueError as exc:
        raise CorruptFileError(f"{path}: not two numeric columns ({exc})") from exc
    if data.shape[1] != 2 or data.shape[0] < 2:
        raise CorruptFileError(f"{path}: expected two columns, got shape {data.shape}")
    wave, flux = data[:, 0], data[:, 1]
    if not np.all(np.isfinite(data)):
        raise CorruptFileError(f"{path}: NaN or inf in the table")
    meta = {"file": os.path.basename(path), "format": "rbn"}
    step = np.diff(wave)
    if step.size > 2 and step[0] <= 0 and np.allclose(step[1:], step[1], rtol=1e-6):
        # Known defect of the distributed atlas (libr18/t030l50p00.rbn): the
        # first row carries a wrong wavelength on an otherwise regular grid.
        meta["repaired"] = f"row 0 wavelength {wave[0]} replaced by {wave[1] - step[1]}"
        wave = wave.copy()
        wave[0] = wave[1] - step[1]
    if np.any(np.diff(wave) <= 0):
        raise CorruptFileError(f"{path}: wavelengths are not increasing")
    try:
        meta.update(parse_rbn_name(path))
    except ValueError:
        pass
    return Spectrum(wavelength=wave * u.AA, flux=flux, mask=flux == 0.0, medium="air", meta=meta)


register_reader("rbn", looks_like_rbn, read_rbn)
