"""Bring spectra to a model's input contract, or refuse them with a reason.

The pipeline every model shares (:func:`to_contract`):

0. mark missing pixels of the arrays as given (``contract.missing``: flux 0,
   NaN/inf flux refused unless masked, the mask, error rules);
1. validate: finite flux, matching lengths, wavelengths a length (astropy
   Quantity in any unit, or floats in Angstrom), strictly increasing, covering
   the contract's range (``contract.coverage_tolerance``);
2. run the instrument step of the spectrum's instrument, if the contract maps
   it to one (``contract.instrument_steps``, parameters
   ``contract.instrument_step_params``), on the spectrum's own pixels;
3. convert air <-> vacuum when the spectrum's medium differs from the model's
   (``contract.medium_conversion``);
4. mark leading/trailing runs of non-physical flux (zeros, and for rectified
   contracts the ramps that smearing leaves: ``contract.edge_method``,
   ``contract.edge_guard``, ``contract.edge_floor``) missing
   (:func:`mask_edges`), for arrays, :class:`~zoo.spectrum.Spectrum` objects
   and files alike;
5. resample onto the contract grid (``contract.resampling``: linear
   interpolation of the valid samples, not flux-conserving), carrying the mask;
6. refuse spectra with too few valid pixels (``contract.min_valid_fraction``)
   or physically impossible flux (``contract.median_flux_range``);
7. normalize the flux (``contract.flux_normalization`` with
   ``contract.normalization_params``, registered by the families with
   :func:`register_normalization`); a normalization only marks pixels it
   cannot use, it never fills them;
8. fill missing pixels, in this one stage, as ``contract.missing_pixels``
   says (:class:`~zoo.card.MissingPixels`) — never with the zeros that mark
   them in files.

Every number and rule of these steps is a field of the contract (the card's
``input`` block); docs/deploy.md gives the same steps as an algorithm for a port.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import astropy.units as u
import numpy as np

from .card import MEDIUM_CONVERSION_DEFAULT, InputContract, MissingPixels
from .errors import (InsufficientDataError, NonFiniteFluxError, NonMonotonicWavelengthError,
                     SpectrumLengthError, UnphysicalFluxError, WavelengthCoverageError,
                     WavelengthUnitError)

__all__ = ["Prepared", "to_contract", "to_angstrom", "air_to_vacuum", "vacuum_to_air",
           "fill_missing", "guard_edges", "mask_edges", "fill_contract", "resample", "register_native_step",
           "NATIVE_STEPS", "check_finite", "NORMALIZATIONS", "mark_missing", "convert_medium",
           "register_normalization", "to_contract_many"]


@dataclass
class Prepared:
    """Spectra on a model's grid, ready for the network."""

    flux: np.ndarray            # (n, n_pixels) float32, normalized and filled
    error: np.ndarray | None    # (n, n_pixels) normalized 1-sigma errors, or None
    mask: np.ndarray            # (n, n_pixels) bool, True where a pixel was filled


# --------------------------------------------------------------------------- units
def to_angstrom(wavelength, expected: tuple[float, float] | None = None) -> np.ndarray:
    """Wavelengths as float Angstrom.

    A Quantity may be in any length unit.  Plain floats are taken as Angstrom;
    when ``expected`` (lo, hi) in Angstrom is given and floats look like nm,
    um or m instead, :class:`WavelengthUnitError` says so.
    """
    if isinstance(wavelength, u.Quantity):
        if not wavelength.unit.is_equivalent(u.AA):
            raise WavelengthUnitError(
                f"wavelength has unit {wavelength.unit}, which is not a length; "
                "give wavelengths in a length unit (e.g. u.AA, u.nm, u.um)")
        return np.asarray(wavelength.to_value(u.AA), dtype=float)
    wave = np.asarray(wavelength, dtype=float)
    if expected is not None and wave.size and np.all(np.isfinite(wave)):
        lo, hi = expected
        med = float(np.median(wave))
        if not (lo / 3 <= med <= hi * 3):
            for unit, factor in (("nm", 10.0), ("um", 1e4), ("m", 1e10), ("cm", 1e8)):
                if lo / 3 <= med * factor <= hi * 3:
                    raise WavelengthUnitError(
                        f"wavelengths (median {med:g}) look like {unit}, but plain floats are "
                        f"read as Angstrom; pass an astropy Quantity, e.g. wavelength * u.{unit}")
            raise WavelengthUnitError(
                f"wavelengths (median {med:g}) are not Angstrom for a model that reads "
                f"{lo:g}-{hi:g} A; pass an astropy Quantity with its unit")
    return wave


