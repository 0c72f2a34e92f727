"""The thesis's preprocessing (Podsztavek 2017, ch. 7), one function per step, and the two
instrument paths that the models' cards record.

Ondřejov (CCD700, R ~ 13000, air wavelengths):
    1. air -> vacuum, Eqs. 7.1-7.3 (:func:`air_to_vacuum_thesis`);
    2. Gaussian blur, ``astropy.convolution.Gaussian1DKernel(stddev=7)`` on the
       Ondřejov pixel grid, to LAMOST's resolution (Sec. 7.1.2, :func:`gaussian_blur`);
    3. regrid to 140 uniform points over 6519-6732 A by linear interpolation
       (Sec. 7.2, :func:`regrid`);
    4. per-spectrum standardization to zero mean, unit variance (Sec. 7.3,
       ``sklearn.preprocessing.scale(X, axis=1)``; :func:`standardize`).
LAMOST (R ~ 1800, vacuum): steps 3 and 4 only (Sec. 9.4).

All four steps are the cards' input contract, applied by the core's
``zoo.preprocess.to_contract`` for files, Spectrum objects and arrays alike:
steps 1-2 are the instrument step ``"emission_ondrejov"`` registered here
(contract ``instrument_steps = {"ondrejov": "emission_ondrejov"}``), run on
the spectrum's own grid before resampling for spectra whose
``meta["instrument"]`` is ``"ondrejov"`` (what :mod:`zoo.families.bestars.ondrejov` sets;
arrays: ``predict(..., instrument="ondrejov")``); step 3 is the core's
resampling onto the contract grid; step 4 the normalization
``"emission_standardize"`` registered here; the core then fills missing pixels.
"""
from __future__ import annotations

import os

import numpy as np

from zoo.preprocess import convert_medium, register_native_step, register_normalization
from zoo.spectrum import Spectrum

from .paper import AIR_TO_VACUUM as THESIS_AIR_TO_VACUUM

__all__ = ["air_to_vacuum_thesis", "gaussian_kernel", "gaussian_blur", "regrid", "standardize",
           "instrument_path", "ondrejov_step", "prepare", "ONDREJOV_STEP", "GRID_START", "GRID_END", "N_PIXELS", "BLUR_STDDEV_PX",
           "NORMALIZATION", "PATHS", "thesis_grid", "step_params", "THESIS_AIR_TO_VACUUM",
           "BLUR_WIDTH_SIGMAS"]

#: Sec. 7.2: the grid, 140 uniform points from 6519 to 6732 A (vacuum).
GRID_START, GRID_END, N_PIXELS = 6519.0, 6732.0, 140
#: Sec. 7.1.2: sigma of the Gaussian blur in Ondřejov pixels.
BLUR_STDDEV_PX = 7.0
#: Width of the blur kernel in sigmas (astropy's Gaussian1DKernel default: 8, rounded up to odd).
BLUR_WIDTH_SIGMAS = 8.0
#: Name of the contract normalization (Sec. 7.3).
NORMALIZATION = "emission_standardize"
#: What each instrument goes through (recorded in the cards' ``data["instrument_paths"]``).
PATHS = {
    "ondrejov": ["air->vacuum (Eqs. 7.1-7.3)", "Gaussian blur stddev 7 px on the Ondřejov grid (Sec. 7.1.2)",
                 "linear regrid to 140 points 6519-6732 A (Sec. 7.2)", "standardize per spectrum (Sec. 7.3)"],
    "lamost": ["linear regrid to 140 points 6519-6732 A (Sec. 7.2; vacuum already)",
               "standardize per spectrum (Sec. 7.3)"],
}


def thesis_grid() -> np.ndarray:
    """``np.linspace(6519, 6732, num=140)`` (Sec. 7.2)."""
    return np.linspace(GRID_START, GRID_END, num=N_PIXELS)


# ----------------------------------------------------------------------------- step 1
def air_to_vacuum_thesis(wave_air) -> np.ndarray:
    """Air -> vacuum wavelengths in Angstrom with the thesis's Eqs. 7.1-7.3 (after Heiter, VALD):

    ``lambda_v = n lambda_a``, ``n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s^2)
    + 1.5998e-4 / (38.9 - s^2)``, ``s = 1e4 / lambda_a``.

    H-alpha 6562.80 A (air) -> 6564.61 A (vacuum).
    """
    return convert_medium(wave_air, THESIS_AIR_TO_VACUUM)


# ----------------------------------------------------------------------------- step 2
def gaussian_kernel(stddev: float = BLUR_STDDEV_PX, width_sigmas: float = BLUR_WIDTH_SIGMAS) -> np.ndarray:
    """``astropy.convolution.Gaussian1DKernel(stddev)``, normalized to sum 1: the Gaussian sampled
    at the pixel centres over an odd width of 8 sigma rounded up (57 pixels for sigma 7).  Written
    in numpy (equal to astropy's to round-off, tested) so that the base install needs no SciPy."""
    width = int(np.ceil(width_sigmas * stddev))
    width += 1 - width % 2
    x = np.arange(width) - width // 2
    k = np.exp(-0.5 * (x / stddev) ** 2)
    return k / k.sum()


