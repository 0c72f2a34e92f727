"""Inputs known to lie outside a model's domain, for the trust evaluation and its tests.

Used by ``scripts/trust_evaluate.py`` (docs/trust.md) and ``tests/test_trust.py``.
Everything is built from data bundled in the repository (``zoo/data``), so the
tests run without ``../shared``; the evaluation adds the real LAMOST spectra of
``../shared/data/lamost`` when that folder is there.

Sources
-------
- DESI redrock templates (BSD-3), as trimmed into ``zoo/data/redrock/redrock_lamost.npz``
  (R = 3000 bases on a 5e-5 dex rest-frame vacuum grid, 3686-9080 A for stars,
  2312-9080 A for galaxies): archetypes of M stars and white dwarfs, the
  cataclysmic-variable eigenspectrum (Balmer emission), galaxy archetypes and
  the low-z quasar eigenspectrum;
- real LAMOST spectra (``zoo/data/lamost``, and ``../shared/data/lamost``);
- the libr18_27 MK standards (for emission-line stars: B and early-A standards with
  Balmer emission added);
- the real APOGEE M dwarf ``zoo/families/apogeenet/data/apogee/apStar-r6-2M14305591+0858023.fits``.

Redrock spectra are flux, not rectified; for the MK grid they are rectified by
:func:`rectify` (an iterative upper-envelope polynomial, the kind of continuum
fit a user would make), which is *not* the rectification of the MK atlases.
"""
from __future__ import annotations

import glob
import os
from functools import lru_cache

import numpy as np

