"""Continuum normalisation of APOGEE spectra on the 8575-pixel apStar grid.

Why
---
Raw apStar flux (1e-17 erg/s/cm^2/A) has an arbitrary overall scale that
follows the star's brightness and a smooth shape set by the instrument
throughput and the star's energy distribution; the bundled real files have
median levels from ~14 to ~830, while the Kurucz emulator of The Payne
(Ting et al. 2019) outputs ``1e6 * f_nu`` at the stellar surface, of order
3-8, with its own slope per chip.  The line pattern, which carries the
labels, is the ratio of the flux to its continuum.  Dividing each chip by a
smooth fit to its continuum removes the scale and the throughput shape, so
that the real spectra, the simulated spectra of :mod:`zoo.families.apogeenet.simulate` and any
survey spectrum reach a model on the same footing.
``scripts/apogeenet_normalization_evidence.py`` (output in
``docs/apogeenet_normalization.md``) shows raw medians from ~2 to ~1e4 across
the sources and per-chip slopes of 1-40 % before, and normalised medians of
0.91-1.00 with slopes of a few per cent (the same as the line pattern of a
noiseless model spectrum gives) after, for real and simulated spectra alike.

How
---
Per chip (the three ASPCAP ranges of :data:`zoo.families.apogeenet.apstar.APSTAR_CHIP_SLICES`)
and per spectrum, a polynomial of degree ``deg`` (default 2) in the chip's
pixel coordinate (scaled to [-1, 1]) is fitted by weighted least squares to
the *continuum pixels* of The Cannon (``cannon_cont_pixels_apogee.npz``,
529 of the 7214 ASPCAP pixels: 241 / 108 / 180 per chip; Ness et al. 2015,
as distributed with The Payne), leaving out bad pixels, with weights
``1/error**2`` (uniform without errors).  The fit is repeated ``n_iter``
times rejecting continuum pixels more than ``clip_sigma`` robust standard
deviations (1.4826 MAD) from the previous fit, which drops unflagged sky
residuals and the continuum pixels that happen to sit in lines of a cool
star.  Where a chip of a spectrum has fewer than ``min_cont_pixels`` usable
continuum pixels, the continuum is instead a polynomial through a running
upper quantile (the 90th percentile of the good pixels in 16 blocks along the
chip); where a chip has fewer than ``min_chip_pixels`` good pixels at all, the
whole chip is treated as bad.

Output: ``flux / continuum`` and ``error / continuum``; bad pixels, chip gaps
and the grid ends outside the chips are filled with 1.0 (error
:data:`~zoo.families.apogeenet.apstar.APSTAR_BAD_ERROR`, i.e. no information), and the
normalised flux is clipped to ``clip`` (default [0, 2]) so that an unflagged
spike cannot dominate a network's input.  Everything is vectorised over a
batch ``(n, 8575)``; the only per-spectrum loop is the rare fallback.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from zoo.stats import MAD_TO_SIGMA
from zoo.errors import SpectrumLengthError
from zoo.families.apogeenet.apstar import (APSTAR_BAD_ERROR, APSTAR_CHIP_SLICES, APSTAR_NPIX,
                        N_ASPCAP_PIX)

__all__ = ["normalize_apstar", "fit_continuum", "continuum_pixels", "contract_params"]


@lru_cache(maxsize=1)
def _cannon_pixels_aspcap() -> np.ndarray:
    ref = resources.files("zoo") / "families" / "apogeenet" / "data" / "payne" / "cannon_cont_pixels_apogee.npz"
    with resources.as_file(ref) as p, np.load(p) as d:
        pix = np.asarray(d["pixels_cannon"], dtype=bool)
    if pix.shape != (N_ASPCAP_PIX,):
        raise RuntimeError(f"cannon_cont_pixels_apogee.npz has shape {pix.shape}, "
                           f"expected ({N_ASPCAP_PIX},)")
    return pix


def continuum_pixels() -> np.ndarray:
    """Boolean array (8575,): The Cannon's continuum pixels on the apStar grid."""
    aspcap = _cannon_pixels_aspcap()
    out = np.zeros(APSTAR_NPIX, dtype=bool)
    o = 0
    for s in APSTAR_CHIP_SLICES:
        n = s.stop - s.start
        out[s] = aspcap[o:o + n]
        o += n
    return out


def _as_batch(a, name, dtype=float):
    a = np.asarray(a, dtype=dtype)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != APSTAR_NPIX:
        raise SpectrumLengthError(
            f"{name} must have {APSTAR_NPIX} apStar pixels (shape (8575,) or (n, 8575)), "
            f"got shape {np.shape(a)}")
    return a


@lru_cache(maxsize=1)
def _continuum_pixels_cached() -> np.ndarray:
    out = continuum_pixels()
    out.setflags(write=False)
    return out


