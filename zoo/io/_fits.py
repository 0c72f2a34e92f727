"""FITS helpers shared by the FITS readers (apStar, LAMOST, Ondřejov)."""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager

from ..errors import CorruptFileError, SpectrumFileError

__all__ = ["is_fits", "check_complete", "find_table", "open_fits"]


def is_fits(path) -> bool:
    """True if ``path`` starts like a (plain) FITS file. Never raises."""
    try:
        with open(path, "rb") as fh:
            return fh.read(9) == b"SIMPLE  ="
    except OSError:
        return False


def check_complete(hdul, path) -> None:
    """Raise CorruptFileError when an HDU's data run past the end of an uncompressed file.

    astropy reads lazily and only warns on a truncated file, so a file cut
    after the HDUs a reader needs would otherwise be read without complaint
    (gzipped files: astropy reports truncation itself).
    """
    with open(path, "rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            return
    size = os.path.getsize(path)
    for i, hdu in enumerate(hdul):
        end = hdul.fileinfo(i)["datLoc"] + hdu.size
        if end > size:
            raise CorruptFileError(
                f"{path}: truncated FITS file (HDU {i} needs {end} bytes, file has {size})")


def find_table(hdul, columns, prefer: str | None = None, lower: bool = False):
    """Index of the first table HDU whose column names include ``columns`` (the HDU named
    ``prefer`` first), or None."""
    from astropy.io import fits
    order = sorted(range(1, len(hdul)), key=lambda i: hdul[i].name.upper() != (prefer or "").upper())
    for i in order:
        hdu = hdul[i]
        if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)):
            names = {(n.lower() if lower else n.upper()) for n in (hdu.columns.names or [])}
            if set(columns) <= names:
                return i
    return None


@contextmanager
def open_fits(path, what: str):
    """Open ``path`` for a FITS reader: SpectrumFileError when it does not exist; astropy's
    warnings silenced (it warns on truncation before failing); truncation checked
    (:func:`check_complete`); any failure to read inside the block becomes a
    CorruptFileError naming the file and ``what`` it should have been."""
    from astropy.io import fits
    if not os.path.isfile(path):
        raise SpectrumFileError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdul:
                check_complete(hdul, path)
                yield hdul
    except CorruptFileError:
        raise
    except (OSError, ValueError, TypeError, IndexError, EOFError, KeyError) as exc:
        raise CorruptFileError(f"{path}: not a readable {what} FITS file "
                               f"({type(exc).__name__}: {exc})") from exc
