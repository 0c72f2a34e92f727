"""Redrock-like template fits of prepared LAMOST spectra (numpy only), for the RAC-Net trust score.

What a STAR / GALAXY / QSO call means can be checked against the same DESI redrock templates the
simulator draws from (``zoo/data/redrock``): a spectrum the network calls GALAXY or QSO should be
explained better by the galaxy or quasar templates at their best redshift than by the stellar
templates at z ~ 0, and a spectrum with an object in it should be explained better by some template
than by a smooth curve alone.  This module computes the chi-square of these fits:

- the data: the model's prepared input (Eq. 1 flux on the contract grid, filled pixels, the
  arm join at 5700-6000 A and the bright night-sky lines excluded) averaged over pairs of pixels (2e-4 dex bins, ~140 km/s, about the LAMOST resolution element);
  the noise per bin is estimated from the spectrum itself (robust scatter of first differences in
  blocks of 64 bins), so that arrays without errors, files and simulations are treated alike;
- a template set (stellar class A/F/G/K/M, galaxies, low-z or high-z quasars): its basis vectors
  (broadened from the stored R = 3000 to R = 1800) times a Legendre polynomial of degree
  :data:`DEGREE` in log wavelength (the flux-calibration and reddening nuisance), all products
  free: a linear least-squares fit at each redshift;
- stars at shifts of -2..2 bins (+-280 km/s); galaxies at 0 <= z <= 0.6; quasars at
  0.05 <= z <= 1.6 (LOZ) and 1.6 <= z <= 4.5 (HIZ), every bin (stride 1, galaxies) or every
  second bin (quasars, broad lines), the sums over pixels of all shifts at once by FFT
  cross-correlation;
- the smooth curve alone: the Legendre polynomial (no template).

Returned chi-squares are minima over the shifts of a set.  See :mod:`.trust` for how they
become a domain score and docs/racnet.md for the measured rates.
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from zoo.stats import MAD_TO_SIGMA

from .simulate import DLOGLAM, LOGLAM0, templates

__all__ = ["DEGREE", "REBIN", "STAR_SETS", "GALAXY_SETS", "QSO_SETS", "working_data", "chi2_poly",
           "chi2_stars", "chi2_set", "fit_chi2"]

DEGREE = 3                 # Legendre degree of the multiplicative nuisance
REBIN = 2                  # contract pixels per working bin
R_FIT = 1800.0             # resolving power of the fitted templates (LAMOST)
NOISE_BLOCK = 64           # bins per block of the noise estimate
#: excluded from the fits (vacuum A): the join of the blue and red arms (dichroic, 5700-6000 A), where
#: LAMOST spectra carry jumps and bumps of instrumental origin (the simulator puts its join at 5800-5950 A)
JOIN_MASK = (5700.0, 6000.0)
#: bright night-sky emission lines excluded from the fits (vacuum A; Hg I 4359, 5462, [O I] 5579, 6302, 6366,
#: Na D 5892/5898), +- SKY_HALF_WIDTH A: their subtraction residuals are not the object's (pipelines mask them)
SKY_LINES = (4359.6, 5462.3, 5578.9, 5891.6, 5897.6, 6302.0, 6365.5)
SKY_HALF_WIDTH = 8.0
STAR_SETS = ("A", "F", "G", "K", "M")
STAR_SHIFTS = (-2, -1, 0, 1, 2)
#: template sets of the extragalactic classes: name -> (template key, z range, stride in bins)
GALAXY_SETS = {"galaxy": ("galaxy", (0.0, 0.6), 1)}
QSO_SETS = {"qso_loz": ("qso_loz", (0.05, 1.6), 2), "qso_hiz": ("qso_hiz", (1.6, 4.5), 2)}
_STEP = DLOGLAM * REBIN


def working_data(flux: np.ndarray, filled: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(y, w)``: the flux averaged over :data:`REBIN` pixels and the inverse noise variance per bin
    (0 where a pixel of the bin was filled or the noise is unknown)."""
    x = np.asarray(flux, np.float64)
    n, p = x.shape
    q = p // REBIN
    y = x[:, :q * REBIN].reshape(n, q, REBIN).mean(axis=2)
    ok = np.ones((n, q), bool) if filled is None else ~np.asarray(filled)[:, :q * REBIN].reshape(n, q, REBIN).any(2)
    ok &= y != 0
    wave = 10 ** (LOGLAM0 + DLOGLAM * (REBIN * np.arange(q) + 0.5 * (REBIN - 1)))
    ok &= ~((wave > JOIN_MASK[0]) & (wave < JOIN_MASK[1]))[None]
    ok &= ~(np.min(np.abs(wave[:, None] - np.asarray(SKY_LINES)[None]), axis=1) < SKY_HALF_WIDTH)[None]
    d = np.abs(np.diff(y, axis=1))
    dok = ok[:, 1:] & ok[:, :-1]
    nb = -(-(q - 1) // NOISE_BLOCK)
    sig = np.zeros((n, q))
    for b in range(nb):
        a, e = b * NOISE_BLOCK, min((b + 1) * NOISE_BLOCK, q - 1)
        blk = np.where(dok[:, a:e], d[:, a:e], np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s = MAD_TO_SIGMA * np.nanmedian(blk, axis=1) / np.sqrt(2.0)
        s = np.where(np.sum(dok[:, a:e], axis=1) >= 8, s, np.nan)
        sig[:, a:e + 1 if b == nb - 1 else e] = s[:, None]
    # blocks without an estimate (or zero scatter: a noise-free line) get the spectrum's median estimate,
    # floored at 1e-6 of the median |flux| (so that a flat line still has a finite chi-square)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(np.where(sig > 0, sig, np.nan), axis=1)
    level = np.median(np.abs(y), axis=1)
    med = np.where(np.isfinite(med), med, 0.0)
    floor = np.maximum(1e-6 * level, 1e-12)
    sig = np.where(np.isfinite(sig) & (sig > 0), sig, med[:, None])
    sig = np.maximum(sig, floor[:, None])
    w = np.where(ok, 1.0 / sig ** 2, 0.0)
    return y, w


@lru_cache(maxsize=4)
def _legendre(q: int, degree: int = DEGREE) -> np.ndarray:
    return np.polynomial.legendre.legvander(np.linspace(-1.0, 1.0, q), degree).T      # (degree + 1, q)


@lru_cache(maxsize=16)
def _template(key: str) -> tuple[np.ndarray, float]:
    """Basis of ``key`` broadened to :data:`R_FIT` and averaged into working bins:
    ``(basis (m, L), log10 of the centre of bin 0)``; bin grid aligned with the working grid."""
    tpl = templates()
    prefix = "star" if key.startswith("star_") else key
    basis = tpl.basis(key)
    grid = tpl.grid(prefix)
    fine = tpl.step
    sig = lambda r: 1.0 / (r * np.log(10) * 2.3548)  # noqa: E731
    extra = np.sqrt(max(sig(R_FIT) ** 2 - sig(tpl.r_store) ** 2, 0.0)) / fine
    half = max(1, int(np.ceil(4 * extra)))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / extra) ** 2)
    box = int(round(_STEP / fine))
    k = np.convolve(k / k.sum(), np.ones(box) / box)
    sm = np.array([np.convolve(b, k, mode="same") for b in basis])
    c0 = LOGLAM0 + 0.5 * DLOGLAM * (REBIN - 1)              # centre of working bin 0 (observed)
    j0 = int(np.ceil((grid[0] + (len(k) // 2) * fine - c0) / _STEP)) - 1
    start = c0 + _STEP * j0
    while start < grid[0] + (len(k) // 2) * fine:
        start += _STEP
    centres = np.arange(start, grid[-1] - (len(k) // 2) * fine, _STEP)
    out = np.array([np.interp(centres, grid, b) for b in sm])
    scale = np.sqrt(np.mean(out[0] ** 2)) or 1.0
    return out / scale, float(start)


def _design_shifted(basis: np.ndarray, start: float, q: int, shift: int) -> np.ndarray | None:
    """(m, q) the basis sampled at observed bins for log10(1+z) = shift * step; None off the template."""
    c0 = LOGLAM0 + 0.5 * DLOGLAM * (REBIN - 1)
    off = int(round((c0 - shift * _STEP - start) / _STEP))
    if off < 0 or off + q > basis.shape[1]:
        return None
    return basis[:, off:off + q]


def _solve_chi2(G: np.ndarray, b: np.ndarray, yy: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """chi2 = y'Wy - b' G^-1 b for stacks of normal equations (..., a, a), (..., a); the diagonal is
    regularized by 1e-10 of the trace (and 1e-300).  ``overwrite``: ``G`` may be changed in place."""
    tr = np.trace(G, axis1=-2, axis2=-1)
    G = G if overwrite else G.copy(order="K")
    i = np.arange(G.shape[-1])
    G[..., i, i] += (1e-10 * tr)[..., None]
    G[..., i, i] += 1e-300
    x = np.linalg.solve(G, b[..., None])[..., 0]
    return yy - np.einsum("...a,...a->...", b, x)


def chi2_poly(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """chi-square of the smooth curve alone (Legendre degree :data:`DEGREE`)."""
    P = _legendre(y.shape[1])
    G = np.einsum("nq,aq,bq->nab", w, P, P)
    b = (w * y) @ P.T
    return _solve_chi2(G, b, np.sum(w * y * y, axis=1))


def _products(design: np.ndarray, P: np.ndarray) -> np.ndarray:
    return (design[:, None, :] * P[None, :, :]).reshape(-1, design.shape[1])


@lru_cache(maxsize=4)
def _legendre_products(degree: int = DEGREE) -> np.ndarray:
    """(pairs, 2 degree + 1): ``P_k P_l = sum_j C[pair, j] P_j`` for the pairs ``k <= l`` (``np.triu_indices``
    order): the products of two Legendre polynomials of degree <= ``degree`` span the first 2 degree + 1."""
    from numpy.polynomial import legendre
    d = degree + 1
    ku = np.triu_indices(d)
    c = np.zeros((len(ku[0]), 2 * degree + 1))
    for r, (k, m) in enumerate(zip(*ku)):
        prod = legendre.legmul(np.eye(d)[k], np.eye(d)[m])
        c[r, :len(prod)] = prod
    return c


def _pair_index(m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """For unknowns ``(i, k) = i * d + k`` (basis vector i times Legendre k): the index of the basis pair
    ``(i, j)`` and of the Legendre pair ``(k, l)`` (``np.triu_indices`` orders) of each Gram entry."""
    iu, ku = np.triu_indices(m), np.triu_indices(d)
    pair_b = np.zeros((m, m), int)
    pair_b[iu] = np.arange(len(iu[0]))
    pair_b[iu[1], iu[0]] = np.arange(len(iu[0]))
    pair_p = np.zeros((d, d), int)
    pair_p[ku] = np.arange(len(ku[0]))
    pair_p[ku[1], ku[0]] = np.arange(len(ku[0]))
    ii, kk = np.divmod(np.arange(m * d), d)
    return pair_b[ii[:, None], ii[None, :]], pair_p[kk[:, None], kk[None, :]]


@lru_cache(maxsize=4)
def _star_designs(q: int):
    """The stellar fits (class, shift) that lie on their templates, their basis at the observed bins
    ``(fits, m, q)``, and the products of pairs of basis vectors ``(q, fits * m(m+1)/2)``."""
    fits, designs = [], []
    for t in STAR_SETS:
        basis, start = _template(f"star_{t}")
        for s in STAR_SHIFTS:
            d = _design_shifted(basis, start, q, s)
            if d is not None:
                fits.append(t)
                designs.append(d)
    B = np.stack(designs)                                         # (fits, m, q)
    iu = np.triu_indices(B.shape[1])
    pairs = (B[:, iu[0]] * B[:, iu[1]]).transpose(2, 0, 1).reshape(q, -1)
    return tuple(fits), B, np.ascontiguousarray(pairs)


def chi2_stars(y: np.ndarray, w: np.ndarray) -> dict:
    """chi-square per stellar class (min over :data:`STAR_SHIFTS`): ``{class: (n,)}``.

    Every class and shift in one product: the Gram entry of unknowns (i, k), (j, l) is
    ``sum w B_i B_j P_k P_l``, and ``P_k P_l`` is a combination of the Legendre polynomials up to degree
    2 :data:`DEGREE` (:func:`_legendre_products`), so the sums of ``w P_j`` against every product of two
    basis vectors give them all."""
    n, q = y.shape
    P = _legendre(q)
    d = P.shape[0]
    fits, B, pairs = _star_designs(q)
    f, m = B.shape[:2]
    nb = m * (m + 1) // 2
    yy = np.sum(w * y * y, axis=1)
    P2 = _legendre(q, 2 * DEGREE)                                 # (2 degree + 1, q)
    h = ((w[:, None, :] * P2[None]).reshape(-1, q) @ pairs).reshape(n, P2.shape[0], f, nb)
    gp_all = np.einsum("pj,njfb->nfpb", _legendre_products(DEGREE), h)   # (n, fits, Legendre pairs, basis pairs)
    gb, gp = _pair_index(m, d)
    G = gp_all[:, :, gp, gb]                                      # (n, fits, a, a)
    wyp = ((w * y)[:, None, :] * P[None]).reshape(-1, q)          # (n d, q)
    bt = (wyp @ B.transpose(2, 0, 1).reshape(q, -1)).reshape(n, d, f, m)
    b = bt.transpose(0, 2, 3, 1).reshape(n, f, m * d)             # unknown (i, k) = i * d + k
    chi = _solve_chi2(G, b, yy[:, None], overwrite=True)          # (n, fits)
    out = {}
    for t in STAR_SETS:
        sel = [j for j, name in enumerate(fits) if name == t]
        out[t] = np.min(chi[:, sel], axis=1) if sel else np.full(n, np.inf)
    return out


def _fast_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (a fast FFT length)."""
    best = 1 << int(np.ceil(np.log2(n)))
    f3 = 1
    while f3 < 2 * n:
        f5 = f3
        while f5 < 2 * n:
            m = f5
            while m < n:
                m *= 2
            best = min(best, m)
            f5 *= 5
        f3 *= 3
    return best


@lru_cache(maxsize=8)
def _fft_template(key: str, q: int, z_lo: float, z_hi: float, stride: int):
    """FFTs of the template products and the lags of the allowed redshifts."""
    basis, start = _template(key)
    m, L = basis.shape
    c0 = LOGLAM0 + 0.5 * DLOGLAM * (REBIN - 1)
    # lag t: observed bin i sits on template bin i + t; log10(1 + z) = c0 - start - t * step
    t_of = lambda z: (c0 - np.log10(1 + z) - start) / _STEP  # noqa: E731
    t_hi = min(int(np.floor(t_of(z_lo))), L - q)
    t_lo = max(int(np.ceil(t_of(z_hi))), 0)
    lags = np.arange(t_lo, t_hi + 1)[::stride]
    nfft = _fast_size(L + 1)
    iu = np.triu_indices(m)
    vv = np.fft.rfft(basis[iu[0]] * basis[iu[1]], nfft)           # (m(m+1)/2, F)
    vb = np.fft.rfft(basis, nfft)                                 # (m, F)
    return lags, nfft, iu, vv, vb, m, slice(t_lo, t_hi + 1, stride)


def _combine(C: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``sum_j C[p, j] g[:, j]`` for each row ``p`` of ``C`` (a few non-zero terms each): axis 1 of ``g``
    mapped through ``C``, element-wise (no BLAS call, whose threads cost more than they give here)."""
    out = np.empty((g.shape[0], C.shape[0]) + g.shape[2:])
    for p, row in enumerate(C):
        nz = np.nonzero(row)[0]
        acc = row[nz[0]] * g[:, nz[0]]
        for j in nz[1:]:
            acc += row[j] * g[:, j]
        out[:, p] = acc
    return out


def chi2_set(y: np.ndarray, w: np.ndarray, key: str, z_range: tuple, stride: int,
             chunk: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """chi-square of a redshifted template set, min over the allowed redshifts, and the best z.

    The Gram entries ``sum w P_k P_l B_i(x + t) B_j(x + t)`` at every lag t are cross-correlations, by
    FFT, of ``w P_j`` (the products ``P_k P_l`` are combinations of the Legendre polynomials up to
    degree 2 :data:`DEGREE`: :func:`_legendre_products`) with the products of pairs of basis vectors."""
    n, q = y.shape
    lags, nfft, iu, vv, vb, m, lag_slice = _fft_template(key, q, float(z_range[0]), float(z_range[1]), int(stride))
    P = _legendre(q)
    P2 = _legendre(q, 2 * DEGREE)
    C = _legendre_products(DEGREE)                                                      # (pp, 2 degree + 1)
    d = P.shape[0]
    a = m * d
    gb, gp = _pair_index(m, d)
    ii, kk = np.divmod(np.arange(a), d)
    chi = np.empty(n)
    zbest = np.empty(n)
    c0 = LOGLAM0 + 0.5 * DLOGLAM * (REBIN - 1)
    start = _template(key)[1]
    for s in range(0, n, chunk):
        ws, ys = w[s:s + chunk], y[s:s + chunk]
        u = np.conj(np.fft.rfft(ws[:, None, :] * P2[None], nfft))                      # (c, 2 degree + 1, F)
        r = np.conj(np.fft.rfft((ws * ys)[:, None, :] * P[None], nfft))                # (c, d, F)
        g2 = np.fft.irfft(u[:, :, None, :] * vv[None, None], nfft)[..., lag_slice]      # (c, 2 degree + 1, bb, T)
        g = _combine(C, g2)                                                             # (c, pp, bb, T)
        bt = np.fft.irfft(r[:, :, None, :] * vb[None, None], nfft)[..., lag_slice]      # (c, d, m, T)
        G = np.moveaxis(g[:, gp, gb, :], -1, 1)                                         # (c, T, a, a)
        b = np.moveaxis(bt[:, kk, ii, :], -1, 1)                                        # (c, T, a)
        yy = np.sum(ws * ys * ys, axis=1)[:, None]
        c2 = _solve_chi2(G, b, yy, overwrite=True)
        best = np.argmin(c2, axis=1)
        chi[s:s + chunk] = c2[np.arange(len(best)), best]
        zbest[s:s + chunk] = 10 ** (c0 - start - lags[best] * _STEP) - 1
    return chi, zbest


def fit_chi2(flux: np.ndarray, filled: np.ndarray | None, which=("poly", "star", "galaxy", "qso")) -> dict:
    """The chi-squares of :func:`chi2_poly` (``"poly"``), the best stellar class (``"star"``), the
    galaxies (``"galaxy"``) and the quasars (``"qso"``, min of LOZ and HIZ), for the rows of
    prepared ``flux`` (``filled``: the prepared mask).  Only the requested fits are computed."""
    y, w = working_data(flux, filled)
    out = {"n_bins": np.sum(w > 0, axis=1)}
    if "poly" in which:
        out["poly"] = chi2_poly(y, w)
    if "star" in which:
        per = chi2_stars(y, w)
        out["star"] = np.min(np.stack([per[t] for t in STAR_SETS]), axis=0)
    if "galaxy" in which:
        out["galaxy"], out["galaxy_z"] = chi2_set(y, w, *GALAXY_SETS["galaxy"])
    if "qso" in which:
        lo, zl = chi2_set(y, w, *QSO_SETS["qso_loz"])
        hi, zh = chi2_set(y, w, *QSO_SETS["qso_hiz"])
        out["qso"] = np.minimum(lo, hi)
        out["qso_z"] = np.where(lo <= hi, zl, zh)
    return out