def _nanmedian_rows(a: np.ndarray) -> np.ndarray:
    """``np.nanmedian(a, axis=1, keepdims=True)`` for a 2-D array (NaN for all-NaN rows),
    without the warnings and ~10x faster: NumPy's nanmedian goes through masked arrays
    for small arrays, which was most of the normalization's time."""
    s = np.sort(a, axis=1)                                   # NaN sort last
    cnt = a.shape[1] - np.isnan(s).sum(axis=1)
    rows = np.arange(a.shape[0])
    med = (s[rows, np.maximum((cnt - 1) // 2, 0)] + s[rows, np.maximum(cnt // 2, 0)]) / 2
    return np.where(cnt > 0, med, np.nan)[:, None]


def _vander(x, deg):
    return np.stack([x ** k for k in range(deg + 1)], axis=-1)


@lru_cache(maxsize=16)
def _chip_basis(npx: int, deg: int, cidx_key: bytes):
    """Per chip (cached): pixel coordinate, Vandermonde matrix on the continuum pixels and
    on the whole chip (read-only)."""
    x = np.linspace(-1.0, 1.0, npx)
    cidx = np.frombuffer(cidx_key, dtype=np.intp)
    out = x, _vander(x[cidx], deg), _vander(x, deg).T.copy()
    for a in out:
        a.setflags(write=False)
    return out


def _wls(V, y, w, ridge=1e-10):
    """Batched weighted least squares.  V (m, k), y and w (n, m) -> coeffs (n, k)."""
    wV = w[:, :, None] * V                        # (n, m, k)
    A = np.matmul(wV.transpose(0, 2, 1), V)       # (n, k, k)
    b = np.matmul(wV.transpose(0, 2, 1), y[:, :, None])[..., 0]
    k = V.shape[1]
    scale = np.trace(A, axis1=1, axis2=2)[:, None, None] / k
    A = A + ridge * np.maximum(scale, 1e-300) * np.eye(k)
    return np.linalg.solve(A, b[..., None])[..., 0]


def _fallback_chip(f, good, x, deg, quantile=90.0, nblock=16, min_block=3):
    """Polynomial through a running upper quantile of one chip of one spectrum."""
    idx = np.flatnonzero(good)
    blocks = [b for b in np.array_split(idx, nblock) if b.size >= min_block]
    if len(blocks) < deg + 1:
        return None
    xb = np.array([x[b].mean() for b in blocks])
    yb = np.array([np.percentile(f[b], quantile) for b in blocks])
    coef = np.polyfit(xb, yb, deg)
    return np.polyval(coef, x)


def fit_continuum(flux, error=None, mask=None, *, deg: int = 2, n_iter: int = 2,
                  clip_sigma: float = 3.0, min_cont_pixels: int = 20,
                  min_chip_pixels: int = 100, chips=None, continuum_pixels=None,
                  weight_cap: float = 10.0, ridge: float = 1e-10, fallback_quantile: float = 90.0,
                  fallback_blocks: int = 16, fallback_min_block: int = 3,
                  error_at_least: float | None = 0.1 * APSTAR_BAD_ERROR):
    """Fit the per-chip continuum of apStar spectra.

    Parameters
    ----------
    flux : array (8575,) or (n, 8575)
    error : array like ``flux``, optional
        1-sigma errors; weights are ``1/error**2``.
    mask : bool array like ``flux``, optional
        True = bad pixel.  Non-finite flux/error and non-positive error are
        bad in any case.
    deg : int
        Polynomial degree per chip.
    n_iter : int
        Number of refits with sigma clipping of the continuum pixels.
    clip_sigma : float
        Rejection threshold in robust standard deviations.
    min_cont_pixels, min_chip_pixels : int
        Fallback / give-up thresholds described in the module docstring.
    chips : list of (start, stop), optional
        Half-open pixel ranges fitted separately (default :data:`APSTAR_CHIP_SLICES`).
    continuum_pixels : list of int, optional
        Indices of the continuum pixels on the apStar grid (default :func:`continuum_pixels`).
    weight_cap, ridge, fallback_quantile, fallback_blocks, fallback_min_block :
        Weights ``1/error**2`` divided by their median and capped at ``weight_cap``; the
        ridge of the least squares (times the mean diagonal); the fallback's quantile,
        number of blocks and smallest block.
    error_at_least : float or None
        Errors at least this are bad pixels (the files' 1e10 sentinel).

    Returns
    -------
    continuum : ndarray (n, 8575)
        The continuum, NaN outside the chips and on chips given up.
    bad : ndarray of bool (n, 8575)
        The bad-pixel mask used (input mask, non-finite values, gaps,
        non-positive continuum).
    """
    flux = _as_batch(flux, "flux")
    bad = ~np.isfinite(flux)
    if mask is not None:
        bad |= _as_batch(mask, "mask", dtype=bool)
    if error is not None:
        error = _as_batch(error, "error")
        with np.errstate(invalid="ignore"):
            bad |= ~np.isfinite(error) | (error <= 0)
            if error_at_least is not None:
                bad |= error >= error_at_least
    if continuum_pixels is None:
        cont_pix = _continuum_pixels_cached()
    else:
        cont_pix = np.zeros(APSTAR_NPIX, bool)
        cont_pix[np.asarray(continuum_pixels, dtype=np.intp)] = True
    slices = APSTAR_CHIP_SLICES if chips is None else tuple(slice(int(a), int(b)) for a, b in chips)
    continuum = np.full(flux.shape, np.nan)

    for s in slices:
        npx = s.stop - s.start
        f = np.where(bad[:, s], 0.0, flux[:, s])
        good = ~bad[:, s]
        cidx = np.flatnonzero(cont_pix[s])
        x, V, VT_chip = _chip_basis(npx, deg, cidx.tobytes())
        fc = f[:, cidx]
        # normalise each spectrum's chip to ~1 for conditioning
        lvl = _nanmedian_rows(np.where(good, f, np.nan))[:, 0]
        lvl = np.where(np.isfinite(lvl) & (lvl != 0), np.abs(lvl), 1.0)
        yc = fc / lvl[:, None]
        if error is not None:
            ec = np.where(good[:, cidx], error[:, s][:, cidx], np.inf) / lvl[:, None]
            w = np.where(good[:, cidx], 1.0 / ec ** 2, 0.0)
            med = _nanmedian_rows(np.where(w > 0, w, np.nan))
            med = np.where(np.isfinite(med) & (med > 0), med, 1.0)
            w = np.minimum(w / med, weight_cap)  # no pixel may dominate a chip
        else:
            w = good[:, cidx].astype(float)
        for it in range(n_iter + 1):
            coef = _wls(V, yc, w, ridge)
            if it == n_iter:
                break
            model = coef @ V.T
            r = np.where(w > 0, yc - model, np.nan)
            sig = MAD_TO_SIGMA * _nanmedian_rows(np.abs(r - _nanmedian_rows(r)))
            sig = np.where(np.isfinite(sig) & (sig > 0), sig, np.inf)
            keep = np.abs(np.nan_to_num(r, nan=np.inf)) <= clip_sigma * sig
            w = np.where(keep, w, 0.0)
        cont = (coef @ VT_chip) * lvl[:, None]

        n_cont = (w > 0).sum(axis=1)
        n_good = good.sum(axis=1)
        for i in np.flatnonzero((n_cont < min_cont_pixels) | (n_good < min_chip_pixels)):
            alt = None
            if n_good[i] >= min_chip_pixels:
                alt = _fallback_chip(f[i], good[i], x, deg, fallback_quantile, fallback_blocks,
                                     fallback_min_block)
            cont[i] = np.nan if alt is None else alt
        continuum[:, s] = cont

    with np.errstate(invalid="ignore"):
        bad |= ~(continuum > 0)  # NaN (gaps, given-up chips) or non-positive
    return continuum, bad


def normalize_apstar(flux, error=None, mask=None, *, deg: int = 2, n_iter: int = 2,
                     clip=(0.0, 2.0), fill: float = 1.0,
                     bad_error: float = APSTAR_BAD_ERROR, return_mask: bool = False,
                     normalized_tol: float | None = None, **fit):
    """Continuum-normalise apStar spectra chip by chip (see module docstring).

    Parameters
    ----------
    flux : array (8575,) or (n, 8575)
        Raw (or already rectified) flux on the apStar grid.
    error : array like ``flux``, optional
    mask : bool array like ``flux``, optional
        True = bad pixel (e.g. ``Spectrum.mask`` from
        :func:`zoo.families.apogeenet.apstar.read_apstar`).
    deg, n_iter, **fit :
        Passed to :func:`fit_continuum`.
    clip : (float, float) or None
        Range the normalised flux is clipped to.
    fill : float
        Value given to bad pixels, chip gaps and grid ends.
    bad_error : float
        Normalised error given to those pixels.
    return_mask : bool
        Also return the bad-pixel mask.
    normalized_tol : float or None
        Idempotence: a spectrum whose fitted continuum is within this of 1 on the
        good pixels of every chip is already normalized and is divided by 1 (a
        second pass then returns its input; without it, refitting a normalized
        cool star moves it by up to ~2 %, measured on the bundled files).

    Returns
    -------
    norm_flux : ndarray float32, same shape as ``flux``
    norm_error : ndarray float32 or None (None when ``error`` is None)
    bad : ndarray of bool, only with ``return_mask=True``
    """
    single = np.ndim(flux) == 1
    f = _as_batch(flux, "flux")
    continuum, bad = fit_continuum(f, error, mask, deg=deg, n_iter=n_iter, **fit)
    if normalized_tol is not None:
        dev = np.zeros(f.shape[0])
        chips = fit.get("chips")
        for sl in APSTAR_CHIP_SLICES if chips is None else [slice(int(a), int(b)) for a, b in chips]:
            d = np.where(bad[:, sl], 0.0, np.abs(continuum[:, sl] - 1.0))
            dev = np.maximum(dev, d.max(axis=1))
        continuum = np.where((dev < normalized_tol)[:, None], 1.0, continuum)
    with np.errstate(invalid="ignore", divide="ignore"):
        nf = np.where(bad, fill, f / continuum)
        if clip is not None:
            nf = np.clip(nf, clip[0], clip[1])
        ne = None
        if error is not None:
            e = _as_batch(error, "error")
            ne = np.where(bad, bad_error, e / continuum).astype(np.float32)
    nf = nf.astype(np.float32)
    if single:
        nf, bad = nf[0], bad[0]
        ne = None if ne is None else ne[0]
    return (nf, ne, bad) if return_mask else (nf, ne)


# --------------------------------------------------------------------------- registration
from zoo.preprocess import register_normalization  # noqa: E402


@register_normalization("apogee_continuum")
def _apogee_continuum(flux, error, mask, *, chips, continuum_pixels, degree, n_iter, clip_sigma,
                      min_cont_pixels, min_chip_pixels, weight_cap, ridge, fallback_quantile,
                      fallback_blocks, fallback_min_block, clip, normalized_tol):
    """:func:`normalize_apstar` as the input normalization ``"apogee_continuum"``, every number
    from the contract's ``normalization_params`` (:func:`contract_params` writes them).

    Flux already normalized (fitted continuum within :data:`NORMALIZED_TOL` of 1 on
    every chip) is passed through, so the normalization is idempotent; raw apStar flux
    (1e-17 erg/s/cm^2/A, continuum levels ~10-1000 with throughput slopes) never is.
    Returns the normalized flux and errors and the mask grown by the pixels the
    continuum fit gives up on (a chip with too few good pixels, the chip gaps
    and grid ends); the contract's fill stage fills them, and their normalized
    error is 0 there -- they carry no information -- so that uncertainty draws
    (Predictor, Olney et al. 2020 Sec. 3.5) add no noise there.
    """
    # fill=NaN: this hook marks what it cannot use and fills nothing (the contract's fill stage does)
    nf, ne, bad = normalize_apstar(
        flux, error, mask, return_mask=True, normalized_tol=normalized_tol, fill=np.nan,
        deg=int(degree), n_iter=int(n_iter), clip=None if clip is None else tuple(clip),
        clip_sigma=float(clip_sigma), min_cont_pixels=int(min_cont_pixels),
        min_chip_pixels=int(min_chip_pixels), chips=chips, continuum_pixels=continuum_pixels,
        weight_cap=float(weight_cap), ridge=float(ridge), fallback_quantile=float(fallback_quantile),
        fallback_blocks=int(fallback_blocks), fallback_min_block=int(fallback_min_block),
        error_at_least=None)   # the contract's missing["error_at_least"] has marked those pixels
    return nf, ne, np.asarray(mask, bool) | bad


#: Input whose fitted continuum is 1 within this on every chip is taken as already normalized.
NORMALIZED_TOL = 0.03


def contract_params() -> dict:
    """The ``normalization_params`` of ``"apogee_continuum"`` in the cards: the defaults of
    :func:`normalize_apstar` and :func:`fit_continuum` (read from their signatures, so the
    numbers live once), the chips and continuum pixels as indices on the apStar grid, so that
    a port needs nothing else."""
    import inspect
    fit = {k: p.default for k, p in inspect.signature(fit_continuum).parameters.items()
           if p.default is not inspect.Parameter.empty}
    norm = {k: p.default for k, p in inspect.signature(normalize_apstar).parameters.items()
            if p.default is not inspect.Parameter.empty}
    return {"chips": [[s.start, s.stop] for s in APSTAR_CHIP_SLICES],
            "continuum_pixels": np.flatnonzero(continuum_pixels()).tolist(),
            "degree": fit["deg"], "n_iter": fit["n_iter"], "clip_sigma": fit["clip_sigma"],
            "min_cont_pixels": fit["min_cont_pixels"], "min_chip_pixels": fit["min_chip_pixels"],
            "weight_cap": fit["weight_cap"], "ridge": fit["ridge"],
            "fallback_quantile": fit["fallback_quantile"], "fallback_blocks": fit["fallback_blocks"],
            "fallback_min_block": fit["fallback_min_block"], "clip": list(norm["clip"]),
            "normalized_tol": NORMALIZED_TOL}
