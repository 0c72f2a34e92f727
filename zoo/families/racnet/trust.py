"""Out-of-domain score of the RAC-Net family: nearest training neighbours in PCA spaces, and roughness.

Methods (card ``trust["method"]``; registered with :func:`zoo.registry.register_trust`):

``"pca_knn2"`` (``racnet_fgk`` since the refit of docs/racnet.md "Out-of-domain flags"; the DS1/DS2
models keep ``"pca_knn"``, :data:`METHOD_FOR_TASK`).
Each exported model carries ``trust.npz`` (written by :func:`fit_trust`), computed from
the *training* split on the model's own input (the L2-normalized, filled flux of Eq. 1).
The score of a spectrum is the largest of three parts, each 1 for a typical in-domain spectrum:

(a) ``l2``: the distance to the ``k_nn``-th nearest of up to ``m`` training spectra in a
    whitened space of the first ``k`` principal components of the flux plus the norm of
    the PCA residual (so that a noisy spectrum lies near noisy training spectra, not far
    from everything), divided by its median over held-out in-domain spectra;
(b) ``tilt``: the same in the space of the *tilt-removed* flux: each spectrum divided by
    exp of a straight line in log flux against log wavelength (Legendre degree
    ``tilt_degree`` = 1, least squares over pixels above 5 % of the median |flux|),
    L2-normalized again.  Reddening and flux-calibration errors act mostly as such a
    tilt, a nuisance that spreads the training spectra along directions where a galaxy
    or an M star can find a neighbour; without it the line and band pattern counts more.
    Higher degrees (and a running-median continuum division) remove the broad band shapes
    (4000 Å break, TiO) that do separate galaxies and M stars in this simulation: they
    were tried and flagged fewer probes (docs/racnet.md, selection protocol);
(c) ``rough``: the roughness ``log(median |x[i+1] - x[i]| * sqrt(n))`` as a z-score on the
    training spectra (median, MAD sigma), divided by the training range on its side: 1 at the
    roughest and at the smoothest training spectrum, then multiplied by the 99th percentile
    of (a) over validation spectra.  Only a spectrum rougher or smoother than (nearly) every
    training spectrum (pure noise, a featureless line) reaches the threshold through (c);
    the z-score of ``"pca_knn"``, scaled at its own 99th percentile, also let the legitimately
    rough in-domain low-S/N spectra raise the threshold.  (A one-sided version, smoother
    only, left pure noise unflagged for ``racnet_ds2``, whose training set has S/N 3
    galaxies and quasars.)

``out_of_domain`` above the card's ``threshold``, the ``quantile`` (0.975) of the
validation split's scores (so that about 1 - quantile of in-domain spectra are flagged).

``"pca_knn"`` (the first exports; kept registered for cards that name it): the larger of
(a) and a two-sided roughness z-score put on (a)'s scale at the 99th percentile.

``"pca_knn_tpl"`` (every exported RAC-Net since docs/racnet.md "Template parts"): the knn score
above (whichever of the two the arrays hold, divided by its own threshold ``knn_threshold``) and
two parts from redrock-like template fits (:mod:`.tplfit`, the DESI templates the simulator draws
from), each 1 at its cut and 0.1 higher per sigma below it:

(s) **signal**: ``z_s = sqrt(chi2_poly - chi2_best)`` (signed), how much better the best template
    (stellar, or the called class's) explains the spectrum than a smooth curve alone: pure noise, a
    flat line and a spectrum without an object (sky residuals and noise) have no significant
    template structure.  Cut ``tpl_cut_signal``: the ``tpl_quantile_signal`` quantile of z_s over
    simulated validation spectra of the model's classes (known truth, a seed of their own);
(c) **class consistency**, for a GALAXY or QSO call only: ``z_c = sqrt(chi2_star - chi2_call)``
    (signed), how much better the called class's templates at their best redshift explain the
    spectrum than the stellar templates at z ~ 0.  Cut ``tpl_cut_<class>``: the
    ``tpl_quantile_consistency`` quantile of z_c over simulated validation spectra of that class.

Neither part applies to an UNKNOWN call of ``racnet_ds1``: UNKNOWN is that model's answer for a
spectrum without a usable object.  ``out_of_domain`` when the largest part exceeds 1 (the card's
threshold).  The fits need the network's call: the registered function reads it from the raw
output (numpy, every backend alike).

numpy only: it runs on every backend.
"""
from __future__ import annotations

