"""Trim the DESI redrock templates to what the LAMOST simulator of the RAC-Net family needs.

Reads ``../shared/data/redrock/rrtemplate-*.fits`` (BSD-3, desihub/redrock-templates) and
writes ``zoo/data/redrock/redrock_lamost.npz`` (float32, compressed):

- every basis on a log10-linear rest-frame grid of ``STEP`` = 5e-5 dex (half a LAMOST
  pixel), restricted to the rest-frame range the simulator reaches on the LAMOST
  contract grid (3700-9078 A observed): stars for radial velocities up to +-1000 km/s,
  galaxies for z <= ``GAL_ZMAX``, quasars for ``QSO_ZMIN`` <= z <= ``QSO_ZMAX``;
- the stellar and galaxy bases (0.1 A linear sampling) are convolved, before
  decimation, with a Gaussian of resolving power ``R_STORE`` = 3000 in log lambda
  (plus the 5e-5 dex storage pixel), so that the simulator only adds the
  remaining broadening to R ~ 1800 per spectrum; the quasar bases are SDSS/BOSS
  eigenspectra already at R ~ 2000 on a 1e-4 dex grid and are only interpolated;
- ``ARCHETYPE_COEFF`` of every star class and of the galaxies (the white dwarfs:
  a fixed random 2000 of their 20000), and the ``REDSHIFTS`` of the DR16Q quasars
  the two QSO templates were built from (used as the simulator's z distribution).

Run once: ``python scripts/racnet_trim_templates.py`` (about a minute).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys

import numpy as np
from astropy.io import fits

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.environ.get("ZOO_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
SRC = os.path.join(SRC, "redrock")
OUT = os.path.join(REPO, "zoo", "data", "redrock", "redrock_lamost.npz")

STEP = 5e-5                   # storage grid, dex
R_STORE = 3000.0              # resolving power of the stored stellar/galaxy bases
OBS = (np.log10(3699.0), np.log10(9080.0))   # observed range the contract needs (with margin)
STAR_V = 1000.0               # km/s radial-velocity margin
GAL_ZMAX = 0.6
QSO_ZMIN, QSO_ZMAX = 0.05, 4.5
STARS = ("A", "B", "F", "G", "K", "M", "WD", "CV")
N_WD = 2000


def grid(lo, hi):
    n = int(np.ceil((hi - lo) / STEP)) + 1
    return lo, n, lo + STEP * np.arange(n)


def gaussian_log(basis_lin, wave_lin, loglam_out, resolution):
    """Linear-A basis -> log grid ``loglam_out`` at ``resolution`` (fine log grid, Gaussian, decimate)."""
    fine_step = STEP / 5
    fine = np.arange(loglam_out[0] - 40 * STEP, loglam_out[-1] + 40 * STEP, fine_step)
    sigma = np.sqrt((1 / (resolution * np.log(10) * 2.3548)) ** 2 + STEP ** 2 / 12) / fine_step
    half = int(np.ceil(5 * sigma))
    x = np.arange(-half, half + 1)
    kern = np.exp(-0.5 * (x / sigma) ** 2)
    kern /= kern.sum()
    out = np.empty((basis_lin.shape[0], loglam_out.size))
    for i, row in enumerate(basis_lin):
        f = np.interp(10 ** fine, wave_lin, row)
        f = np.convolve(f, kern, mode="same")
        out[i] = np.interp(loglam_out, fine, f)
    return out


def main():
    files, data = {}, {}

    def open_(name):
        path = os.path.join(SRC, name)
        with open(path, "rb") as fh:
            files[name] = hashlib.sha256(fh.read()).hexdigest()
        return fits.open(path)

    rng = np.random.default_rng(0)
    # stars: rest frame = observed within +-STAR_V
    dv = np.log10(1 + STAR_V / 299792.458)
    lo, n, star_grid = grid(OBS[0] - dv, OBS[1] + dv)
    data["star_loglam0"] = np.float64(lo)
    data["star_npix"] = np.int64(n)
    for t in STARS:
        with open_(f"rrtemplate-STAR-{t}-v0.1.fits") as h:
            hd = h[0].header
            wave = hd["CRVAL1"] + hd["CDELT1"] * np.arange(h[0].data.shape[1])
            data[f"star_{t}_basis"] = gaussian_log(h[0].data.astype(float), wave, star_grid, R_STORE).astype(np.float32)
            if "ARCHETYPE_COEFF" in h:
                c = np.asarray(h["ARCHETYPE_COEFF"].data, float)
                if t == "WD":
                    c = c[np.sort(rng.choice(len(c), N_WD, replace=False))]
                data[f"star_{t}_coeff"] = c.astype(np.float32)
        print(t, data[f"star_{t}_basis"].shape)
    # galaxies
    lo, n, gal_grid = grid(OBS[0] - np.log10(1 + GAL_ZMAX), OBS[1])
    data["galaxy_loglam0"] = np.float64(lo)
    data["galaxy_npix"] = np.int64(n)
    with open_("rrtemplate-galaxy-old-1174d9a.fits") as h:
        hd = h[0].header
        wave = hd["CRVAL1"] + hd["CDELT1"] * np.arange(h[0].data.shape[1])
        data["galaxy_basis"] = gaussian_log(h[0].data.astype(float), wave, gal_grid, R_STORE).astype(np.float32)
        data["galaxy_coeff"] = np.asarray(h["ARCHETYPE_COEFF"].data, np.float32)
    print("galaxy", data["galaxy_basis"].shape)
    # quasars (log grid already; interpolate only)
    for sub, name in (("loz", "rrtemplate-QSO-LOZ-v1.1.fits"), ("hiz", "rrtemplate-QSO-HIZ-v1.1.fits")):
        with open_(name) as h:
            hd = h[0].header
            ll = hd["CRVAL1"] + hd["CDELT1"] * np.arange(h[0].data.shape[1])
            lo_ = max(OBS[0] - np.log10(1 + QSO_ZMAX), ll[0])
            hi_ = min(OBS[1] - np.log10(1 + QSO_ZMIN), ll[-1])
            lo, n, g = grid(lo_, hi_)
            data[f"qso_{sub}_loglam0"] = np.float64(lo)
            data[f"qso_{sub}_npix"] = np.int64(n)
            data[f"qso_{sub}_basis"] = np.array([np.interp(g, ll, r) for r in h[0].data.astype(float)],
                                                np.float32)
            data[f"qso_{sub}_z"] = np.asarray(h["REDSHIFTS"].data, np.float32).reshape(-1)
        print(sub, data[f"qso_{sub}_basis"].shape)
    data["step"] = np.float64(STEP)
    data["r_store"] = np.float64(R_STORE)
    data["sources_sha256"] = np.array(json.dumps(files, sort_keys=True))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT}: {os.path.getsize(OUT) / 1e6:.2f} MB")
    print(json.dumps(files, indent=1))


if __name__ == "__main__":
    sys.exit(main())