from zoo.stats import MAD_TO_SIGMA

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "zoo", "data")
SHARED = os.environ.get("ZOO_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
MK_GRID = 3800.0 + 0.5 * np.arange(1600)          # AutoClassMK contract, air
M_DWARF = os.path.join(REPO, "zoo", "families", "apogeenet", "data", "apogee", "apStar-r6-2M14305591+0858023.fits")
#: Balmer lines in the MK range (air, A): H8, H-epsilon, H-delta, H-gamma.
BALMER = (3889.05, 3970.07, 4101.74, 4340.47)


# ----------------------------------------------------------------------------- helpers
@lru_cache(maxsize=1)
def _redrock():
    with np.load(os.path.join(DATA, "redrock", "redrock_lamost.npz")) as d:
        return {k: d[k] for k in d.files}


def redrock_spectra(kind: str, n: int, seed: int, z=0.0):
    """Rest-frame redrock spectra redshifted by ``z``: ``(wavelength_vacuum (m,), flux (n, m))``.

    ``kind``: a star class ("M", "WD", ...), "CV" (its first eigenspectrum, n ignored),
    "galaxy" (archetypes) or "qso" (the low-z eigenspectrum, one per redshift).
    """
    d = _redrock()
    step = float(d["step"])
    rng = np.random.default_rng(seed)
    if kind == "galaxy":
        basis, coeff, l0 = d["galaxy_basis"], d["galaxy_coeff"], float(d["galaxy_loglam0"])
    elif kind == "qso":
        basis, coeff, l0 = d["qso_loz_basis"], None, float(d["qso_loz_loglam0"])
    elif kind == "CV":
        basis, coeff, l0 = d["star_CV_basis"], None, float(d["star_loglam0"])
    else:
        basis, coeff, l0 = d[f"star_{kind}_basis"], d[f"star_{kind}_coeff"], float(d["star_loglam0"])
    lam = 10.0 ** (l0 + step * np.arange(basis.shape[1]))
    if coeff is None:
        flux = np.repeat(basis[:1].astype(float), max(n, 1) if kind == "qso" else 1, axis=0)
    else:
        idx = rng.choice(len(coeff), n, replace=False)
        flux = coeff[idx].astype(float) @ basis.astype(float)
    z = np.broadcast_to(np.asarray(z, float), (len(flux),))
    return lam, flux, z


def on_grid(lam_rest, flux, z, grid_vac):
    """Flux rows resampled onto a vacuum grid after redshifting by z (per row)."""
    return np.array([np.interp(grid_vac, lam_rest * (1.0 + zi), f, left=np.nan, right=np.nan)
                     for f, zi in zip(flux, z)])


def rectify(flux, deg: int = 4, n_iter: int = 12, low: float = 1.0, high: float = 3.0):
    """Continuum-rectify flux rows on a uniform grid: iterative polynomial fit that keeps
    pixels within ``-low``/``+high`` robust sigma of the previous fit (an upper envelope)."""
    flux = np.atleast_2d(np.asarray(flux, float))
    x = np.linspace(-1.0, 1.0, flux.shape[1])
    V = np.vander(x, deg + 1)
    out = np.empty_like(flux)
    for i, f in enumerate(flux):
        ok = np.isfinite(f)
        keep = ok
        for _ in range(n_iter):
            c, *_ = np.linalg.lstsq(V[keep], f[keep], rcond=None)
            fit = V @ c
            r = f - fit
            s = MAD_TO_SIGMA * np.median(np.abs(r[keep]))
            keep = ok & (r > -low * s) & (r < high * s)
        out[i] = f / fit
    return out


def lamost_files(shared: bool = True) -> list[str]:
    """Real LAMOST spectra: ``../shared/data/lamost`` when there (and ``shared``), else the bundled ones."""
    d = os.path.join(SHARED, "lamost")
    if shared and os.path.isdir(d):
        return sorted(glob.glob(os.path.join(d, "*.fits")))
    return sorted(glob.glob(os.path.join(DATA, "lamost", "*.fits")))


def lamost_on_mk_grid(files):
    """LAMOST spectra on the MK grid: ``(flux (n, 1600) as delivered, names, subclass)``; files
    with bad pixels in 3800-4600 A are left out."""
    from astropy.io import fits

    from zoo.io import read
    from zoo.preprocess import air_to_vacuum
    rows, names, sub = [], [], []
    for f in files:
        s = read(f)
        fl = np.interp(air_to_vacuum(MK_GRID), s.angstrom, np.where(s.mask, np.nan, s.flux))
        if np.isfinite(fl).all() and np.median(fl) > 0:
            rows.append(fl)
            names.append(os.path.basename(f))
            h = fits.getheader(f)
            sub.append(f"{h.get('CLASS', '')} {h.get('SUBCLASS', '')}".strip())
    return np.array(rows), names, sub


# ----------------------------------------------------------------------------- MK
def mk_outside(scale: int = 1, seed: int = 0, shared: bool = True) -> dict:
    """Known-outside inputs for AutoClassMK on its grid (rectified-flux arrays of 1600 pixels).

    ``scale`` multiplies the sample sizes (1: a few per kind, for tests; the
    evaluation uses 12).  Returns ``{kind: {"flux": (n, 1600), "what": str}}``.
    """
    from zoo.preprocess import air_to_vacuum
    rng = np.random.default_rng(seed)
    grid_vac = air_to_vacuum(MK_GRID)
    out = {}
    n = 5 * scale
    out["flat line"] = {"flux": np.ones((1, MK_GRID.size)),
                        "what": "constant 1.0 (a perfectly featureless rectified spectrum)"}
    half = max(n // 2, 1)
    noise = np.concatenate([1.0 + 0.1 * rng.standard_normal((half, MK_GRID.size)),
                            np.abs(1.0 + 0.3 * rng.standard_normal((n - half, MK_GRID.size))),
                            1.0 + rng.standard_normal((half, MK_GRID.size)) / 70.0])
    out["pure noise"] = {"flux": noise, "what": "white noise about 1: sigma 0.1, abs(N(1, 0.3)) and sigma 1/70 "
                                                "(a featureless continuum at the paper's S/N)"}
    lam, fl, z = redrock_spectra("M", n, seed + 1)
    out["M stars"] = {"flux": rectify(on_grid(lam, fl, z, grid_vac)),
                      "what": "DESI redrock M-star archetypes (random), rectified by an upper-envelope fit"}
    lam, fl, z = redrock_spectra("WD", n, seed + 2)
    out["white dwarfs"] = {"flux": rectify(on_grid(lam, fl, z, grid_vac)),
                           "what": "DESI redrock white-dwarf archetypes (random), rectified likewise"}
    out["emission-line stars"] = {"flux": np.concatenate([rectify(on_grid(*redrock_spectra("CV", 1, 0), grid_vac)),
                                                          emission_stars(n, seed + 3)]),
                                  "what": "the redrock cataclysmic-variable eigenspectrum (Balmer emission) and "
                                          "libr18_27 B0-A3 standards with Balmer emission added (peaks 0.3-1.0 "
                                          "above the continuum, sigma 2 A)"}
    lam, fl, _ = redrock_spectra("galaxy", n, seed + 4)
    z = rng.uniform(0.0, 0.1, n)
    out["galaxies"] = {"flux": rectify(on_grid(lam, fl, z, grid_vac)),
                       "what": "DESI redrock galaxy archetypes at z 0-0.1, rectified likewise"}
    files = lamost_files(shared)
    lam_flux, names, _ = lamost_on_mk_grid(files)
    if len(lam_flux):
        out["LAMOST, not rectified"] = {
            "flux": lam_flux / np.median(lam_flux, axis=1, keepdims=True),
            "what": f"{len(lam_flux)} real LAMOST spectra (another instrument) as delivered (flux-calibrated), "
                    "divided by their median: the input a user gets wrong by skipping rectification"}
    return out


def emission_stars(n: int, seed: int) -> np.ndarray:
    """libr18_27 standards B0-A3 with Balmer emission lines added (rectified flux)."""
    from zoo.families.autoclassmk.atlas import load_atlas
    from zoo.preprocess import fill_missing
    rng = np.random.default_rng(seed)
    atlas = load_atlas("libr18_27")
    hot = np.flatnonzero(np.array([t[0] in "OB" or t in ("A0", "A1", "A3") for t in atlas.spectral_type]))
    pick = rng.choice(hot, min(n, hot.size), replace=False)
    flux = fill_missing(atlas.flux[pick], atlas.mask[pick], 1.0)
    for i in range(len(pick)):
        for line in BALMER:
            flux[i] += rng.uniform(0.3, 1.0) * np.exp(-0.5 * ((MK_GRID - line) / 2.0) ** 2)
    return flux


# ----------------------------------------------------------------------------- APOGEE
def apogee_outside(scale: int = 1, seed: int = 0) -> dict:
    """Known-outside inputs for the APOGEE regressors: raw-like apStar arrays (8575 pixels).

    Returns ``{kind: {"flux": (n, 8575), "error": (n, 8575) or None, "what": str}}``.
    """
    from zoo.registry import load_preset
    from zoo.io import read
    rng = np.random.default_rng(seed)
    grid = load_preset("apogeenet").input.wavelength()      # vacuum
    npix = grid.size
    n = 5 * scale
    out = {}
    s = read(M_DWARF)
    f0 = np.where(s.mask, 0.0, s.flux)
    e0 = np.where(s.mask, 1e10, s.error)
    flux, err = [f0], [e0]
    for snr in np.linspace(20.0, 100.0, n):
        extra = np.sqrt(np.clip((np.abs(f0) / snr) ** 2 - e0 ** 2, 0.0, None))
        flux.append(np.where(s.mask, 0.0, f0 + extra * rng.standard_normal(npix)))
        err.append(np.where(s.mask, 1e10, np.sqrt(e0 ** 2 + extra ** 2)))
    out["M dwarf below the emulator floor"] = {
        "flux": np.array(flux), "error": np.array(err),
        "what": "the real APOGEE M dwarf 2M14305591+0858023 (~3100 K; the emulators start at 3529 K) as "
                f"observed and with noise added to S/N 20-100 ({n} realizations)"}
    snr = rng.uniform(5.0, 100.0, 2 * n)
    level = 10.0 ** rng.uniform(1.0, 3.0, 2 * n)
    noise = level[:, None] * (1.0 + rng.standard_normal((2 * n, npix)) / snr[:, None])
    out["pure noise"] = {"flux": noise[:n], "error": (level / snr)[:n, None] * np.ones(npix),
                         "what": "white noise about a constant level, S/N 5-100, with its true errors"}
    out["pure noise, no errors"] = {"flux": noise[n:], "error": None,
                                    "what": "the same without errors (the score then estimates the noise "
                                            "from the pixel-to-pixel scatter)"}
    out["flat line"] = {"flux": np.full((1, npix), 100.0), "error": None, "what": "a constant"}
    lam, fl, _ = redrock_spectra("galaxy", n, seed + 4)
    z = rng.uniform(0.9, 1.1, n)
    gal = on_grid(lam, fl, z, grid)
    out["galaxies"] = _with_noise(gal, 50.0, rng, "DESI redrock galaxy archetypes at z 0.9-1.1 (their rest-frame "
                                                  "7700-8900 A in the H band), S/N 50")
    qz = rng.uniform(1.0, 1.6, n)
    lam, fl, _ = redrock_spectra("qso", n, seed + 5)
    out["quasars"] = _with_noise(on_grid(lam, fl, qz, grid), 50.0, rng,
                                 "the redrock low-z quasar eigenspectrum at z 1.0-1.6 (H-alpha in or near the H "
                                 "band), S/N 50")
    return out


def _with_noise(flux, snr, rng, what):
    flux = 100.0 * flux / np.nanmedian(np.abs(flux), axis=1, keepdims=True)
    err = np.abs(flux) / snr + 1e-3
    bad = ~np.isfinite(flux)
    noisy = np.where(bad, 0.0, flux + err * rng.standard_normal(flux.shape))
    return {"flux": noisy, "error": np.where(bad, 1e10, err), "what": what}
