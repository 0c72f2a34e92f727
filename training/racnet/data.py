"""Data of the RAC-Net family's training: simulate, split 8:2, balance the training split, prepare.

Sec. 2.2 of Zou et al. (2020): labels one-hot, Eq. 1 standardization, and
balancing by down-sampling the majority class and up-sampling the others
with random Gaussian noise added to the resampled copies.  Here:

1. :func:`simulate_task` draws a survey-like, *imbalanced* sample
   (``recipe.raw_fractions``) of ``n_per_class * n_classes`` spectra;
2. :func:`split` makes the random, stratified 8:2 train/test split (and a
   validation share of the training split for early stopping);
3. :func:`balance` resamples the training split only (imbalanced-learn's
   ``RandomUnderSampler`` for classes above the target count,
   ``RandomOverSampler`` for those below) and adds Gaussian noise of
   ``noise_sigma`` times each spectrum's median absolute flux to every
   duplicated copy (the first occurrence of a spectrum stays clean); the test
   and validation splits keep the survey's proportions and are never resampled;
4. :func:`prepare` brings the raw flux onto the contract through
   :func:`zoo.preprocess.to_contract` (Eq. 1 and the one fill stage), exactly
   as prediction does.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from zoo.families.racnet.models import CLASSES
from zoo.families.racnet.simulate import SimConfig, simulate
from zoo.preprocess import to_contract

__all__ = ["simulate_task", "split", "balance", "prepare", "task_data", "TASK_KINDS"]

#: simulator kind of each class (fgk classes are the MK-calibrated F, G, K stars)
TASK_KINDS = {"ds1": ("STAR", "GALAXY", "QSO", "UNKNOWN"), "ds2": ("STAR", "GALAXY", "QSO"),
              "fgk": ("F", "G", "K")}


def simulate_task(task: str, n_total: int, fractions, seed: int, cfg: SimConfig | None = None) -> dict:
    """An imbalanced simulated sample of ``task``: raw flux/error/mask, integer labels, meta."""
    kinds = TASK_KINDS[task]
    frac = np.asarray(fractions, float)
    if frac.size != len(kinds):
        raise ValueError(f"{task} has {len(kinds)} classes but raw_fractions has {frac.size} entries")
    counts = np.floor(frac / frac.sum() * n_total).astype(int)
    counts[0] += n_total - counts.sum()
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(c, i) for i, c in enumerate(counts)])
    y = y[rng.permutation(y.size)]
    sim = simulate([kinds[i] for i in y], rng, cfg)
    sim["y"] = y
    return sim


def split(y: np.ndarray, test_fraction: float, val_fraction: float, seed: int):
    """Stratified random indices ``(train, val, test)``: test = ``test_fraction`` of all,
    val = ``val_fraction`` of the rest."""
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction, stratify=y[rest], random_state=seed + 1)
    return np.sort(train), np.sort(val), np.sort(test)


def balance(X: np.ndarray, y: np.ndarray, per_class: int, noise_sigma: float, seed: int):
    """Balance ``(X, y)`` to ``per_class`` spectra per class (Sec. 2.2).

    Classes above ``per_class`` are down-sampled (RandomUnderSampler), those
    below up-sampled (RandomOverSampler); each duplicated copy gets Gaussian
    noise ``noise_sigma * median(|x|)``.  Returns ``(X_bal, y_bal, source_index,
    is_copy)``: the row of ``X`` each output row came from and whether it is a
    noisy duplicate.
    """
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler
    counts = np.bincount(y)
    idx = np.arange(len(y))[:, None]
    down = {c: per_class for c in range(len(counts)) if counts[c] > per_class}
    if down:
        idx, yy = RandomUnderSampler(sampling_strategy=down, random_state=seed).fit_resample(idx, y)
    else:
        yy = y
    up = {c: per_class for c in range(len(counts)) if np.sum(yy == c) < per_class}
    if up:
        idx, yy = RandomOverSampler(sampling_strategy=up, random_state=seed).fit_resample(idx, yy)
    src = idx[:, 0]
    order = np.argsort(src, kind="stable")
    is_copy = np.zeros(len(src), bool)
    is_copy[order[1:]] = src[order[1:]] == src[order[:-1]]
    rng = np.random.default_rng(seed)
    Xb = np.array(X[src], dtype=np.float32, copy=True)
    if noise_sigma > 0 and is_copy.any():
        scale = np.median(np.abs(Xb[is_copy]), axis=1, keepdims=True)
        Xb[is_copy] += (noise_sigma * scale * rng.normal(size=(is_copy.sum(), X.shape[1]))).astype(np.float32)
    perm = rng.permutation(len(src))
    return Xb[perm], np.asarray(yy)[perm], src[perm], is_copy[perm]


def prepare(sim: dict, contract, batch: int = 500) -> np.ndarray:
    """Raw simulated spectra -> the model's input (Eq. 1, filled), through the contract pipeline."""
    out = []
    for i in range(0, len(sim["flux"]), batch):
        out.append(to_contract(sim["flux"][i:i + batch], contract, error=sim["error"][i:i + batch],
                               mask=sim["mask"][i:i + batch]).flux)
    return np.concatenate(out) if out else np.zeros((0, contract.n_pixels), np.float32)


def task_data(recipe, contract, cache_dir: str | None = None, log=print) -> dict:
    """Simulated, split, prepared data of ``recipe.task`` (cached as npz under ``cache_dir``)."""
    task = recipe.task
    n_classes = len(CLASSES[task])
    key = {"task": task, "n": recipe.n_per_class * n_classes, "fractions": list(recipe.raw_fractions),
           "seed": recipe.seed, "sim": repr(SimConfig()), "grid": [contract.wavelength_start, contract.n_pixels]}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    path = os.path.join(cache_dir, f"{task}_{digest}.npz") if cache_dir else None
    if path and os.path.exists(path):
        log(f"  simulated data from cache {path}")
        with np.load(path, allow_pickle=False) as d:
            data = {k: d[k] for k in d.files}
        data["meta"] = json.loads(str(data.pop("meta_json")))
        return data
    sim = simulate_task(task, recipe.n_per_class * n_classes, recipe.raw_fractions, recipe.seed)
    X = prepare(sim, contract)
    data = {"X": X, "y": sim["y"], "meta": sim["meta"]}
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        np.savez(path, X=X, y=sim["y"], meta_json=np.array(json.dumps(sim["meta"], default=float)))
    return data
