"""Trust for the APOGEE regressors: emulator consistency, training bounds, calibrated sigma.

Out-of-domain score, method ``"payne_consistency"`` (cards' ``trust``)
------------------------------------------------------------------------
The zoo's APOGEE models learned from spectra of The Payne's emulators
(:mod:`.simulate`), so the question "is this input like the training data?"
has a direct answer: run the emulator at the labels the network predicted and
see whether it reproduces the input.  Per spectrum:

1. model spectrum: the Kurucz emulator (the one that spans the whole training
   label space) at (Teff, log g, [Fe/H]) predicted, [alpha/Fe] from the
   simulator's mean relation ``clip(-0.3 [Fe/H], 0, 0.3)``, placed on the
   apStar grid and continuum-normalized per chip exactly like the input
   (:func:`.continuum.fit_continuum`);
2. over the valid ASPCAP pixels (``prepared.mask`` False, normalized error
   > 0), with ``sigma^2 = error^2 + sys^2`` (``sys``: the card's
   ``systematic``, the rms difference between The Payne's data-driven
   APOGEE-dwarf emulator -- trained on real spectra -- and the Kurucz one, so
   that a bright real star is not flagged for what separates real spectra from
   the model)::

       chi2 = mean(((x - m) / sigma)^2)            (reduced chi-square, trimmed)
       a    = sum w (x-1)(m-1) / sum w (m-1)^2     (line-pattern amplitude, w = 1/sigma^2)

   the mean leaves out the largest ``trim`` (1 %) of the pixel terms: sky-line
   residuals, unflagged cosmic rays and persistence of real spectra, which
   the simulation lacks, must not decide it alone.  Without per-pixel errors,
   ``error`` is the spectrum's own pixel-to-pixel scatter (1.4826 MAD of first
   differences / sqrt 2);
3. the predicted labels against the training label box ``label_bounds``
   (the simulator's ranges): ``d`` = the largest excess beyond a bound as a
   fraction of that label's range (negative inside);
4. ``domain_score = max(chi2 / chi2_cut, s_amp, s_bounds)`` with
   ``s_amp = (1 - a) / (1 - amp_range[0])`` below 1 and
   ``(a - 1) / (amp_range[1] - 1)`` above, and
   ``s_bounds = max(0, 1 + d / bounds_scale)`` (above 1 exactly when a label
   is beyond its bound; 0 deeper inside than ``bounds_scale`` of the range):
   1 is the cut of each part, and ``out_of_domain = domain_score > threshold`` (1.0).

A star cooler than the emulator's 3529 K floor (an M dwarf) has no emulator
spectrum that matches it, whatever labels the network says; pure noise or a
flat line has no line pattern (``a`` near 0); a galaxy or a spectrum of another
instrument matches no star.  ``chi2_cut``/``amp_range`` are calibrated per model on
fresh simulated spectra (``scripts/trust_evaluate.py``, docs/trust.md).

Uncertainties (``<label>_std``)
-------------------------------
:func:`label_uncertainty` gives, per label,
``sigma_total = sqrt((noise_scale * sigma_noise)^2 + sigma_model^2)``:
``sigma_noise`` is the spread of the network's answers over noise
realizations of the input (Olney et al. 2020 Sec. 3.5,
:meth:`zoo.predictor.Predictor.predict` with ``return_uncertainty=True``),
which alone covers only 20-40 % of the errors within 1 sigma;
``noise_scale`` and ``sigma_model`` (the model-error term, in the label's
unit; the card's ``trust["uncertainty"]``) are fitted on simulated validation
spectra so that 68.3 % / 95.4 % of the errors fall within 1 / 2 sigma_total.

Everything here is numpy: the same on the Keras and the ONNX path.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from zoo.stats import MAD_TO_SIGMA

__all__ = ["METHOD", "DEFAULTS", "emulator_model", "alpha_fe", "consistency", "components", "domain_score",
           "label_uncertainty", "predict_with_uncertainty", "register"]

METHOD = "payne_consistency"
LABELS = ("teff", "logg", "feh")
#: Method parameters when a card does not give them (the cards always do).
DEFAULTS = {"systematic": 0.013, "trim": 0.01, "chi2_cut": 2.0, "amp_range": [0.7, 1.2], "bounds_scale": 0.05,
            "label_bounds": {"teff": [3530.0, 6800.0], "logg": [0.5, 5.2], "feh": [-0.95, 0.45]}}


@lru_cache(maxsize=None)
def _emulator(kind):
    from .simulate import PayneEmulator
    return PayneEmulator(kind)


def _normalize_model(flux7214: np.ndarray) -> np.ndarray:
    """Emulator spectra (n, 7214) -> continuum-normalized on the apStar grid (n, 8575), NaN off the chips."""
    from .continuum import fit_continuum
    from .simulate import PayneEmulator
    grid, gaps = PayneEmulator.on_apstar_grid(flux7214.astype(float))
    cont, bad = fit_continuum(grid, mask=np.broadcast_to(gaps, grid.shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(bad, np.nan, grid / cont)
    return out


def emulator_model(labels: np.ndarray) -> np.ndarray:
    """Normalized Kurucz-emulator spectra at ``labels`` (n, 3: Teff, log g, [Fe/H]): (n, 8575),
    NaN off the chips.  [alpha/Fe] follows the simulator's mean relation; labels outside
    the emulator's range are clipped to it (the bounds part of the score flags them)."""
    labels = np.atleast_2d(np.asarray(labels, float))
    kur = _emulator("kurucz")
    lab4 = np.clip(np.column_stack([labels, alpha_fe(labels[:, 2])]), kur.x_min, kur.x_max)
    fk = kur.flux(lab4).astype(float)
    fk /= fk.mean(axis=1, keepdims=True)
    return _normalize_model(fk)


