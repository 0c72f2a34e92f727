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

numpy only: it runs on every backend.
"""
from __future__ import annotations

import os

import numpy as np

from zoo.registry import register_trust

__all__ = ["DESCRIPTION", "DESCRIPTION_V1", "METHOD", "METHOD_FOR_TASK", "fit_trust", "features", "roughness",
           "detrend", "score", "score_parts", "pca_knn_score", "TRUST_FILE"]

TRUST_FILE = "trust.npz"
#: the method :func:`fit_trust` fits by default (the card's ``trust["method"]``)
METHOD = "pca_knn2"
#: the method each task's model gets (training/racnet.py, scripts/racnet_refit_trust.py): the tilt part
#: is for the F/G/K model, given galaxies, quasars and other stars; the STAR/GALAXY/QSO(/UNKNOWN) models
#: already cover those, gained nothing on the selection probes and flagged more of their own quasars
#: (DS2: 17 % against 10 %) and UNKNOWN spectra with it, so they keep ``"pca_knn"``
METHOD_FOR_TASK = {"ds1": "pca_knn", "ds2": "pca_knn", "ds3": "pca_knn2"}
#: the card's ``trust["description"]`` of ``"pca_knn2"``
DESCRIPTION = ("largest of (a) the distance to the 5th nearest of 2000 training spectra in the whitened space of "
               "32 principal components plus the PCA residual norm of the model's own input (Eq. 1 flux), "
               "(b) the same for the tilt-removed flux (divided by a straight line in log flux against log "
               "wavelength: the reddening and flux-calibration nuisance), each divided by its median over "
               "in-domain validation spectra, and (c) the roughness z-score (log median |first difference|) "
               "over the training range on its side (1 at the roughest / smoothest training spectrum), times the "
               "99th percentile of (a): only noise or a featureless line beyond the training range; "
               "out_of_domain above the threshold, the 97.5 % quantile of the validation scores. See "
               "zoo/families/lamost_class/trust.py and docs/racnet.md.")
#: the description of the first method, ``"pca_knn"``
DESCRIPTION_V1 = ("larger of (a) the distance to the 5th nearest of 2000 training spectra in the whitened space of "
                  "32 principal components plus the PCA residual norm of the model's own input (Eq. 1 flux), "
                  "divided by its median over in-domain validation spectra, and (b) the roughness z-score "
                  "(log median |first difference|), put on the same scale at the 99th percentile; out_of_domain "
                  "above the threshold, the 97.5 % quantile of the validation scores. See "
                  "zoo/families/lamost_class/trust.py and docs/racnet.md.")
_CACHE: dict = {}


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
        w = (x > 0.05 * med).astype(np.float64)
        y = np.log(np.maximum(x, 0.05 * med + 1e-30))
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
    sig = 1.4826 * np.median(np.abs(rough - med)) or 1.0
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


def _load(directory: str) -> dict:
    path = os.path.join(directory, TRUST_FILE)
    key = (path, os.path.getmtime(path)) if os.path.exists(path) else None
    if key is None:
        raise FileNotFoundError(f"{path}: the model's out-of-domain reference (trust.npz) is missing")
    if key not in _CACHE:
        with np.load(path) as d:
            _CACHE[key] = {k: d[k].astype(np.float64) if d[k].dtype == np.float32 else d[k] for k in d.files}
    return _CACHE[key]


def pca_knn_score(predictor, prepared, raw) -> np.ndarray:
    """The registered trust function: ``predictor.directory/trust.npz`` applied to the prepared flux
    (the arrays say which method; both names are registered so that older cards keep working)."""
    return score(prepared.flux, _load(predictor.directory))


register_trust("pca_knn", pca_knn_score)
register_trust("pca_knn2", pca_knn_score)