def gaussian_blur(flux, stddev: float = BLUR_STDDEV_PX, width_sigmas: float = BLUR_WIDTH_SIGMAS) -> np.ndarray:
    """Blur each row of ``flux`` (on its own pixel grid) with ``Gaussian1DKernel(stddev)``.

    The same as ``astropy.convolution.convolve(row, Gaussian1DKernel(stddev),
    boundary="extend")`` row by row (tested), vectorized.  The thesis called
    ``convolve`` with astropy's default ``boundary="fill"`` (zeros), which pulls
    the last ~3 sigma (~5 A) of every spectrum towards zero; its grid ends
    ~2.7 A before the Ondřejov files do, so that edge dip would enter the input
    for Ondřejov spectra and not for LAMOST ones: we extend the edge values
    instead (ours; docs/bestars.md).
    """
    flux = np.asarray(flux, dtype=float)
    k = gaussian_kernel(stddev, width_sigmas)
    h = k.size // 2
    rows = np.atleast_2d(flux)
    pad = np.concatenate([np.repeat(rows[:, :1], h, 1), rows, np.repeat(rows[:, -1:], h, 1)], axis=1)
    out = np.stack([np.convolve(r, k[::-1], mode="valid") for r in pad])   # numpy only (base install)
    return out.reshape(flux.shape)


# ----------------------------------------------------------------------------- steps 3-4
def regrid(flux, wavelength, grid=None) -> np.ndarray:
    """Linear interpolation of each row onto ``grid`` (default :func:`thesis_grid`), Sec. 7.2:
    ``np.interp(new_wavelengths, old_wavelengths, old_fluxes)``."""
    grid = thesis_grid() if grid is None else np.asarray(grid, float)
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    wavelength = np.asarray(wavelength, dtype=float)
    return np.stack([np.interp(grid, wavelength, row) for row in flux])


def _moments(x, mask=None):
    """Per-row mean and standard deviation (population, as scikit-learn), over valid pixels."""
    if mask is None:
        mean, std = x.mean(axis=1, keepdims=True), x.std(axis=1, keepdims=True)
    else:
        w = ~np.atleast_2d(np.asarray(mask, bool))
        cnt = np.maximum(w.sum(axis=1, keepdims=True), 1)
        mean = np.where(w, x, 0).sum(axis=1, keepdims=True) / cnt
        std = np.sqrt(np.where(w, (x - mean) ** 2, 0).sum(axis=1, keepdims=True) / cnt)
    # zero variance keeps scale 1, as scikit-learn's _handle_zeros_in_scale
    std = np.where(std < 10 * np.finfo(float).eps * np.maximum(np.abs(mean), 1.0), 1.0, std)
    return mean, std


def standardize(flux, mask=None) -> np.ndarray:
    """Per-row zero mean and unit variance, ``sklearn.preprocessing.scale(X, axis=1)`` (Sec. 7.3).

    With ``mask`` (True = missing), mean and standard deviation come from the
    valid pixels only (missing pixels are scaled alike and filled later).  A
    row of zero variance keeps scale 1 (as scikit-learn does): it becomes all
    zeros, which the trust score flags.
    """
    x = np.atleast_2d(np.asarray(flux, dtype=float))
    mean, std = _moments(x, mask)
    return (x - mean) / std


@register_normalization(NORMALIZATION)
def _standardize_contract(flux, error, mask):
    """Contract normalization of the emission family: :func:`standardize` over the valid
    pixels (errors scaled alike); marks nothing, fills nothing."""
    x = np.atleast_2d(np.asarray(flux, float))
    mean, std = _moments(x, mask)
    if error is not None:
        error = np.asarray(error, float) / std
    return (x - mean) / std, error, mask


# ----------------------------------------------------------------------------- instrument paths
#: Name of the Ondřejov instrument step (steps 1-2) in the contracts' ``instrument_steps``.
ONDREJOV_STEP = "emission_ondrejov"


def step_params() -> dict:
    """The contract's ``instrument_step_params["emission_ondrejov"]``: every number of
    :func:`ondrejov_step` (written into the presets and cards; the step reads them there)."""
    return {"air_to_vacuum": dict(THESIS_AIR_TO_VACUUM), "blur_stddev_px": BLUR_STDDEV_PX,
            "blur_width_sigmas": BLUR_WIDTH_SIGMAS, "blur_boundary": "extend",
            "masked_pixels": "interpolate_blur_remask", "error_scale": "kernel_l2"}