def convert_medium(wave, rule: dict) -> np.ndarray:
    """Wavelengths (Angstrom) through one rule of a contract's ``medium_conversion``:
    ``s = 1e4 / wave``, ``n = 1 + c0 + c1 / (c2 - s^2) + c3 / (c4 - s^2)``, then
    ``wave * n`` (``apply="multiply"``) or ``wave / n`` (``"divide"``)."""
    wave = np.asarray(wave, dtype=float)
    c0, c1, c2, c3, c4 = (float(c) for c in rule["coefficients"])
    s2 = (1e4 / wave) ** 2
    n = 1 + c0 + c1 / (c2 - s2) + c3 / (c4 - s2)
    if rule["apply"] == "multiply":
        return wave * n
    if rule["apply"] == "divide":
        return wave / n
    raise ValueError(f"medium conversion apply must be 'multiply' or 'divide', not {rule['apply']!r}")


def air_to_vacuum(wave_air, rule: dict | None = None) -> np.ndarray:
    """Air -> vacuum wavelengths in Angstrom (default: Morton 2000, ApJS 130, 403, Eq. 3;
    a contract passes its ``medium_conversion["air_to_vacuum"]``)."""
    return convert_medium(wave_air, rule or MEDIUM_CONVERSION_DEFAULT["air_to_vacuum"])


def vacuum_to_air(wave_vac, rule: dict | None = None) -> np.ndarray:
    """Vacuum -> air wavelengths in Angstrom (default: Morton 2000, Eq. 3; IAU standard;
    a contract passes its ``medium_conversion["vacuum_to_air"]``)."""
    return convert_medium(wave_vac, rule or MEDIUM_CONVERSION_DEFAULT["vacuum_to_air"])


# --------------------------------------------------------------------------- checks
def check_finite(flux, what="flux") -> None:
    bad = ~np.isfinite(flux)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0]) if flux.ndim == 2 else [0]
        raise NonFiniteFluxError(
            f"{what} has {int(bad.sum())} NaN or inf pixel(s) in spectrum row(s) "
            f"{list(map(int, rows[:10]))}; mask them (pass mask=) or set them to 0 to mark them missing")


def _check_wavelength(wave: np.ndarray, n_flux: int, contract: InputContract, medium: str) -> None:
    if wave.ndim != 1:
        raise SpectrumLengthError(f"wavelength must be 1-D, got shape {wave.shape}")
    if wave.size != n_flux:
        raise SpectrumLengthError(f"wavelength has {wave.size} pixels but flux has {n_flux}")
    if not np.all(np.isfinite(wave)):
        raise WavelengthUnitError("wavelength contains NaN or inf")
    if np.any(np.diff(wave) <= 0):
        i = int(np.nonzero(np.diff(wave) <= 0)[0][0])
        raise NonMonotonicWavelengthError(
            f"wavelengths must increase strictly; pixel {i + 1} ({wave[i + 1]:.4f} A) "
            f"is not above pixel {i} ({wave[i]:.4f} A)")
    grid = contract.wavelength()
    tol = contract.coverage_tolerance * (grid[1] - grid[0])
    if wave[-1] < grid[0] or wave[0] > grid[-1]:
        raise WavelengthCoverageError(
            f"spectrum covers {wave[0]:.2f}-{wave[-1]:.2f} A ({medium}), which does not overlap the "
            f"model's range {grid[0]:.2f}-{grid[-1]:.2f} A ({contract.medium}) at all: this spectrum "
            "is not one this model reads (a different wavelength range, e.g. an infrared spectrum "
            "given to an optical model)")
    if wave[0] > grid[0] + tol or wave[-1] < grid[-1] - tol:
        raise WavelengthCoverageError(
            f"spectrum covers {wave[0]:.2f}-{wave[-1]:.2f} A ({medium}) but the model needs "
            f"{grid[0]:.2f}-{grid[-1]:.2f} A ({contract.medium}); pad pixels outside the "
            "observed range with flux 0 (or mask=True) to mark them missing")