import numpy as np

from zoo.stats import MAD_TO_SIGMA
from zoo.registry import register_trust, register_trust_variant

__all__ = ["DESCRIPTION", "DESCRIPTION_V1", "DESCRIPTION_TPL", "METHOD", "METHOD_FOR_TASK", "METHOD_TPL",
           "fit_trust", "features", "roughness", "detrend", "score", "score_parts", "pca_knn_score", "reference",
           "TRUST_FILE",
           "fit_template_cuts", "template_z", "template_parts", "score_tpl", "TPL_KEYS", "TPL_SEED_OFFSET"]

TRUST_FILE = "trust.npz"
#: the method :func:`fit_trust` fits by default (the card's ``trust["method"]``)
METHOD = "pca_knn2"
#: the method each task's model gets (training/racnet/__init__.py, scripts/racnet_refit_trust.py): the tilt part
#: is for the F/G/K model, given galaxies, quasars and other stars; the STAR/GALAXY/QSO(/UNKNOWN) models
#: already cover those, gained nothing on the selection probes and flagged more of their own quasars
#: (DS2: 17 % against 10 %) and UNKNOWN spectra with it, so they keep ``"pca_knn"``
METHOD_FOR_TASK = {"ds1": "pca_knn", "ds2": "pca_knn", "fgk": "pca_knn2"}
#: the method of the exported cards: the knn score of METHOD_FOR_TASK plus the template parts
METHOD_TPL = "pca_knn_tpl"
#: the simulated validation spectra that set the template cuts are drawn with ``recipe.seed + TPL_SEED_OFFSET``
#: (not the training data's seed, not the reported probes' ``+ 23``, not the reported test set's ``+ 202``)
TPL_SEED_OFFSET = 101
#: quantiles of the cuts, fixed before any real spectrum was scored (docs/racnet.md "Template parts")
TPL_QUANTILE_SIGNAL = 0.005
TPL_QUANTILE_CONSISTENCY = 0.01
#: the (x) part (a model without GALAXY/QSO classes: F/G/K): its cut is this upper quantile of z_x over
#: simulated validation stars of its classes
TPL_QUANTILE_STELLAR = 0.99
#: a part grows by 1 / TPL_SCALE per sigma below its cut; parts are capped at TPL_CAP
TPL_SCALE = 10.0
TPL_CAP = 100.0
#: the tilt of ``detrend(kind="poly")`` is fitted over the pixels above this share of the median |flux|
TILT_MIN_FLUX = 0.05
#: the keys :func:`fit_template_cuts` adds to trust.npz
TPL_KEYS = ("knn_threshold", "tpl_cut_signal", "tpl_cut_GALAXY", "tpl_cut_QSO", "tpl_quantile_signal",
            "tpl_quantile_consistency", "tpl_scale", "tpl_degree", "tpl_rebin", "tpl_join_mask", "tpl_n_validation",
            "tpl_cut_stellar", "tpl_quantile_stellar")
#: the card's ``trust["description"]`` of ``"pca_knn2"``
DESCRIPTION = ("largest of (a) the distance to the 5th nearest of 2000 training spectra in the whitened space of "
               "32 principal components plus the PCA residual norm of the model's own input (Eq. 1 flux), "
               "(b) the same for the tilt-removed flux (divided by a straight line in log flux against log "
               "wavelength: the reddening and flux-calibration nuisance), each divided by its median over "
               "in-domain validation spectra, and (c) the roughness z-score (log median |first difference|) "
               "over the training range on its side (1 at the roughest / smoothest training spectrum), times the "
               "99th percentile of (a): only noise or a featureless line beyond the training range; "
               "out_of_domain above the threshold, the 97.5 % quantile of the validation scores. See "
               "zoo/families/racnet/trust.py and docs/racnet.md.")
#: the description of the first method, ``"pca_knn"``
DESCRIPTION_V1 = ("larger of (a) the distance to the 5th nearest of 2000 training spectra in the whitened space of "
                  "32 principal components plus the PCA residual norm of the model's own input (Eq. 1 flux), "
                  "divided by its median over in-domain validation spectra, and (b) the roughness z-score "
                  "(log median |first difference|), put on the same scale at the 99th percentile; out_of_domain "
                  "above the threshold, the 97.5 % quantile of the validation scores. See "
                  "zoo/families/racnet/trust.py and docs/racnet.md.")
