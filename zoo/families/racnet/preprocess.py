"""Flux standardization of Zou et al. (2020), Eq. 1: each spectrum divided by its L2 norm.

Registered as the contract normalization ``"l2"``.  The norm is taken over the
valid (unmasked) pixels on the contract grid, after resampling and before the
one fill stage of :func:`zoo.preprocess.to_contract`; errors are divided by the
same number.  A spectrum whose valid pixels are all zero has no norm: its
pixels are all marked missing (the contract's ``min_valid_fraction`` refuses
such input before it gets here).
"""
from __future__ import annotations

import numpy as np

from zoo.preprocess import register_normalization

__all__ = ["l2_normalize"]


@register_normalization("l2")
def l2_normalize(flux, error, mask):
    """``x / ||x||_2`` per row over unmasked pixels (Eq. 1); masked pixels are left to the fill stage."""
    flux = np.atleast_2d(np.asarray(flux, float))
    mask = np.atleast_2d(np.asarray(mask, bool))
    good = np.where(mask, 0.0, flux)
    norm = np.sqrt(np.sum(good * good, axis=1))
    ok = norm > 0
    out = np.where(ok[:, None], good / np.where(ok, norm, 1.0)[:, None], 0.0)
    mask = mask | ~ok[:, None]
    if error is not None:
        error = np.where(ok[:, None], np.asarray(error, float) / np.where(ok, norm, 1.0)[:, None], 0.0)
    return out, error, mask
