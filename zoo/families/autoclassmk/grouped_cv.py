"""Grouped cross-validation by star for AutoClassMK, and bootstrap intervals over stars.

The paper's test atlas, libr18_27, holds the *same standard stars* as the
training atlas libr18 at a lower resolution (``zoo/families/autoclassmk/data/mk_atlas/PROVENANCE.md``),
so its accuracy measures how well the network recognizes stars it was trained
on.  To measure how it types stars it has *not* seen, whole stars are held out:
every ``.rbn`` file of libr18 is one standard star (the file names encode its
MK type), and a star's libr18_27 spectrum has the same file name.

:func:`star_folds` assigns each star of the pruned libr18 to one of ``k``
folds so that

- every star is held out exactly once;
- the stars of one *cell* (spectral class x relabelled luminosity class; a
  cell holds one or two stars, e.g. a G2 Ia and a G2 Ib standard in cell
  G2 I) fall in different folds, so a two-star cell always keeps a star in
  training;
- a fold holds out at most ``ceil(m / k)`` of the ``m`` stars of a spectral
  class (one when ``k >= m``), so every spectral class keeps stars in
  training (libr18 pruned: 4 to 6 stars per class).

A held-out star whose cell has a single star leaves that cell empty in
training: its exact subclass is a combination the network has never seen, so
it is scored with the tolerance of one class step (MK subclasses are
ordered); :func:`single_star_cells` tells which stars these are.

:func:`bootstrap_accuracy` resamples *stars* (with all their augmented
copies), not spectra: the copies of one star are not independent test cases.
"""
from __future__ import annotations

import numpy as np

from zoo.stats import LEVEL   # the confidence level of the percentile bootstrap intervals (the zoo's one level)

__all__ = ["cells", "single_star_cells", "star_folds", "fold_split", "bootstrap_accuracy",
           "bootstrap_difference", "per_star_counts", "LEVEL"]


def cells(spectral_type, luminosity_class) -> np.ndarray:
    """The cell of each star: ``"<SC> <LC>"`` (e.g. ``"G2 I"``)."""
    return np.array([f"{s} {l}" for s, l in zip(np.asarray(spectral_type), np.asarray(luminosity_class))])


def single_star_cells(spectral_type, luminosity_class) -> np.ndarray:
    """True for each star that is the only one of its cell."""
    c = cells(spectral_type, luminosity_class)
    uniq, counts = np.unique(c, return_counts=True)
    n = dict(zip(uniq, counts))
    return np.array([n[x] == 1 for x in c])


def star_folds(spectral_type, luminosity_class, k: int, seed: int = 0) -> np.ndarray:
    """Fold (0 .. k-1) of each star; see the module docstring for the guarantees.

    Stars are walked spectral class by spectral class (in a seeded random order),
    the stars of a class grouped by cell, and dealt to the folds round-robin
    from a running counter, which balances the fold sizes (they differ by at
    most one).
    """
    sp = np.asarray(spectral_type).astype(str)
    c = cells(sp, luminosity_class)
    if k < 2:
        raise ValueError("grouped cross-validation needs k >= 2 folds")
    per_class = max(np.unique(sp, return_counts=True)[1])
    per_cell = max(np.unique(c, return_counts=True)[1])
    if k < per_cell:
        raise ValueError(f"k={k} folds cannot separate the {per_cell} stars of a cell")
    rng = np.random.default_rng(seed)
    folds = np.full(sp.size, -1)
    counter = int(rng.integers(k))
    for cls in rng.permutation(np.unique(sp)):
        members = np.flatnonzero(sp == cls)
        cell_names = rng.permutation(np.unique(c[members]))
        order = [i for name in cell_names for i in rng.permutation(members[c[members] == name])]
        for i in order:
            folds[i] = counter % k
            counter += 1
    assert (folds >= 0).all()
    if k >= per_class:
        for cls in np.unique(sp):
            f = folds[sp == cls]
            assert len(set(f)) == f.size
    return folds


def fold_split(folds: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training stars and of the held-out stars of ``fold``."""
    folds = np.asarray(folds)
    return np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


def per_star_counts(star, correct) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(stars, k, n)``: per star, the number of correct answers and of spectra."""
    star = np.asarray(star)
    stars, inv = np.unique(star, return_inverse=True)
    k = np.bincount(inv, weights=np.asarray(correct, float), minlength=stars.size)
    n = np.bincount(inv, minlength=stars.size).astype(float)
    return stars, k, n


def bootstrap_accuracy(star, correct, n_boot: int = 2000, seed: int = 0, level: float = LEVEL) -> dict:
    """Accuracy (correct spectra / spectra) with a percentile bootstrap interval over stars.

    ``star`` names the star of each test spectrum, ``correct`` says whether the
    answer for it is right.  Each bootstrap sample draws as many stars as there
    are, with replacement, each with all its spectra.

    Returns ``{"acc", "lo", "hi", "n_stars", "n_spectra"}``.
    """
    _, k, n = per_star_counts(star, correct)
    if n.size == 0:
        return {"acc": float("nan"), "lo": float("nan"), "hi": float("nan"), "n_stars": 0, "n_spectra": 0}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n.size, size=(n_boot, n.size))
    boot = k[idx].sum(axis=1) / n[idx].sum(axis=1)
    a = (1.0 - level) / 2.0
    return {"acc": float(k.sum() / n.sum()), "lo": float(np.quantile(boot, a)),
            "hi": float(np.quantile(boot, 1.0 - a)), "n_stars": int(n.size), "n_spectra": int(n.sum())}


def bootstrap_difference(star, correct_a, correct_b, n_boot: int = 2000, seed: int = 0,
                         level: float = LEVEL) -> dict:
    """Accuracy of A minus accuracy of B on the same spectra, with a paired bootstrap over stars."""
    stars, ka, n = per_star_counts(star, correct_a)
    _, kb, _ = per_star_counts(star, correct_b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n.size, size=(n_boot, n.size))
    boot = (ka[idx].sum(axis=1) - kb[idx].sum(axis=1)) / n[idx].sum(axis=1)
    a = (1.0 - level) / 2.0
    return {"diff": float((ka.sum() - kb.sum()) / n.sum()), "lo": float(np.quantile(boot, a)),
            "hi": float(np.quantile(boot, 1.0 - a)), "n_stars": int(n.size)}
