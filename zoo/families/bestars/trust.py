"""Out-of-domain score of the emission family: distance from the simulated training
spectra in the PCA space of the standardized inputs (numpy only, any backend).

Why this method: the networks see 140 standardized fluxes; the training set is a
well-sampled cloud in that space (thesis ch. 8 shows it with PCA).  Spectra the
thesis found misclassified in LAMOST -- noisy or damaged spectra, kinds the
Ondřejov set never had (Sec. 9.4, "the neural network is not trained to
recognize noisy or damaged spectra") -- fall outside that cloud, either along
the leading components (Hotelling's T^2) or off their span (the residual Q,
e.g. noise spread over every pixel).  The score averages both, each scaled to 1
for a typical training spectrum::

    score = 0.5 * (T^2 / k + Q / mean_train(Q))

with ``k`` components (recipe ``trust_components``).  A row without variance
(a flat line, standardized to all zeros) scores ``inf``.  The threshold in the
card is a quantile of the validation scores (recipe ``trust_quantile``).  The
reference (``mean``, ``components``, ``variances``, ``q_mean``) is stored in
``trust.npz`` in the exported directory, with its sha256 in the card's
``artifacts``: read through :meth:`zoo.predictor.Predictor.artifact_arrays` (checked
against the card like the models, read once per file and sha256).
"""
from __future__ import annotations

import os

import numpy as np

from zoo.registry import register_trust

__all__ = ["METHOD", "fit_reference", "pca_score", "save_reference", "TRUST_FILE"]

METHOD = "emission_pca_distance"
TRUST_FILE = "trust.npz"


def fit_reference(x, n_components: int = 12) -> dict:
    """PCA of the standardized training inputs ``x`` (n, 140): the reference of :func:`pca_score`."""
    x = np.asarray(x, float)
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s ** 2 / (x.shape[0] - 1)
    ref = {"mean": mean, "components": vt[:n_components], "variances": var[:n_components],
           "q_mean": np.array(1.0)}
    q = _parts(x, ref)[1]
    ref["q_mean"] = np.array(float(np.mean(q)))
    return ref


def _parts(x, ref):
    d = np.asarray(x, float) - ref["mean"]
    z = d @ ref["components"].T
    t2 = np.sum(z ** 2 / ref["variances"], axis=1)
    q = np.sum((d - z @ ref["components"]) ** 2, axis=1)
    return t2, q


def pca_score(x, ref) -> np.ndarray:
    """Domain score of standardized inputs ``x`` (n, 140); ~1 for typical training spectra."""
    x = np.atleast_2d(np.asarray(x, float))
    t2, q = _parts(x, ref)
    score = 0.5 * (t2 / len(ref["variances"]) + q / float(ref["q_mean"]))
    flat = x.std(axis=1) < 0.5          # standardized rows have unit variance unless degenerate
    return np.where(flat, np.inf, score)


def save_reference(ref: dict, directory) -> str:
    path = os.path.join(os.fspath(directory), TRUST_FILE)
    np.savez(path, **{k: np.asarray(v, np.float64) for k, v in ref.items()})
    return path


def _score(predictor, prepared, raw):
    return pca_score(prepared.flux, predictor.artifact_arrays(TRUST_FILE))


register_trust(METHOD, _score)


# --------------------------------------------------------------------------- refit on a user's spectra
UNION = "emission_pca_union"
UNION_DESCRIPTION = (
    "score = min(s_sim / t_sim, s_user / t_user): the simulated training spectra's score "
    "(emission_pca_distance, its card threshold t_sim) and the same score against the user's own "
    "unlabelled real spectra (PCA reference of the refit table, k components; t_user the trust "
    "quantile of its 5-fold out-of-fold scores); out_of_domain above 1, i.e. far from both. "
    "Reference in trust.npz (sim_* and user_* arrays). The network is the base model's: a spectrum "
    "near the user's stars is in domain, its H-alpha class is still the network's answer.")


def _union_score(predictor, prepared, raw):
    ref = predictor.artifact_arrays(TRUST_FILE)
    sim = {k[4:]: v for k, v in ref.items() if k.startswith("sim_")}
    user = {k[5:]: v for k, v in ref.items() if k.startswith("user_")}
    s = pca_score(prepared.flux, sim) / float(ref["t_sim"])
    u = pca_score(prepared.flux, user) / float(ref["t_user"])
    return np.minimum(s, u)


def refit_union(predictor, flux, directory, seed: int = 0, folds: int = 5):
    """:func:`zoo.registry.register_domain_refit` for ``emission_pca_distance``: keep the simulated
    reference, add one fit on ``flux`` (the user's spectra) with a threshold from out-of-fold scores."""
    from zoo.export import sha256
    base = predictor.artifact_arrays(TRUST_FILE)
    quantile = float((predictor.card.recipe or {}).get("trust_quantile", 0.99))
    k = int(min(len(base["variances"]), len(flux) - 2))
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(flux)) % folds
    oof = np.concatenate([pca_score(flux[fold == f], fit_reference(flux[fold != f], k)) for f in range(folds)])
    oof = oof[np.isfinite(oof)]
    t_user = float(np.quantile(oof, quantile))
    user = fit_reference(flux, k)
    arrays = {**{f"sim_{n}": v for n, v in base.items()}, **{f"user_{n}": v for n, v in user.items()},
              "t_sim": np.array(predictor.card.trust_spec.threshold), "t_user": np.array(t_user)}
    path = save_reference(arrays, directory)
    trust = {"method": UNION, "threshold": 1.0, "description": UNION_DESCRIPTION,
             "file": TRUST_FILE, "components_user": k, "quantile": quantile, "t_user": t_user,
             "user_spectra": int(len(flux)), "base_trust": {k2: v for k2, v in predictor.card.trust.items()
                                                            if k2 in ("method", "threshold", "description")}}
    return trust, {TRUST_FILE: {"sha256": sha256(path), "note": "simulated + user PCA references (zoo.domain)"}}


register_trust(UNION, _union_score)
from zoo.registry import register_domain_refit  # noqa: E402

register_domain_refit(METHOD, refit_union)