@register_native_step(ONDREJOV_STEP)
def ondrejov_step(wave, flux, error, mask, medium, stddev: float = BLUR_STDDEV_PX, *,
                  air_to_vacuum: dict | None = None, blur_stddev_px: float | None = None,
                  blur_width_sigmas: float = BLUR_WIDTH_SIGMAS, blur_boundary: str = "extend",
                  masked_pixels: str = "interpolate_blur_remask", error_scale: str = "kernel_l2"):
    """Steps 1-2 on the Ondřejov pixel grid: vacuum wavelengths by Eqs. 7.1-7.3 (when the
    input is in air; ``air_to_vacuum``: the rule, default :data:`THESIS_AIR_TO_VACUUM`) and
    the Gaussian blur (``blur_stddev_px`` pixels, kernel ``blur_width_sigmas`` wide, edge
    values extended).  Masked pixels are interpolated over (linearly in pixel index) before
    blurring and stay masked (``masked_pixels="interpolate_blur_remask"``); errors are scaled
    by the kernel's noise reduction, ``sqrt(sum k^2)`` (``error_scale="kernel_l2"``)."""
    if blur_boundary != "extend" or masked_pixels != "interpolate_blur_remask" or error_scale != "kernel_l2":
        raise ValueError(f"{ONDREJOV_STEP}: unsupported blur_boundary {blur_boundary!r}, masked_pixels "
                         f"{masked_pixels!r} or error_scale {error_scale!r}")
    stddev = float(blur_stddev_px if blur_stddev_px is not None else stddev)
    wave = np.asarray(wave, float)
    if medium == "air":
        wave = convert_medium(wave, air_to_vacuum or THESIS_AIR_TO_VACUUM)
    flux = np.array(np.atleast_2d(flux), dtype=float)
    mask = np.zeros(flux.shape, bool) if mask is None else np.array(np.broadcast_to(mask, flux.shape))
    x = np.arange(flux.shape[1])
    for row, m in zip(flux, mask):
        if m.any() and (~m).sum() >= 2:
            row[m] = np.interp(x[m], x[~m], row[~m])
    flux = np.where(mask, 0.0, gaussian_blur(flux, stddev, blur_width_sigmas))
    if error is not None:   # noise averaged by the kernel: sigma * sqrt(sum k^2)
        error = np.asarray(error, float) * float(np.sqrt(np.sum(gaussian_kernel(stddev, blur_width_sigmas) ** 2)))
    return wave, flux, error, mask, "vacuum"


def instrument_path(spectrum: Spectrum, stddev: float = BLUR_STDDEV_PX) -> Spectrum:
    """Steps 1-2 (:func:`ondrejov_step`) for an Ondřejov :class:`~zoo.spectrum.Spectrum`
    (``meta["instrument"] == "ondrejov"``) as a new Spectrum in vacuum; any other spectrum is
    returned unchanged.  (The contract runs the same step by itself; this is for plots and
    the simulator.)"""
    if (spectrum.meta or {}).get("instrument") != "ondrejov":
        return spectrum
    wave, flux, error, mask, medium = ondrejov_step(
        spectrum.angstrom, spectrum.flux, spectrum.error, spectrum.mask, spectrum.medium, stddev)
    meta = {k: v for k, v in spectrum.meta.items() if k != "instrument"}
    meta["emission_path"] = f"ondrejov: air->vacuum Eq. 7.1-7.3, blur stddev {stddev:g} px"
    return Spectrum(wavelength=wave, flux=flux[0], error=None if error is None else error.reshape(-1),
                    mask=mask[0], medium=medium, meta=meta)


def prepare(contract, X, wavelength=None, *, medium=None, instrument: str | None = None, error=None,
            mask=None):
    """The whole thesis path to ``contract`` without a Predictor: files, Spectrum objects (or a
    list of them) take their instrument from ``meta["instrument"]``; arrays with ``wavelength``
    take ``instrument=`` ("ondrejov" or "lamost"; default: the LAMOST path).  Returns
    :class:`zoo.preprocess.Prepared` (exactly what ``Predictor.prepare`` gives)."""
    from zoo.io import read
    from zoo.preprocess import Prepared, to_contract
    items = list(X) if isinstance(X, (list, tuple)) else [X]
    if items and all(isinstance(i, (str, os.PathLike, Spectrum)) for i in items):
        spectra = [read(i) if not isinstance(i, Spectrum) else i for i in items]
        parts = [to_contract(s.flux, contract, s.wavelength, error=s.error, mask=s.mask, medium=s.medium,
                             instrument=(s.meta or {}).get("instrument")) for s in spectra]
        errs = [p.error for p in parts]
        return Prepared(np.concatenate([p.flux for p in parts]),
                        None if any(e is None for e in errs) else np.concatenate(errs),
                        np.concatenate([p.mask for p in parts]))
    return to_contract(X, contract, wavelength, error=error, mask=mask, medium=medium, instrument=instrument)