def alpha_fe(feh):
    """[alpha/Fe] of the simulated training stars at [Fe/H], without their 0.04 dex scatter."""
    return np.clip(-0.3 * np.asarray(feh, float), 0.0, 0.3)


def _own_noise(x, good):
    """Per-spectrum noise from pixel-to-pixel scatter (for input without errors)."""
    d = np.diff(np.where(good, x, np.nan), axis=1)
    with np.errstate(invalid="ignore"):
        med = np.nanmedian(d, axis=1, keepdims=True)
        return MAD_TO_SIGMA * np.nanmedian(np.abs(d - med), axis=1) / np.sqrt(2.0)


def _stats(x, m, err, good, systematic, trim):
    w = np.where(good & np.isfinite(m), 1.0 / (err ** 2 + systematic ** 2), 0.0)
    m = np.where(w > 0, m, 1.0)
    r2 = np.where(w > 0, (x - m) ** 2 * w, np.inf)
    npx = (w > 0).sum(axis=1)
    keep = np.maximum(np.floor(npx * (1.0 - trim)).astype(int), 1)
    r2.sort(axis=1)
    csum = np.cumsum(np.where(np.isfinite(r2), r2, 0.0), axis=1)
    chi2 = np.where(npx > 0, csum[np.arange(len(x)), keep - 1] / keep, np.inf)
    den = (w * (m - 1.0) ** 2).sum(axis=1)
    a = (w * (x - 1.0) * (m - 1.0)).sum(axis=1) / np.maximum(den, 1e-30)
    return chi2, a


def consistency(flux, error, mask, labels, *, systematic: float = DEFAULTS["systematic"],
                trim: float = DEFAULTS["trim"]) -> dict:
    """Reduced chi-square and line amplitude of prepared spectra against the Kurucz emulator.

    Parameters
    ----------
    flux, error, mask : prepared input (:class:`zoo.preprocess.Prepared` fields; ``error`` may be None).
    labels : (n, 3) predicted Teff, log g, [Fe/H].

    Returns dict of (n,) arrays ``chi2`` and ``a``.
    """
    from zoo.families.apogeenet.apstar import aspcap_pixel_mask
    x = np.atleast_2d(np.asarray(flux, float))
    mask = np.broadcast_to(np.asarray(mask, bool), x.shape)
    good = ~mask & aspcap_pixel_mask()[None, :]
    if error is None:
        err = np.broadcast_to(_own_noise(x, good)[:, None], x.shape)
    else:
        err = np.asarray(error, float)
        good &= err > 0
    chi2, a = _stats(x, emulator_model(labels), err, good, systematic, trim)
    return {"chi2": chi2, "a": a}


