"""Spectrum file formats and :func:`read` to dispatch.

The core keeps the generic FITS helpers (:mod:`zoo.io.fits`), the format several families
share (LAMOST ``spec-*.fits``, :mod:`zoo.io.lamost`: RAC-Net and the LAMOST Be-star model read
it) and the dispatch.  A format only one family's papers read lives in that family and is
registered with :func:`zoo.registry.register_reader` (APOGEE apStar, MKCLASS ``.rbn`` and the
Ondřejov 2 m CCD700 FITS are such formats; docs/contributing.md lists where each lives).

Each reader is a pair ``(looks_like(path) -> bool, read(path) -> Spectrum)``; :func:`read`
tries them in registration order and raises :class:`~zoo.errors.UnsupportedFormatError` when
none claims the file.
"""
from __future__ import annotations

import os

from ..errors import SpectrumFileError, UnsupportedFormatError
from ..registry import readers, register_reader
from ..spectrum import Spectrum
from .lamost import looks_like_lamost, read_lamost

register_reader("lamost", looks_like_lamost, read_lamost)

__all__ = ["read", "readers", "register_reader"]


def read(path, format: str | None = None) -> Spectrum:
    """Read a spectrum file of any format the zoo knows.

    Parameters
    ----------
    path : str or os.PathLike
    format : str, optional
        A key of :func:`readers` (``"lamost"``, ``"apstar"``, ``"rbn"``, ``"ondrejov"``, or a
        format a third-party family registers) to skip sniffing.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SpectrumFileError(f"{path}: no such file")
    known = readers()
    if format is not None:
        if format not in known:
            raise UnsupportedFormatError(f"unknown format {format!r}; known: {sorted(known)}")
        return known[format][1](path)
    for looks_like, reader in known.values():
        if looks_like(path):
            return reader(path)
    raise UnsupportedFormatError(
        f"{path}: not a spectrum format the zoo can read (known: {', '.join(sorted(known))})")