def mark_missing(flux: np.ndarray, error: np.ndarray | None, mask: np.ndarray, rules: dict) -> np.ndarray:
    """The missing pixels of the arrays as given, by a contract's ``missing`` rules
    (:data:`zoo.card.MISSING_DEFAULT`): True where a pixel is missing.  NaN/inf flux is
    missing only where ``mask`` is True (``flux_nonfinite="refuse"``: elsewhere
    :func:`check_finite` refuses it)."""
    given = np.array(np.broadcast_to(mask, flux.shape), dtype=bool)
    finite = np.isfinite(flux)
    out = (given if rules["mask"] else np.zeros(flux.shape, bool)) | (~finite & given)
    if rules["flux_zero"]:
        out |= flux == 0.0
    if error is not None:
        error = np.broadcast_to(error, flux.shape)
        with np.errstate(invalid="ignore"):
            if rules["error_nonfinite"]:
                out |= ~np.isfinite(error)
            if rules["error_nonpositive"]:
                out |= error <= 0
            if rules["error_at_least"] is not None:
                out |= error >= float(rules["error_at_least"])
    return out


# --------------------------------------------------------------------------- resampling
def resample(flux: np.ndarray, wave_in: np.ndarray, wave_out: np.ndarray,
             mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of each row of ``flux`` from ``wave_in`` to ``wave_out``.

    The contract's ``resampling`` (``method="linear"``, ``flux_conserving=False``,
    ``mask="bracketing"``): the values of the valid samples, linearly interpolated in
    wavelength, at the output wavelengths (not flux integrated over output pixels).
    Returns the resampled flux and a mask that is True wherever an output pixel
    draws on a masked input pixel (either bracketing sample, or the sample it falls
    on) or lies outside ``wave_in``.
    """
    flux = np.atleast_2d(flux)
    mask = np.zeros(flux.shape, bool) if mask is None else np.atleast_2d(mask)
    out = np.empty((flux.shape[0], wave_out.size))
    out_mask = np.empty((flux.shape[0], wave_out.size), bool)
    for i in range(flux.shape[0]):
        good = ~mask[i]
        if good.sum() >= 2:
            out[i] = np.interp(wave_out, wave_in[good], flux[i, good])
        else:
            out[i] = 0.0
        out_mask[i] = np.interp(wave_out, wave_in, mask[i].astype(float), left=1.0, right=1.0) > 0
    return out, out_mask


def fill_missing(flux: np.ndarray, mask: np.ndarray, fill_value: float) -> np.ndarray:
    """Fill masked pixels: interior gaps linearly, edge runs with ``fill_value``."""
    flux = np.array(flux, dtype=float, copy=True)
    flux2, mask2 = np.atleast_2d(flux), np.atleast_2d(mask)
    x = np.arange(flux2.shape[1])
    for i in np.nonzero(mask2.any(axis=1))[0]:
        good = ~mask2[i]
        if not good.any():
            flux2[i] = fill_value
            continue
        flux2[i, ~good] = np.interp(x[~good], x[good], flux2[i, good],
                                    left=fill_value, right=fill_value)
    return flux2.reshape(flux.shape)


def fill_contract(flux: np.ndarray, mask: np.ndarray, contract: InputContract) -> np.ndarray:
    """The one fill stage: missing pixels filled as ``contract.missing_pixels`` says."""
    if contract.missing_pixels == MissingPixels.CONSTANT.value:
        return np.where(mask, contract.fill_value, flux)
    return fill_missing(flux, mask, contract.fill_value)


def mask_edges(flux: np.ndarray, mask: np.ndarray, wave: np.ndarray, guard: float,
               floor: float | None = None, method: str = "leading_trailing_runs") -> np.ndarray:
    """Mark non-physical flux at the ends of each spectrum as missing (the contract's
    ``edge_method="leading_trailing_runs"`` with ``edge_guard`` and ``edge_floor``).

    Leading and trailing runs of missing pixels (and, with ``floor``, of
    pixels with ``|flux| < floor``) are missing; when such a run exists, the
    next ``guard`` Angstrom of observed flux are missing too.  A spectrum
    degraded in resolution after zero-padding (as the MKCLASS atlas libr18_27
    is) has the padding's zeros smeared into its first observed pixels: a ramp
    from ~0 up to the continuum that is not stellar flux.
    """
    if method != "leading_trailing_runs":
        raise ValueError(f"unknown edge method {method!r}; known: ['leading_trailing_runs']")
    mask = np.array(np.broadcast_to(mask, flux.shape), dtype=bool, copy=True)
    if guard <= 0 and floor is None:
        return mask
    wave = np.asarray(wave, dtype=float)
    for i in range(flux.shape[0]):
        row = mask[i]
        low = row | (np.abs(flux[i]) < floor) if floor is not None else row
        for run in (slice(None), slice(None, None, -1)):     # leading, then trailing
            row[run] |= np.logical_and.accumulate(low[run])
        good = np.nonzero(~row)[0]
        if good.size == 0 or guard <= 0:
            continue
        eps = 1e-6 * guard
        if good[0] > 0:
            row[good[0]:] |= wave[good[0]:] < wave[good[0]] + guard - eps
        if good[-1] < row.size - 1:
            row[:good[-1] + 1] |= wave[:good[-1] + 1] > wave[good[-1]] - guard + eps
    return mask


def guard_edges(mask: np.ndarray, n: int) -> np.ndarray:
    """Extend every leading and trailing run of missing pixels by ``n`` pixels.

    A spectrum degraded in resolution after zero-padding (as the MKCLASS atlas
    libr18_27 is) has the padding's zeros smeared into its first observed
    pixels: a ramp from ~0 up to the continuum that is not stellar flux.
    """
    mask = np.array(mask, dtype=bool, copy=True)
    for row in np.atleast_2d(mask):
        good = np.nonzero(~row)[0]
        if good.size == 0 or n <= 0:
            continue
        if good[0] > 0:
            row[good[0]:good[0] + n] = True
        if good[-1] < row.size - 1:
            row[max(good[-1] - n + 1, 0):good[-1] + 1] = True
    return mask


# --------------------------------------------------------------------------- normalizations
Normalization = Callable[[np.ndarray, "np.ndarray | None", np.ndarray],
                         "tuple[np.ndarray, np.ndarray | None, np.ndarray]"]
NORMALIZATIONS: dict[str, Normalization] = {}


def register_normalization(name: str):
    """Decorator: a flux normalization ``f(flux, error, mask, **params) -> (flux, error, mask)``.

    ``mask`` in: True where a pixel is missing; out: the same plus any pixel the
    normalization could not use.  It must not fill missing pixels (the fill
    stage of :func:`to_contract` does, once).  ``params`` are the contract's
    ``normalization_params`` (every number the normalization uses, so that a port
    reads them from the card).
    """
    def deco(fn):
        NORMALIZATIONS[name] = fn
        return fn
    return deco


@register_normalization("rectified")
def _rectified(flux, error, mask):
    """The flux is already continuum-rectified (continuum = 1): nothing to do."""
    return flux, error, mask


NativeStep = Callable[..., tuple]
NATIVE_STEPS: dict[str, NativeStep] = {}


def register_native_step(name: str):
    """Decorator: an instrument step ``f(wave, flux, error, mask, medium, **params) -> (wave, flux,
    error, mask, medium)`` on the spectrum's own pixel grid (``wave`` in Angstrom, ``flux`` (n,
    pixels)), run before resampling for spectra of the instruments a contract maps to ``name``
    (``contract.instrument_steps``; ``params``: ``contract.instrument_step_params[name]``).
    Missing pixels stay marked in ``mask``."""
    def deco(fn):
        NATIVE_STEPS[name] = fn
        return fn
    return deco


def _native_step(name: str) -> NativeStep:
    if name not in NATIVE_STEPS:
        from .registry import load_families   # families register their steps on import
        load_families()
    if name not in NATIVE_STEPS:
        raise ValueError(f"unknown instrument step {name!r}; known: {sorted(NATIVE_STEPS)}")
    return NATIVE_STEPS[name]


def _normalization(name: str) -> Normalization:
    if name not in NORMALIZATIONS:
        from .registry import load_families   # families register their normalizations on import
        load_families()
    if name not in NORMALIZATIONS:
        raise ValueError(f"unknown flux normalization {name!r}; known: {sorted(NORMALIZATIONS)}")
    return NORMALIZATIONS[name]


# --------------------------------------------------------------------------- the pipeline
def to_contract(flux, contract: InputContract, wavelength=None, *, error=None, mask=None,
                medium: str | None = None, instrument: str | None = None) -> Prepared:
    """Validate spectra and bring them onto ``contract``'s grid and normalization.

    Parameters
    ----------
    flux : array_like, shape (n_pixels,) or (n, n_pixels)
    contract : InputContract
    wavelength : astropy Quantity or array_like of float (Angstrom), optional
        Shared wavelength grid of all rows.  Without it, flux must already be
        on the contract grid (exactly ``contract.n_pixels`` pixels).
    error, mask : array_like, optional
        Per-pixel 1-sigma errors and a bad-pixel mask (True = bad).  Which pixels
        are missing is ``contract.missing`` (e.g. flux exactly 0, mask=True).
    medium : {"air", "vacuum"}, optional
        Medium of ``wavelength``; defaults to the contract's.
    instrument : str, optional
        The spectrum's instrument: where ``contract.instrument_steps`` maps it to a
        registered step, that step runs on the spectrum's own grid first.

    Raises
    ------
    NonFiniteFluxError, SpectrumLengthError, WavelengthUnitError,
    NonMonotonicWavelengthError, WavelengthCoverageError
    """
    flux = np.asarray(flux, dtype=float)
    if flux.ndim == 1:
        flux = flux[None, :] if flux.size else flux.reshape(0, contract.n_pixels)
    if flux.ndim != 2:
        raise SpectrumLengthError(f"flux must be 1-D or 2-D (n, pixels), got shape {flux.shape}")
    if flux.shape[0] == 0:   # an empty batch gives empty arrays
        n = contract.n_pixels
        return Prepared(np.zeros((0, n), np.float32), None if error is None else np.zeros((0, n), np.float32),
                        np.zeros((0, n), bool))
    error = None if error is None else np.atleast_2d(np.asarray(error, dtype=float))
    mask = np.zeros(flux.shape, bool) if mask is None else np.atleast_2d(np.asarray(mask, bool))
    for name, arr in (("error", error), ("mask", mask)):
        if arr is not None and arr.shape[-1] != flux.shape[-1]:
            raise SpectrumLengthError(f"{name} has {arr.shape[-1]} pixels but flux has {flux.shape[-1]}")
    mask = mark_missing(flux, error, mask, contract.missing)
    flux = np.where(mask & ~np.isfinite(flux), 0.0, flux)   # NaN under the mask is missing, not refused
    check_finite(flux)
    if error is not None:
        error = np.broadcast_to(error, flux.shape)
        error = np.where(np.isfinite(error), error, 0.0)

    grid = contract.wavelength()
    if wavelength is None:
        if flux.shape[1] != contract.n_pixels:
            raise SpectrumLengthError(
                f"flux has {flux.shape[1]} pixels but the model takes {contract.n_pixels} "
                f"({contract.wavelength_start}-{contract.wavelength_end:.1f} A); "
                "pass wavelength= to resample")
        mask = mask_edges(flux, mask, grid, contract.edge_guard, contract.edge_floor, contract.edge_method)
    else:
        wave = to_angstrom(wavelength, expected=(grid[0], grid[-1]))
        medium = medium or contract.medium
        if medium not in ("air", "vacuum"):
            raise ValueError(f"medium must be 'air' or 'vacuum', not {medium!r}")
        _check_wavelength(wave, flux.shape[1], contract, medium)
        step = (contract.instrument_steps or {}).get(instrument) if instrument else None
        if step:
            params = (contract.instrument_step_params or {}).get(step, {})
            wave, flux, error, mask, medium = _native_step(step)(wave, flux, error, mask, medium, **params)
        if medium != contract.medium:
            conv = contract.medium_conversion
            wave = (air_to_vacuum(wave, conv["air_to_vacuum"]) if contract.medium == "vacuum"
                    else vacuum_to_air(wave, conv["vacuum_to_air"]))
            _check_wavelength(wave, flux.shape[1], contract, contract.medium)
        mask = mask_edges(flux, mask, wave, contract.edge_guard, contract.edge_floor, contract.edge_method)
        rtol = contract.resampling["on_grid_rtol"]
        same = wave.size == grid.size and np.allclose(wave, grid, rtol=0, atol=rtol * grid[0])
        if not same:
            if error is not None:
                error, _ = resample(error, wave, grid, mask)
            flux, mask = resample(flux, wave, grid, mask)

    _check_physical(flux, mask, contract)
    flux, error, mask = _normalization(contract.flux_normalization)(flux, error, mask,
                                                                    **(contract.normalization_params or {}))
    flux = fill_contract(np.asarray(flux, float), mask, contract)
    if error is not None:
        error = np.where(mask, 0.0, error).astype(np.float32)
    return Prepared(flux=flux.astype(np.float32), error=error, mask=np.asarray(mask, bool))


def _check_physical(flux: np.ndarray, mask: np.ndarray, contract: InputContract) -> None:
    """Refuse rows with too few valid pixels or a median flux outside the contract's range."""
    valid = (~mask).mean(axis=1)
    few = np.nonzero(valid < contract.min_valid_fraction)[0]
    if few.size:
        raise InsufficientDataError(
            f"spectrum row(s) {few[:10].tolist()} have only {valid[few[0]]:.0%} valid pixels on the model's "
            f"grid ({contract.wavelength_start:.1f}-{contract.wavelength_end:.1f} A); the model needs at least "
            f"{contract.min_valid_fraction:.0%} (zero flux and masked pixels are missing)")
    if contract.median_flux_range is None:
        return
    lo, hi = contract.median_flux_range
    med = np.array([np.median(f[~m]) for f, m in zip(flux, mask)])
    out = np.nonzero((med < lo) | ((hi is not None) & (med > (np.inf if hi is None else hi))))[0]
    if out.size:
        raise UnphysicalFluxError(
            f"spectrum row(s) {out[:10].tolist()}: median flux {med[out[0]]:.4g} is outside "
            f"[{lo}, {'inf' if hi is None else hi}], physically impossible for this model's input "
            f"({contract.flux_normalization} flux)")



