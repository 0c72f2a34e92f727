"""The one in-memory form of a spectrum that every reader returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import astropy.units as u
import numpy as np

__all__ = ["Spectrum"]


@dataclass
class Spectrum:
    """A 1-D spectrum as read from a file.

    Attributes
    ----------
    wavelength : astropy Quantity, shape (n,)
        Pixel wavelengths, any length unit (readers give Angstrom).
    flux : ndarray, shape (n,)
        Flux in the file's own units (rectified, raw counts, ...).
    error : ndarray or None
        1-sigma flux errors, same units as ``flux``.
    mask : ndarray of bool or None
        True where a pixel is bad or missing (outside the observed range,
        flagged by the pipeline, chip gaps).
    medium : {"air", "vacuum"}
        Medium of the wavelengths.
    meta : dict
        Header labels and provenance (file name, object, survey labels).
    """

    wavelength: u.Quantity
    flux: np.ndarray
    error: np.ndarray | None = None
    mask: np.ndarray | None = None
    medium: str = "air"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.wavelength, u.Quantity):
            self.wavelength = np.asarray(self.wavelength, dtype=float) * u.AA
        self.flux = np.asarray(self.flux, dtype=float)
        if self.error is not None:
            self.error = np.asarray(self.error, dtype=float)
        if self.mask is not None:
            self.mask = np.asarray(self.mask, dtype=bool)
        if self.medium not in ("air", "vacuum"):
            raise ValueError(f"medium must be 'air' or 'vacuum', not {self.medium!r}")
        n = self.flux.shape[-1]
        for name in ("wavelength", "error", "mask"):
            arr = getattr(self, name)
            if arr is not None and arr.shape[-1] != n:
                raise ValueError(f"{name} has {arr.shape[-1]} pixels but flux has {n}")

    @property
    def angstrom(self) -> np.ndarray:
        """Wavelengths as plain floats in Angstrom."""
        return self.wavelength.to_value(u.AA)

    @classmethod
    def from_specutils(cls, obj, medium: str | None = None) -> "Spectrum":
        """A :class:`Spectrum` from a specutils ``Spectrum``/``Spectrum1D`` (duck-typed: no
        specutils import), carrying its spectral axis with its unit (wavelength, frequency
        or energy), flux, uncertainty (as 1-sigma) and mask.

        specutils records no air/vacuum medium: pass ``medium`` (default: the
        object's ``meta["medium"]``, else vacuum, specutils' convention for
        spectral axes).
        """
        axis = u.Quantity(obj.spectral_axis)
        wave = axis.to(u.AA, equivalencies=u.spectral())
        flux = np.asarray(u.Quantity(obj.flux).value, dtype=float)
        error = None
        unc = getattr(obj, "uncertainty", None)
        if unc is not None:
            from astropy.nddata import StdDevUncertainty
            error = np.asarray(unc.represent_as(StdDevUncertainty).array, dtype=float)
        mask = getattr(obj, "mask", None)
        mask = None if mask is None else np.asarray(mask, dtype=bool)
        if wave.size > 1 and wave[0] > wave[-1]:       # a frequency axis runs the other way
            wave, flux = wave[::-1], flux[..., ::-1]
            error = None if error is None else error[..., ::-1]
            mask = None if mask is None else mask[..., ::-1]
        meta = dict(getattr(obj, "meta", None) or {})
        medium = medium or meta.get("medium") or "vacuum"
        return cls(wavelength=wave, flux=flux, error=error, mask=mask, medium=medium,
                   meta={**meta, "format": "specutils"})

    def __len__(self):
        return self.flux.shape[-1]