#: the card's ``trust["description"]`` of ``"pca_knn_tpl"``
DESCRIPTION_TPL = ("largest of three parts, out_of_domain above 1: (k) the knn score of the first exports (pca_knn, "
                   "or pca_knn2 for racnet_fgk: distance to the 5th nearest of 2000 training spectra in a PCA space, "
                   "and roughness) divided by its own threshold (knn_threshold, the 97.5 % quantile of in-domain "
                   "validation scores); (s) signal: z_s = sqrt(chi2 of a smooth curve (Legendre degree 3) minus chi2 "
                   "of the best redrock template fit (stellar classes A-M at z~0, and the called class's templates at "
                   "their best redshift), each template times a Legendre degree-3 polynomial, noise estimated from "
                   "the spectrum, arm join 5700-6000 A and bright sky lines excluded): pure noise, a flat line or sky residuals without an "
                   "object have no template structure; (c) class consistency, for a GALAXY or QSO call: z_c = "
                   "sqrt(chi2 of the stellar templates minus chi2 of the called class's templates): flagged when a "
                   "star explains the spectrum about as well. Each of (s), (c) is 1 at its cut and grows by 0.1 per "
                   "sigma below it; cuts are quantiles (0.5 % for z_s, 1 % per class for z_c) over simulated "
                   "validation spectra of known class (seed recipe.seed + 101). A model without GALAXY/QSO classes "
                   "(racnet_fgk) has (x) extragalactic consistency instead of (c): z_x = sqrt(chi2 of the stellar "
                   "templates minus the best chi2 of the galaxy and quasar templates at their best redshift), flagged "
                   "when a galaxy or a quasar explains the spectrum better than its simulated stars ever are (cut: the "
                   "99 % quantile of z_x over them; 1 at the cut, +0.1 per sigma above). For racnet_ds1 an UNKNOWN call "
                   "gets no (s) or (c): UNKNOWN is that model's answer for a spectrum without a usable object. See "
                   "zoo/families/racnet/trust.py, tplfit.py and docs/racnet.md.")


def features(flux: np.ndarray, mean: np.ndarray, components: np.ndarray, sd=None) -> np.ndarray:
    """(n, k + 1): PCA coefficients and the residual norm of each row of ``flux`` (divided by ``sd``)."""
    x = np.asarray(flux, np.float64) - mean
    c = x @ components.T
    resid = np.linalg.norm(x - c @ components, axis=1)
    f = np.concatenate([c, resid[:, None]], axis=1)
    return f if sd is None else f / sd


def roughness(flux: np.ndarray) -> np.ndarray:
    """log(median |first difference| * sqrt(n_pixels)) per row: noise and line content, scale-free."""
    flux = np.asarray(flux, np.float64)
    med = np.median(np.abs(np.diff(flux, axis=1)), axis=1) * np.sqrt(flux.shape[1])
    return np.log(np.maximum(med, 1e-8))


def detrend(flux: np.ndarray, degree: int = 1, kind: str = "poly", block: int = 64) -> np.ndarray:
    """Divide out a smooth continuum and L2-normalize again.

    ``kind="poly"``: exp of a Legendre polynomial of ``degree`` in log wavelength (pixel index),
    least squares on log flux over the pixels above 5 % of the median |flux| (filled zeros and
    negative noise excluded); degree 1 removes a tilt.  ``kind="median"``: the median of blocks of
    ``block`` pixels, interpolated linearly (a high-pass: what remains are lines and band edges).
    """
    x = np.asarray(flux, np.float64)
    n, p = x.shape
    med = np.median(np.abs(x), axis=1, keepdims=True)
    if kind == "poly":
        a = np.polynomial.legendre.legvander(np.linspace(-1.0, 1.0, p), int(degree))   # (p, degree + 1)
        w = (x > TILT_MIN_FLUX * med).astype(np.float64)
        y = np.log(np.maximum(x, TILT_MIN_FLUX * med + 1e-30))
        lhs = np.einsum("np,pi,pj->nij", w, a, a) + 1e-9 * np.eye(a.shape[1])
        rhs = np.einsum("np,pi->ni", w * y, a)
        cont = np.exp(np.linalg.solve(lhs, rhs[..., None])[..., 0] @ a.T)
        out = x / cont
    elif kind == "median":
        nb = -(-p // block)
        xp = np.concatenate([x, np.repeat(x[:, -1:], nb * block - p, axis=1)], axis=1)
        m = np.median(xp.reshape(n, nb, block), axis=2)
        centers = (np.arange(nb) + 0.5) * block - 0.5
        j = np.clip(np.searchsorted(centers, np.arange(p)) - 1, 0, nb - 2)
        w = np.clip((np.arange(p) - centers[j]) / block, 0.0, 1.0)
        cont = m[:, j] * (1 - w) + m[:, j + 1] * w
        ok = cont > 0.05 * med
        out = np.where(ok, x / np.where(ok, cont, 1.0), 0.0)
    else:
        raise ValueError(f"detrend kind {kind!r}: 'poly' or 'median'")
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-30)