# --------------------------------------------------------------------------- many spectra at once
def _grid_key(spec):
    """What spectra must share to go through :func:`to_contract` in one call: the wavelength grid
    (unit, length, ends: the arrays are then compared), the medium, the instrument, errors or none."""
    w = spec.wavelength
    unit = str(getattr(w, "unit", ""))
    v = np.asarray(getattr(w, "value", w))
    flux = np.asarray(spec.flux)
    if v.ndim != 1 or flux.ndim != 1 or v.size != flux.size or v.size < 2:
        return None                                    # odd shapes: the one-by-one path says what is wrong
    return (unit, v.size, float(v[0]), float(v[-1]), spec.medium, spec.instrument, spec.error is None)


def to_contract_many(spectra, contract: InputContract, instrument: str | None = None) -> list:
    """:func:`to_contract` of each of ``spectra`` (objects with ``flux``, ``wavelength``, ``error``,
    ``mask``, ``medium`` and ``meta``, e.g. :class:`~zoo.spectrum.Spectrum`): a list with, for each, a
    one-row :class:`Prepared` or the exception that refused it (nothing is raised).

    Spectra that share a wavelength grid (most of a survey's files: equal arrays, the same medium and
    instrument, all with errors or all without) go through one 2-D call: every step is the same row
    by row (the resampling and the fill are vectorized over the rows, each row equal to the
    one-spectrum call to the bit: tests/test_preprocess.py).  Should that call refuse a spectrum, the
    group is redone one spectrum at a time, so that each gets its own result or its own error.
    ``instrument`` overrides each spectrum's ``meta["instrument"]``."""
    views = [_Item(s, instrument if instrument is not None else (getattr(s, "meta", None) or {}).get("instrument"))
             for s in spectra]
    out: list = [None] * len(views)
    groups: dict = {}           # key -> [(wavelength values, [indices])]
    for i, v in enumerate(views):
        key = _grid_key(v)
        if key is None:
            _contract_group([v], [i], contract, out)
            continue
        wave = np.asarray(getattr(v.wavelength, "value", v.wavelength))
        for ref, members in groups.setdefault(key, []):
            if np.array_equal(ref, wave):
                members.append(i)
                break
        else:
            groups[key].append((wave, [i]))
    for subgroups in groups.values():
        for _, members in subgroups:
            _contract_group([views[i] for i in members], members, contract, out)
    return out