def bounds_excess(labels, label_bounds) -> np.ndarray:
    """Largest excess of a label beyond the training box, as a fraction of that label's range
    (negative: inside, by the distance to the nearest bound)."""
    labels = np.atleast_2d(np.asarray(labels, float))
    lo = np.array([label_bounds[k][0] for k in LABELS])
    hi = np.array([label_bounds[k][1] for k in LABELS])
    ex = np.maximum(lo - labels, labels - hi) / (hi - lo)
    return ex.max(axis=1)


def components(cons: dict, labels, trust: dict) -> dict:
    """The score's components (1 = at the cut)."""
    lo, hi = trust.get("amp_range", DEFAULTS["amp_range"])
    a = cons["a"]
    return {"chi2": cons["chi2"] / float(trust.get("chi2_cut", DEFAULTS["chi2_cut"])),
            "amplitude": np.where(a < 1.0, (1.0 - a) / (1.0 - lo), (a - 1.0) / (hi - 1.0)),
            "bounds": np.maximum(0.0, 1.0 + bounds_excess(labels, trust.get("label_bounds", DEFAULTS["label_bounds"]))
                                 / float(trust.get("bounds_scale", DEFAULTS["bounds_scale"])))}


def score_from(cons: dict, labels, trust: dict) -> np.ndarray:
    c = components(cons, labels, trust)
    s = np.maximum(np.maximum(c["chi2"], c["amplitude"]), c["bounds"])
    return np.where(np.isfinite(s), s, np.inf)


def _labels_from_raw(predictor, raw) -> np.ndarray:
    out = predictor.card.output("labels")
    v = np.asarray(raw["labels"], float)
    if out.mean is not None:
        v = np.asarray(out.mean) + np.asarray(out.std) * v
    return v


def domain_score(predictor, prepared, raw) -> np.ndarray:
    """``fn(predictor, prepared, raw)`` of :func:`zoo.registry.register_trust`."""
    trust = predictor.card.trust
    labels = _labels_from_raw(predictor, raw)
    if labels.shape[0] == 0:
        return np.zeros(0)
    cons = consistency(prepared.flux, prepared.error, prepared.mask, labels,
                       systematic=float(trust.get("systematic", DEFAULTS["systematic"])),
                       trim=float(trust.get("trim", DEFAULTS["trim"])))
    return score_from(cons, labels, trust)


# ----------------------------------------------------------------------------- uncertainties
def label_uncertainty(predictor, sigma_noise: dict) -> dict:
    """``<label>_std`` = hypot(noise_scale * sigma_noise, sigma_model) with the card's calibration
    (``trust["uncertainty"]``; without one, sigma_noise unchanged)."""
    unc = (predictor.card.trust or {}).get("uncertainty", {})
    sm, ns = unc.get("sigma_model", {}), unc.get("noise_scale", {})
    return {f"{k}_std": np.hypot(float(ns.get(k, 1.0)) * np.asarray(sigma_noise[k], float), float(sm.get(k, 0.0)))
            for k in LABELS}


def predict_with_uncertainty(predictor, X, *, n_realizations: int | None = None, seed: int = 0, **kw) -> dict:
    """Predict with calibrated uncertainties: the labels (mean over realizations),
    ``<label>_std`` (total, calibrated), ``<label>_std_noise`` (noise realizations only),
    ``domain_score`` and ``out_of_domain``.

    Needs per-pixel errors (``error=`` or a file that has them).
    """
    unc = (predictor.card.trust or {}).get("uncertainty", {})
    n = int(n_realizations or unc.get("n_realizations", 100))
    r = predictor.predict(X, return_uncertainty=True, n_realizations=n, seed=seed, **kw)
    # the raw realization spread: ``<label>_std_noise`` once the core applies the calibration itself
    noise = {k: r.get(f"{k}_std_noise", r[f"{k}_std"]) for k in LABELS}
    out = dict(r)
    for k in LABELS:
        out[f"{k}_std_noise"] = noise[k]
    out.update(label_uncertainty(predictor, noise))
    return out


def register() -> None:
    from zoo.registry import register_trust
    register_trust(METHOD, domain_score)
