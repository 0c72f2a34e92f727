"""Out-of-domain score of the RAC-Net family: nearest training neighbours in a PCA space, and roughness.

Method ``"pca_knn"`` (card ``trust``; registered with :func:`zoo.registry.register_trust`).
Each exported model carries ``trust.npz`` (written at training time by
:func:`fit_trust`), computed from the *training* split on the model's own input
(the L2-normalized, filled flux of Eq. 1):

- ``mean`` and ``components``: the first ``k`` principal components;
- ``sd``: the training spread of each feature, a feature being the ``k``
  PCA coefficients plus the norm of the PCA residual (so that a noisy
  spectrum lies near noisy training spectra, not far from everything),
  each divided by its spread (whitened: a rare direction counts as much as
  a common one);
- ``reference``: the whitened features of up to ``m`` training spectra;
- ``rough_median``, ``rough_sigma``: the training distribution of the
  roughness ``log(median |x[i+1] - x[i]| * sqrt(n))`` (noise and lines);
- ``scale``, ``rough_scale``: the normalizations that make both parts 1 for
  a typical / a 99th-percentile held-out in-domain spectrum.

The score of a spectrum is the larger of (a) its distance to the
``k_nn``-th nearest reference divided by ``scale`` and (b) its roughness
z-score divided by ``rough_scale`` (a line without noise or lines, or pure
noise, is far off in (b) although it may sit near smooth or noisy training
spectra in (a)).  It is ``out_of_domain`` above the card's ``threshold``,
the ``quantile`` of the validation split's scores (so that about 1 -
quantile of in-domain spectra are flagged).  A kind of spectrum the
training data lack (a galaxy for the F/G/K model, an M star, a white dwarf)
sits far from every training spectrum in this space.  numpy only: it runs
on every backend.
"""
from __future__ import annotations

import os

import numpy as np

from zoo.registry import register_trust

__all__ = ["DESCRIPTION", "fit_trust", "features", "roughness", "score", "pca_knn_score", "TRUST_FILE"]

TRUST_FILE = "trust.npz"
#: the card's ``trust["description"]``
DESCRIPTION = ("larger of (a) the distance to the 5th nearest of 2000 training spectra in the whitened space of "
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


def _kth_distance(feat: np.ndarray, ref: np.ndarray, k_nn: int, batch: int = 512) -> np.ndarray:
    out = np.empty(feat.shape[0])
    r2 = np.sum(ref ** 2, axis=1)
    for i in range(0, feat.shape[0], batch):
        f = feat[i:i + batch]
        d2 = np.sum(f ** 2, axis=1)[:, None] + r2[None, :] - 2 * f @ ref.T
        out[i:i + batch] = np.sqrt(np.maximum(np.partition(d2, k_nn - 1, axis=1)[:, k_nn - 1], 0.0))
    return out


def _parts(flux, trust):
    feat = features(flux, trust["mean"], trust["components"], trust["sd"])
    knn = _kth_distance(feat, trust["reference"], int(trust["k_nn"]))
    rough = np.abs(roughness(flux) - float(trust["rough_median"])) / float(trust["rough_sigma"])
    return knn, rough


def score(flux: np.ndarray, trust: dict) -> np.ndarray:
    """Domain score of L2-normalized contract-grid spectra under a loaded ``trust.npz``."""
    if np.asarray(flux).shape[0] == 0:
        return np.zeros(0)
    knn, rough = _parts(flux, trust)
    return np.maximum(knn / float(trust["scale"]), rough / float(trust["rough_scale"]))


def fit_trust(train_flux: np.ndarray, val_flux: np.ndarray, *, k: int = 32, m: int = 2000, k_nn: int = 5,
              quantile: float = 0.975, seed: int = 0) -> tuple[dict, float]:
    """PCA on (a subsample of) the training flux, references from it, scales and threshold from
    the validation flux.  Returns ``(arrays for trust.npz, threshold)``."""
    rng = np.random.default_rng(seed)
    train_flux = np.asarray(train_flux, np.float64)
    sub = train_flux[rng.choice(len(train_flux), min(len(train_flux), m), replace=False)]
    mean = sub.mean(axis=0)
    _, _, vt = np.linalg.svd(sub - mean, full_matrices=False)
    comps = vt[:k]
    raw = features(sub, mean, comps)
    sd = raw.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    rough = roughness(sub)
    med = np.median(rough)
    sig = 1.4826 * np.median(np.abs(rough - med)) or 1.0
    arrays = {"mean": mean.astype(np.float32), "components": comps.astype(np.float32),
              "sd": sd.astype(np.float64), "reference": (raw / sd).astype(np.float32), "k_nn": np.int64(k_nn),
              "rough_median": np.float64(med), "rough_sigma": np.float64(sig),
              "scale": np.float64(1.0), "rough_scale": np.float64(1.0), "quantile": np.float64(quantile)}
    knn, rgh = _parts(val_flux, arrays)
    arrays["scale"] = np.float64(np.median(knn))
    # the roughness part is put on the knn part's scale at the 99th percentile of in-domain spectra
    arrays["rough_scale"] = np.float64(np.quantile(rgh, 0.99) / np.quantile(knn / arrays["scale"], 0.99))
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
    """The registered trust function: ``predictor.directory/trust.npz`` applied to the prepared flux."""
    return score(prepared.flux, _load(predictor.directory))


register_trust("pca_knn", pca_knn_score)