class _Item:
    """A spectrum with the instrument it is prepared as."""

    __slots__ = ("flux", "wavelength", "error", "mask", "medium", "instrument")

    def __init__(self, spec, instrument):
        self.flux, self.wavelength, self.error = spec.flux, spec.wavelength, spec.error
        self.mask, self.medium, self.instrument = spec.mask, spec.medium, instrument


def _one(v: _Item, contract):
    return to_contract(v.flux, contract, v.wavelength, error=v.error, mask=v.mask, medium=v.medium,
                       instrument=v.instrument)


def _contract_group(views, members, contract, out) -> None:
    if len(views) > 1:
        try:
            first = views[0]
            flux = np.stack([np.asarray(v.flux, dtype=float) for v in views])
            error = None if first.error is None else np.stack([np.asarray(v.error, dtype=float) for v in views])
            mask = (None if all(v.mask is None for v in views) else
                    np.stack([np.zeros(flux.shape[1], bool) if v.mask is None else np.asarray(v.mask, bool)
                              for v in views]))
            prep = to_contract(flux, contract, first.wavelength, error=error, mask=mask, medium=first.medium,
                               instrument=first.instrument)
        except Exception:  # noqa: BLE001  (one spectrum refused: each gets its own answer below)
            prep = None
        if prep is not None:
            for r, i in enumerate(members):
                out[i] = Prepared(prep.flux[r:r + 1], None if prep.error is None else prep.error[r:r + 1],
                                  prep.mask[r:r + 1])
            return
    for v, i in zip(views, members):
        try:
            out[i] = _one(v, contract)
        except Exception as exc:  # noqa: BLE001  (returned, not raised: the caller decides)
            out[i] = exc