def _kth_distance(feat: np.ndarray, ref: np.ndarray, k_nn: int, batch: int = 512) -> np.ndarray:
    out = np.empty(feat.shape[0])
    r2 = np.sum(ref ** 2, axis=1)
    for i in range(0, feat.shape[0], batch):
        f = feat[i:i + batch]
        d2 = np.sum(f ** 2, axis=1)[:, None] + r2[None, :] - 2 * f @ ref.T
        out[i:i + batch] = np.sqrt(np.maximum(np.partition(d2, k_nn - 1, axis=1)[:, k_nn - 1], 0.0))
    return out


def _pca(x: np.ndarray, k: int, seed: int, power: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the first ``k`` principal directions of the rows of ``x`` (randomized range finder
    with ``power`` iterations, then an exact SVD in that subspace: as the full SVD to ~1e-6 for
    these spectra, at a fraction of its cost on a loaded CPU)."""
    mean = x.mean(axis=0)
    a = x - mean
    q = min(k + 16, *a.shape)
    y = a.T @ (a @ np.random.default_rng(seed).normal(size=(a.shape[1], q)))
    for _ in range(power):
        y, _ = np.linalg.qr(y)
        y = a.T @ (a @ y)
    basis, _ = np.linalg.qr(y)
    _, _, vt = np.linalg.svd(a @ basis, full_matrices=False)
    return mean, vt[:k] @ basis.T


def _space(x: np.ndarray, k: int, seed: int, prefix: str = "") -> dict:
    mean, comps = _pca(x, k, seed)
    raw = features(x, mean, comps)
    sd = raw.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return {prefix + "mean": mean.astype(np.float32), prefix + "components": comps.astype(np.float32),
            prefix + "sd": sd.astype(np.float64), prefix + "reference": (raw / sd).astype(np.float32)}


def _tilt_input(flux, trust):
    kind = "median" if int(trust.get("tilt_kind", 0)) == 1 else "poly"
    return detrend(flux, int(trust.get("tilt_degree", 1)), kind, int(trust.get("tilt_block", 64)))


def score_parts(flux: np.ndarray, trust: dict) -> dict:
    """The unscaled parts of the score: ``l2`` (and ``tilt``) k-th neighbour distances, and the
    roughness: the absolute z-score (``"pca_knn"``) or the z-score over the training range (``"pca_knn2"``)."""
    k_nn = int(trust["k_nn"])
    out = {"l2": _kth_distance(features(flux, trust["mean"], trust["components"], trust["sd"]),
                               trust["reference"], k_nn)}
    z = (roughness(flux) - float(trust["rough_median"])) / float(trust["rough_sigma"])
    if "tilt_reference" in trust:
        t = _tilt_input(flux, trust)
        out["tilt"] = _kth_distance(features(t, trust["tilt_mean"], trust["tilt_components"], trust["tilt_sd"]),
                                    trust["tilt_reference"], k_nn)
        # roughness relative to the training range: 1 at the roughest (z / rough_hi) or the smoothest
        # (-z / rough_lo) training spectrum
        out["rough"] = np.maximum(np.maximum(z / float(trust["rough_hi"]), -z / float(trust["rough_lo"])), 0.0)
    else:
        out["rough"] = np.abs(z)
    return out


def score(flux: np.ndarray, trust: dict) -> np.ndarray:
    """Domain score of L2-normalized contract-grid spectra under a loaded ``trust.npz``
    (either method: the arrays say which)."""
    if np.asarray(flux).shape[0] == 0:
        return np.zeros(0)
    p = score_parts(flux, trust)
    if "tilt" in p:
        return np.maximum.reduce([p["l2"] / float(trust["scale"]), p["tilt"] / float(trust["tilt_scale"]),
                                  p["rough"] * float(trust["rough_scale"])])
    return np.maximum(p["l2"] / float(trust["scale"]), p["rough"] / float(trust["rough_scale"]))


def fit_trust(train_flux: np.ndarray, val_flux: np.ndarray, *, method: str = METHOD, k: int = 32, m: int = 2000,
              k_nn: int = 5, quantile: float = 0.975, seed: int = 0, tilt_degree: int = 1, tilt_kind: str = "poly",
              tilt_block: int = 64) -> tuple[dict, float]:
    """PCA on (a subsample of) the training flux, references from it, scales and threshold from
    the validation flux.  Returns ``(arrays for trust.npz, threshold)``.  ``method`` is
    ``"pca_knn2"`` (default) or ``"pca_knn"``; the ``tilt_*`` settings are (b)'s continuum
    (kept in the arrays; the default is the one selected in docs/racnet.md)."""
    if method not in ("pca_knn", "pca_knn2"):
        raise ValueError(f"unknown method {method!r}")
    rng = np.random.default_rng(seed)
    train_flux = np.asarray(train_flux, np.float64)
    val_flux = np.asarray(val_flux, np.float64)
    sub = train_flux[rng.choice(len(train_flux), min(len(train_flux), m), replace=False)]
    k = min(k, len(sub) - 1)
    arrays = _space(sub, k, seed)
    rough = roughness(sub)
    med = np.median(rough)
    sig = MAD_TO_SIGMA * np.median(np.abs(rough - med)) or 1.0
    arrays.update(k_nn=np.int64(k_nn), rough_median=np.float64(med), rough_sigma=np.float64(sig),
                  scale=np.float64(1.0), quantile=np.float64(quantile))
    if method == "pca_knn2":
        arrays.update(_space(detrend(sub, tilt_degree, tilt_kind, tilt_block), k, seed, "tilt_"))
        z = (rough - med) / sig
        arrays.update(tilt_degree=np.int64(tilt_degree), tilt_kind=np.int64(tilt_kind == "median"),
                      tilt_block=np.int64(tilt_block), tilt_scale=np.float64(1.0),
                      rough_hi=np.float64(max(float(z.max()), 1.0)), rough_lo=np.float64(max(float(-z.min()), 1.0)),
                      rough_scale=np.float64(1.0))
        p = score_parts(val_flux, arrays)
        arrays["scale"] = np.float64(np.median(p["l2"]))
        arrays["tilt_scale"] = np.float64(np.median(p["tilt"]))
        # the training range of the roughness is put at the 99th percentile of the l2 part: only a spectrum
        # rougher or smoother than (nearly) every training spectrum reaches the threshold this way
        arrays["rough_scale"] = np.float64(np.quantile(p["l2"] / arrays["scale"], 0.99))
    else:
        arrays["rough_scale"] = np.float64(1.0)
        p = score_parts(val_flux, arrays)
        arrays["scale"] = np.float64(np.median(p["l2"]))
        # the roughness part is put on the knn part's scale at the 99th percentile of in-domain spectra
        arrays["rough_scale"] = np.float64(np.quantile(p["rough"], 0.99) / np.quantile(p["l2"] / arrays["scale"], 0.99))
    threshold = float(np.quantile(score(val_flux, arrays), quantile))
    return arrays, threshold


# --------------------------------------------------------------------------- template parts
def _signed_sqrt(d: np.ndarray) -> np.ndarray:
    return np.sign(d) * np.sqrt(np.abs(d))


def template_z(flux: np.ndarray, filled: np.ndarray | None, calls, extragalactic: bool = False) -> dict:
    """``{"signal": z_s, "consistency": z_c (NaN unless the call is GALAXY or QSO), "extragalactic": z_x}``
    of prepared rows (``filled``: the prepared mask) given the class called for each (names; other
    names: stars).  ``extragalactic``: also fit the galaxy and quasar templates to every row called a
    star, z_x = sqrt(chi2_star - min(chi2_galaxy, chi2_qso)) (signed; NaN when not computed)."""
    from .tplfit import fit_chi2
    flux = np.asarray(flux, np.float64)
    calls = np.asarray(calls).astype(str)
    n = flux.shape[0]
    z_s = np.full(n, np.nan)
    z_c = np.full(n, np.nan)
    z_x = np.full(n, np.nan)
    base = fit_chi2(flux, filled, ("poly", "star"))
    best = base["star"].copy()
    sub = lambda sel: None if filled is None else np.asarray(filled)[sel]  # noqa: E731
    for cls, key in (("GALAXY", "galaxy"), ("QSO", "qso")):
        sel = np.nonzero(calls == cls)[0]
        if sel.size:
            r = fit_chi2(flux[sel], sub(sel), (key,))
            z_c[sel] = _signed_sqrt(base["star"][sel] - r[key])
            best[sel] = np.minimum(best[sel], r[key])
    if extragalactic:
        sel = np.nonzero(~np.isin(calls, ["GALAXY", "QSO", "UNKNOWN"]))[0]
        if sel.size:
            r = fit_chi2(flux[sel], sub(sel), ("galaxy", "qso"))
            z_x[sel] = _signed_sqrt(base["star"][sel] - np.minimum(r["galaxy"], r["qso"]))
    z_s[:] = _signed_sqrt(base["poly"] - best)
    return {"signal": z_s, "consistency": z_c, "extragalactic": z_x}


def _part(z: np.ndarray, cut: float, scale: float) -> np.ndarray:
    return np.clip(1.0 + (cut - z) / scale, 0.0, TPL_CAP)


def template_parts(flux: np.ndarray, filled, calls, arrays: dict) -> dict:
    """The (s) and (c) parts (1 at the cut; 0 where they do not apply) and the z values."""
    from . import tplfit
    for key, have in (("tpl_degree", tplfit.DEGREE), ("tpl_rebin", tplfit.REBIN)):
        if int(arrays[key]) != have:
            raise ValueError(f"trust.npz was fitted with {key} = {int(arrays[key])}, the code has {have}: "
                             "retrain the model, whose run refits it (python -m training.racnet --model NAME)")
    calls = np.asarray(calls).astype(str)
    stellar = "tpl_cut_stellar" in arrays and np.isfinite(float(arrays["tpl_cut_stellar"]))
    z = template_z(flux, filled, calls, extragalactic=stellar)
    scale = float(arrays["tpl_scale"])
    applies = calls != "UNKNOWN"
    sig = np.where(applies, _part(z["signal"], float(arrays["tpl_cut_signal"]), scale), 0.0)
    con = np.zeros(len(calls))
    for cls in ("GALAXY", "QSO"):
        sel = calls == cls
        con[sel] = _part(z["consistency"][sel], float(arrays[f"tpl_cut_{cls}"]), scale)
    ext = np.zeros(len(calls))
    if stellar:     # above the cut: a galaxy or a quasar explains the spectrum better than stars ever are
        sel = np.isfinite(z["extragalactic"])
        ext[sel] = _part(-z["extragalactic"][sel], -float(arrays["tpl_cut_stellar"]), scale)
    return {"signal": sig, "consistency": np.maximum(con, ext), "z_signal": z["signal"],
            "z_consistency": np.where(np.isfinite(z["consistency"]), z["consistency"], z["extragalactic"])}


def score_tpl(flux: np.ndarray, filled, calls, arrays: dict) -> np.ndarray:
    """The ``"pca_knn_tpl"`` score: max of knn / knn_threshold and the two template parts."""
    if np.asarray(flux).shape[0] == 0:
        return np.zeros(0)
    knn = score(flux, arrays) / float(arrays["knn_threshold"])
    p = template_parts(flux, filled, calls, arrays)
    return np.maximum.reduce([knn, p["signal"], p["consistency"]])


def fit_template_cuts(task: str, contract, seed: int, n_per_class: int = 400,
                      q_signal: float = TPL_QUANTILE_SIGNAL, q_consistency: float = TPL_QUANTILE_CONSISTENCY) -> dict:
    """Cuts of the template parts from simulated validation spectra of ``task``'s classes (known truth,
    drawn with ``seed``; the true class stands for the call): the ``q_signal`` quantile of z_s over
    every class but UNKNOWN, the ``q_consistency`` quantile of z_c per GALAXY / QSO class (for a task
    without them, the pooled GALAXY and QSO spectra of a DS2-like draw, so that the keys exist).
    Returns the arrays to add to trust.npz (without ``knn_threshold``)."""
    from zoo.preprocess import to_contract
    from . import tplfit
    from .simulate import simulate
    kinds = {"ds1": ("STAR", "GALAXY", "QSO"), "ds2": ("STAR", "GALAXY", "QSO"), "fgk": ("F", "G", "K")}[task]
    rng = np.random.default_rng(seed)
    labels = [k for k in kinds for _ in range(n_per_class)]
    sim = simulate(labels, rng)
    prep = to_contract(sim["flux"], contract, error=sim["error"], mask=sim["mask"])
    labels = np.array(labels)
    calls = np.where(np.isin(labels, ["GALAXY", "QSO"]), labels, "STAR")
    stellar_only = not np.isin(labels, ["GALAXY", "QSO"]).any()
    z = template_z(prep.flux, prep.mask, calls, extragalactic=stellar_only)
    out = {"tpl_cut_signal": np.float64(np.quantile(z["signal"], q_signal))}
    if stellar_only:      # (x): the model has no GALAXY/QSO class
        out.update(tpl_cut_stellar=np.float64(np.quantile(z["extragalactic"], TPL_QUANTILE_STELLAR)),
                   tpl_quantile_stellar=np.float64(TPL_QUANTILE_STELLAR))
    for cls in ("GALAXY", "QSO"):
        sel = labels == cls
        out[f"tpl_cut_{cls}"] = np.float64(np.quantile(z["consistency"][sel], q_consistency)) if sel.any() \
            else np.float64(np.inf)   # never called: (c) never applies
    out.update(tpl_quantile_signal=np.float64(q_signal), tpl_quantile_consistency=np.float64(q_consistency),
               tpl_scale=np.float64(TPL_SCALE), tpl_degree=np.int64(tplfit.DEGREE), tpl_rebin=np.int64(tplfit.REBIN),
               tpl_join_mask=np.asarray(tplfit.JOIN_MASK, np.float64), tpl_n_validation=np.int64(len(labels)))
    return out


def reference(predictor) -> dict:
    """The model's ``trust.npz`` arrays (those stored as float32 as float64), checked against the card's
    sha256 and read once per file and sha256 (:meth:`zoo.predictor.Predictor.artifact_arrays`)."""
    return predictor.artifact_arrays(TRUST_FILE, dtype=np.float64)


def pca_knn_score(predictor, prepared, raw) -> np.ndarray:
    """The registered trust function: the model's ``trust.npz`` (:func:`reference`) applied to the prepared
    flux (the arrays say which method; both names are registered so that older cards keep working)."""
    return score(prepared.flux, reference(predictor))


def pca_knn_tpl_score(predictor, prepared, raw) -> np.ndarray:
    """The registered ``"pca_knn_tpl"`` function: the call is the argmax of the raw class output."""
    classes = np.asarray(predictor.card.output("class").classes)
    prob = np.asarray(raw["class"])
    calls = classes[np.argmax(prob, axis=1)] if prob.shape[0] else np.zeros(0, str)
    return score_tpl(prepared.flux, prepared.mask, calls, reference(predictor))


def pca_knn_tpl_fast_score(predictor, prepared, raw) -> np.ndarray:
    """The ``"fast"`` variant of ``"pca_knn_tpl"`` (``python -m zoo predict ... --trust fast``): its knn part
    alone, ``score / knn_threshold``, without the template fits (~0.1 ms a spectrum instead of 3-25 ms).
    It is a lower bound of the full score, so every spectrum it flags the full method flags too; it misses
    what only the template parts see (no object, a call the templates contradict)."""
    arrays = reference(predictor)
    if np.asarray(prepared.flux).shape[0] == 0:
        return np.zeros(0)
    return score(prepared.flux, arrays) / float(arrays["knn_threshold"])


#: what the fast variant leaves out (the archive metadata record it with the method name)
DESCRIPTION_TPL_FAST = ("pca_knn_tpl without its template parts: the knn part alone (knn score / knn_threshold), "
                        "out_of_domain above 1; a lower bound of the full score (every spectrum it flags, "
                        "pca_knn_tpl flags too), blind to what only the template fits see (no object in the "
                        "spectrum, a GALAXY/QSO call that the stellar templates explain as well)")

register_trust("pca_knn", pca_knn_score)
register_trust("pca_knn2", pca_knn_score)
register_trust(METHOD_TPL, pca_knn_tpl_score)
register_trust_variant(METHOD_TPL, "fast", pca_knn_tpl_fast_score, DESCRIPTION_TPL_FAST)
