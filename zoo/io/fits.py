"""FITS helpers shared by the FITS readers (apStar, LAMOST, Ondřejov)."""
from __future__ import annotations

import os
import re
import threading
import warnings
from contextlib import contextmanager

import numpy as np

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


# --------------------------------------------------------------------------- a fast header walker
# (plain, fixed-format FITS: the apStar and LAMOST readers' fast paths; anything unusual -> astropy)
_BLOCK = 2880
_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?\Z")


class _NotSimple(Exception):
    """The fast path cannot read this file; the astropy path will."""


def _card_value(card: str):
    """The value of a fixed-format FITS card as astropy returns it (str, bool, int, float)."""
    if card[8:10] != "= ":
        raise _NotSimple(card)
    field = card[10:]
    stripped = field.lstrip()
    if stripped.startswith("'"):
        body = stripped[1:]
        end = body.find("'")
        if end < 0 or body[end + 1:end + 2] == "'" or body[:end].endswith("&"):
            raise _NotSimple(card)          # '' escapes or a CONTINUE long string: astropy
        return body[:end].rstrip()
    v = field.split("/", 1)[0].strip()
    if v == "T":
        return True
    if v == "F":
        return False
    if _INT.match(v):
        return int(v)
    if _FLOAT.match(v):
        return float(v.replace("D", "E").replace("d", "e"))
    raise _NotSimple(card)


_END_CARD = "END" + " " * 77


def _scan_headers(fh, size: int, need: int | None = None):
    """Walk the HDUs of an open plain FITS file: ``[(header text, data offset, data bytes)]``
    for every HDU (or the first ``need``), checking that each HDU's data lie inside the file.
    Only the mandatory leading cards (SIMPLE/XTENSION, BITPIX, NAXIS, NAXISn, then PCOUNT and
    GCOUNT for extensions: FITS 4.0 Sec. 4.4.1) are parsed.  Raises :class:`_NotSimple` on
    anything unexpected."""
    hdus = []
    pos = 0
    while pos < size and (need is None or len(hdus) < need):
        start = pos
        text = ""
        while True:
            fh.seek(pos)
            block = fh.read(_BLOCK)
            if len(block) < _BLOCK:
                raise _NotSimple("short header block")
            pos += _BLOCK
            text += block.decode("ascii")
            i = text.find(_END_CARD, len(text) - _BLOCK)
            while i >= 0 and i % 80:
                i = text.find(_END_CARD, i + 1)
            if i >= 0:
                text = text[:i]
                break
            if pos - start > 100 * _BLOCK:
                raise _NotSimple("no END card")
        first = "SIMPLE  " if not hdus else "XTENSION"
        if text[:8] != first or text[80:88] != "BITPIX  " or text[160:168] != "NAXIS   ":
            raise _NotSimple("mandatory keywords")
        bitpix = _card_value(text[80:160])
        naxis = _card_value(text[160:240])
        if not isinstance(naxis, int) or not 0 <= naxis <= 999 or bitpix not in _DTYPES:
            raise _NotSimple("NAXIS")
        shape = []
        for j in range(1, naxis + 1):
            card = text[160 + 80 * j:240 + 80 * j]
            if card[:8].rstrip() != f"NAXIS{j}":
                raise _NotSimple("NAXISn")
            shape.append(_card_value(card))
        pcount, gcount = 0, 1
        if hdus:
            k = 240 + 80 * naxis
            if text[k:k + 8] != "PCOUNT  " or text[k + 80:k + 88] != "GCOUNT  ":
                raise _NotSimple("PCOUNT/GCOUNT")
            pcount, gcount = _card_value(text[k:k + 80]), _card_value(text[k + 80:k + 160])
        nbytes = 0
        if naxis:
            nbytes = abs(bitpix) // 8 * gcount * (pcount + int(np.prod(shape, dtype=np.int64)))
        if nbytes < 0 or pos + nbytes > size:
            raise _NotSimple("truncated")
        hdus.append((text, pos, nbytes))
        pos += -(-nbytes // _BLOCK) * _BLOCK
    return hdus


_SCAN = threading.local()   # per reader thread: the last file walked (sniffer, then reader)


def _scan_file(path):
    """:func:`_scan_headers` of a whole file, remembered for the last file (the sniffer and
    the reader both walk it) while its size, inode and modification time stay the same."""
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        key = (path, st.st_size, st.st_ino, st.st_mtime_ns)
        last = getattr(_SCAN, "last", None)
        if last is not None and last[0] == key:
            return last[1]
        if fh.read(2) == b"\x1f\x8b":
            raise _NotSimple("gzip")
        hdus = _scan_headers(fh, st.st_size)
    _SCAN.last = (key, hdus)
    return hdus


def _cards(text: str) -> dict[str, str]:
    """``{keyword: card}`` of a header's text (the first card of a repeated keyword, as
    astropy's ``header[key]``); long strings (CONTINUE) and HIERARCH cards are not simple."""
    cards: dict[str, str] = {}
    for i in range(0, len(text), 80):
        card = text[i:i + 80]
        key = card[:8].rstrip()
        if key in ("CONTINUE", "HIERARCH"):
            raise _NotSimple(key)
        if key and key not in cards:
            cards[key] = card
    return cards


def _value(cards, key, default=None):
    return _card_value(cards[key]) if key in cards else default
