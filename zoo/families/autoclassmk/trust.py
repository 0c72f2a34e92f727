"""Out-of-domain score of AutoClassMK: agreement with the MK standards of the predicted class.

The MKCLASS way of typing a star (Gray & Corbally 2014) is to compare its
rectified spectrum with the standards; a spectrum that no standard near the
class it was given resembles is one the classifier has no business typing.
Method ``"mk_standard_fit"`` (cards' ``trust``), per spectrum:

1. the prepared flux ``x`` (contract grid, rectified, missing pixels filled)
   and the libr18 standards (the training atlas, bundled: the 146 of the
   pruned label set) are smoothed by a Gaussian of ``smooth_px`` pixels, which
   takes out most of the photon noise; every standard is also offered
   broadened by each width of ``broadening_px`` (resolution differences);
2. for every standard ``T`` of the *predicted* spectral class and of its
   ``neighbours`` on each side in the card's class order (all luminosity
   classes, every broadening), a linear least-squares fit over the valid
   pixels (``prepared.mask`` False, standard observed there)::

       x = c0 + c1 u + a (T - 1),        u in [-1, 1] across the grid

   ``c0 + c1 u`` absorbs a continuum offset and tilt; ``a`` is the strength
   of the input's line pattern relative to the standard's;
3. the best standard is the one with the smallest residual rms; its residual
   rms, line amplitude ``a`` and residual tilt ``|c1 / c0|`` give three
   components, each scaled so that 1 is its cut::

       s_rms  = rms / rms_cut
       s_amp  = (1 - a) / (1 - amp_range[0])  if a < 1   else   (a - 1) / (amp_range[1] - 1)
       s_tilt = |c1 / c0| / tilt_cut

   and ``domain_score = max(s_rms, s_amp, s_tilt)``; ``out_of_domain`` is
   ``domain_score > threshold`` (1.0).

A featureless input (a flat line, pure noise) fits with ``a`` near 0; a star
the atlas has no class for (M types, white dwarfs, emission-line stars), a
galaxy, or flux that was never rectified leaves a large residual, a line
pattern of the wrong strength or a continuum tilt the network never saw.
The cuts are calibrated on in-domain validation spectra: libr18 augmented with
each model's own recipe, each spectrum fitted *without its own star* among the
standards (so that the residual measures how far a star that is not itself a
standard lies from the standards near its class; with its own star the fit
would be perfect), and checked on the test set (augmented libr18_27, never
used for the cuts); ``scripts/trust_evaluate.py`` does both and docs/trust.md
reports the rates.  The class probability (``spectral_class_probability``) is
returned beside the score but is not part of it: it is near 1 for most
out-of-domain inputs (M stars come back "K7" with p = 1.0; docs/trust.md).

Everything here is numpy: the score is the same on every backend.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["METHOD", "DEFAULTS", "gaussian_smooth", "standards", "standard_fit", "components",
           "domain_score", "register"]

METHOD = "mk_standard_fit"
#: Method parameters when a card does not give them (the cards always do).
DEFAULTS = {"smooth_px": 2.0, "broadening_px": [0.0, 1.5, 3.0, 4.5], "neighbours": 1,
            "rms_cut": 0.05, "amp_range": [0.7, 1.4], "tilt_cut": 0.07}


def gaussian_smooth(flux: np.ndarray, sigma_px: float) -> np.ndarray:
    """Rows of ``flux`` convolved with a Gaussian of ``sigma_px`` pixels (exact in Fourier
    space, edges padded with the end values)."""
    flux = np.atleast_2d(np.asarray(flux, float))
    if sigma_px <= 0:
        return flux.copy()
    pad = int(4 * sigma_px) + 8
    p = np.pad(flux, ((0, 0), (pad, pad)), mode="edge")
    freq = np.fft.rfftfreq(p.shape[1])
    out = np.fft.irfft(np.fft.rfft(p, axis=1) * np.exp(-2.0 * np.pi ** 2 * sigma_px ** 2 * freq ** 2),
                       n=p.shape[1], axis=1)
    return out[:, pad:pad + flux.shape[1]]


@lru_cache(maxsize=4)
def standards(smooth_px: float, broadening_px: tuple):
    """The libr18 standards as the score uses them, cached.

    Returns ``(spectral_type (m,), luminosity_class (m,), files (m,), T (m, nb, npix)
    smoothed and broadened minus 1, valid (m, npix) bool)``.
    """
    from zoo.preprocess import fill_missing

    from .atlas import load_atlas, prune_complete
    atlas = prune_complete(load_atlas("libr18"))
    flux = fill_missing(atlas.flux, atlas.mask, 1.0)
    t = np.stack([gaussian_smooth(gaussian_smooth(flux, b), smooth_px) for b in broadening_px], axis=1)
    return (atlas.spectral_type, atlas.luminosity_class, np.array(atlas.files), t - 1.0, ~atlas.mask)


@lru_cache(maxsize=4)
def _moments(smooth_px: float, broadening_px: tuple) -> np.ndarray:
    """Per standard and broadening the six products ``tv * (1, u, t, u^2, u t, t^2)`` of the fit's
    normal equations, (m * nb, npix, 6) float64 (~45 MB): every sum over pixels of
    :func:`standard_fit` is then a matrix product of the input with a slice of it."""
    _, _, _, T, tvalid = standards(smooth_px, broadening_px)
    m, nb, npix = T.shape
    t = T.reshape(-1, npix)
    tv = np.repeat(tvalid, nb, axis=0).astype(float)
    u = np.broadcast_to(np.linspace(-1.0, 1.0, npix), t.shape)
    mom = np.stack([tv, tv * u, tv * t, tv * u * u, tv * u * t, tv * t * t], axis=-1)   # (m nb, p, 6)
    return mom


#: (row, column) of the symmetric 3 x 3 normal matrix -> index into the six moments
_SYM = np.array([[0, 1, 2], [1, 3, 4], [2, 4, 5]])


def standard_fit(flux, mask, spectral_class, *, smooth_px: float = DEFAULTS["smooth_px"],
                 broadening_px=tuple(DEFAULTS["broadening_px"]), exclude=None,
                 class_order=None, neighbours: int = 0) -> dict:
    """Fit every spectrum with the standards of its (predicted) spectral class.

    Parameters
    ----------
    flux, mask : (n, npix) prepared flux and its mask (True = filled, not observed).
    spectral_class : (n,) class names, e.g. ``"G2"``.
    exclude : (n,) index of a standard (into :func:`standards`) to leave out per
        spectrum, or -1 / None: leave-one-star-out calibration.

    Returns
    -------
    dict of (n,) arrays: ``rms`` (residual rms, rectified-flux units), ``a`` (line
    amplitude), ``c0``, ``c1`` (continuum), ``standard`` (index of the best
    standard, -1 where the class has none), ``broadening_px``.
    """
    sp_type, _, _, T, tvalid = standards(float(smooth_px), tuple(float(b) for b in broadening_px))
    flux = np.atleast_2d(np.asarray(flux, float))
    mask = np.broadcast_to(np.asarray(mask, bool), flux.shape)
    n, npix = flux.shape
    nb = T.shape[1]
    xs = gaussian_smooth(flux, smooth_px)
    good = (~mask).astype(float)
    spectral_class = np.asarray(spectral_class).astype(str)
    exclude = np.full(n, -1) if exclude is None else np.asarray(exclude, int)
    out = {k: np.full(n, np.nan) for k in ("rms", "a", "c0", "c1", "broadening_px")}
    out["standard"] = np.full(n, -1)
    for cls in np.unique(spectral_class):
        ii = np.flatnonzero(spectral_class == cls)
        if neighbours and class_order is not None:
            order = list(class_order)
            j = order.index(cls)
            near = order[max(j - neighbours, 0):j + neighbours + 1]
            jj = np.flatnonzero(np.isin(sp_type, near))
        else:
            jj = np.flatnonzero(sp_type == cls)
        if jj.size == 0:
            continue
        cols = (jj[:, None] * nb + np.arange(nb)).reshape(-1)        # templates: star-major, then broadening
        mom = _moments(float(smooth_px), tuple(float(b) for b in broadening_px))[cols]   # (k, p, 6)
        k = len(cols)
        g, x = good[ii], xs[ii]
        m6 = np.matmul(g[None], mom).transpose(1, 0, 2)               # (i, k, 6)
        A = m6[..., _SYM]                                             # (i, k, 3, 3)
        b = np.matmul((g * x)[None], mom[..., :3]).transpose(1, 0, 2)   # (i, k, 3)
        sxx = np.matmul((g * x * x)[None], mom[..., :1])[..., 0].T    # (i, k)
        npx = m6[..., 0]
        A = A + 1e-9 * np.eye(3) * np.maximum(np.trace(A, axis1=2, axis2=3), 1.0)[..., None, None]
        coef = np.linalg.solve(A, b[..., None])[..., 0]               # (i, k, 3)
        ss = sxx - 2.0 * np.einsum("ika,ika->ik", coef, b) + np.einsum("ika,ikab,ikb->ik", coef, A, coef)
        ms = np.maximum(ss, 0.0) / np.maximum(npx, 1.0)
        own = jj[np.arange(k) // nb]
        ms = np.where(own[None, :] == exclude[ii, None], np.inf, ms)
        best = np.argmin(ms, axis=1)
        r = np.arange(len(ii))
        if not np.isfinite(ms[r, best]).all():      # a class whose only standard was excluded
            keep = np.isfinite(ms[r, best])
            ii, best, r = ii[keep], best[keep], r[keep]
        out["rms"][ii] = np.sqrt(ms[r, best])
        out["c0"][ii], out["c1"][ii], out["a"][ii] = coef[r, best].T
        out["standard"][ii] = jj[best // nb]
        out["broadening_px"][ii] = np.asarray(broadening_px, float)[best % nb]
    return out


def components(fit: dict, trust: dict) -> dict:
    """The score's components (1 = at the cut) from :func:`standard_fit`'s output: ``rms``,
    ``amplitude`` and ``tilt`` (``|c1 / c0|``, the residual continuum tilt, over ``tilt_cut``)."""
    lo, hi = trust.get("amp_range", DEFAULTS["amp_range"])
    a = fit["a"]
    s_amp = np.where(a < 1.0, (1.0 - a) / (1.0 - lo), (a - 1.0) / (hi - 1.0))
    s_rms = fit["rms"] / float(trust.get("rms_cut", DEFAULTS["rms_cut"]))
    # a class without standards (cannot happen with the bundled atlas) is out of domain
    s_rms = np.where(np.isfinite(s_rms), s_rms, np.inf)
    s_amp = np.where(np.isfinite(s_amp), s_amp, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        tilt = np.abs(fit["c1"] / fit["c0"]) / float(trust.get("tilt_cut", DEFAULTS["tilt_cut"]))
    tilt = np.where(np.isfinite(tilt), tilt, np.inf)
    return {"rms": s_rms, "amplitude": s_amp, "tilt": tilt}


def score_from_fit(fit: dict, trust: dict) -> np.ndarray:
    c = components(fit, trust)
    return np.maximum(np.maximum(c["rms"], c["amplitude"]), c["tilt"])


def domain_score(predictor, prepared, raw) -> np.ndarray:
    """``fn(predictor, prepared, raw)`` of :func:`zoo.registry.register_trust`."""
    trust = predictor.card.trust
    out = predictor.card.output("spectral_class")
    probs = np.asarray(raw["spectral_class"])
    if probs.shape[0] == 0:
        return np.zeros(0)
    predicted = np.asarray(out.classes)[np.argmax(probs, axis=-1)]
    fit = standard_fit(prepared.flux, prepared.mask, predicted,
                       smooth_px=float(trust.get("smooth_px", DEFAULTS["smooth_px"])),
                       broadening_px=tuple(trust.get("broadening_px", DEFAULTS["broadening_px"])),
                       class_order=out.classes, neighbours=int(trust.get("neighbours", DEFAULTS["neighbours"])))
    return score_from_fit(fit, trust)


def register() -> None:
    from zoo.registry import register_trust
    register_trust(METHOD, domain_score)
