"""Spectrum readers, one module per file format, and :func:`read` to dispatch.

Each reader is a pair ``(looks_like(path) -> bool, read(path) -> Spectrum)``;
:func:`read` tries them in order and raises
:class:`~zoo.errors.UnsupportedFormatError` when none claims the file.
"""
from __future__ import annotations

import os

from ..errors import SpectrumFileError, UnsupportedFormatError
from ..spectrum import Spectrum
from .rbn import looks_like_rbn, read_rbn

READERS: dict = {"rbn": (looks_like_rbn, read_rbn)}

try:  # APOGEE apStar (FITS); astropy is a hard dependency, the module may be absent in old trees
    from .apstar import looks_like_apstar, read_apstar
    READERS["apstar"] = (looks_like_apstar, read_apstar)
except ImportError:  # pragma: no cover
    pass

from .lamost import looks_like_lamost, read_lamost  # noqa: E402  (LAMOST spec-*.fits, DR1-DR5 and DR6+)
READERS["lamost"] = (looks_like_lamost, read_lamost)
from .ondrejov import looks_like_ondrejov, read_ondrejov  # noqa: E402  (Ondrejov 2 m CCD700 FITS)
READERS["ondrejov"] = (looks_like_ondrejov, read_ondrejov)

__all__ = ["read", "READERS", "read_rbn"]


def read(path, format: str | None = None) -> Spectrum:
    """Read a spectrum file of any format the zoo knows.

    Parameters
    ----------
    path : str or os.PathLike
    format : str, optional
        A key of :data:`READERS` to skip sniffing.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SpectrumFileError(f"{path}: no such file")
    if format is not None:
        if format not in READERS:
            raise UnsupportedFormatError(f"unknown format {format!r}; known: {sorted(READERS)}")
        return READERS[format][1](path)
    for looks_like, reader in READERS.values():
        if looks_like(path):
            return reader(path)
    raise UnsupportedFormatError(
        f"{path}: not a spectrum format the zoo can read (known: {', '.join(READERS)})")
