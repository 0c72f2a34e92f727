"""The F/G/K calibration of the RAC-Net simulator: MK-standard line-index boundaries.

The redrock star classes are broad (docs/racnet.md, "Calibrating F/G/K").
This script measures the MK temperature index HdA + HgA (Lick indices,
Worthey & Ottaviani 1997; :func:`zoo.families.racnet.simulate.mk_index`)
on the MKCLASS standards bundled in ``zoo/families/autoclassmk/data/mk_atlas/libr18`` (Gray &
Corbally 2014), prints it per type and luminosity class, and the class
boundaries A/F, F/G, G/K as midpoints between A7/F0, F9/G0 and G8/K0
(luminosity classes III and V averaged): the numbers of
``SimConfig.mk_boundaries``.  It then prints how the redrock A/F/G/K
archetypes and the real LAMOST F/G/K stars (``../shared``, when present) fall
on that scale.  Finally, the effect of the calibration on the real files: each
real F/G/K star is matched to its best-fitting redrock archetype (A, F, G, K
templates at R = 1800, times a degree-5 polynomial for flux calibration and
reddening, chi-square with the file's inverse variance) and the header class
is compared with that archetype's redrock class and with its MK label.
Runs in about a minute: ``python scripts/racnet_mk_calibration.py``.
"""
from __future__ import annotations

import glob
import os
import re

import numpy as np

from zoo.families.racnet.simulate import SimConfig, mk_index, mk_label, templates

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("ZOO_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
CODES = {19: "A3", 20: "A5", 21: "A7", 23: "F0", 24: "F2", 25: "F3", 26: "F5", 27: "F6", 28: "F8", 29: "F9",
         30: "G0", 31: "G2", 31.7: "G4", 32: "G5", 33: "G8", 34: "K0", 36: "K2", 37: "K3", 39: "K5", 40: "K7"}


def atlas():
    rows = {}
    for p in sorted(glob.glob(os.path.join(REPO, "zoo", "families", "autoclassmk", "data", "mk_atlas", "libr18", "*.rbn"))):
        m = re.match(r"t(\d+)l(\d+)p", os.path.basename(p))
        sc, lc = int(m.group(1)) / 10, int(m.group(2)) / 10
        if sc in CODES and lc in (3.0, 5.0):
            d = np.loadtxt(p)
            ok = d[:, 1] > 0
            rows[(CODES[sc], lc)] = mk_index(d[ok, 0], d[ok, 1])
    return rows


def main():
    rows = atlas()
    print("MK standards (libr18), HdA + HgA [A]:")
    for (t, lc), v in rows.items():
        print(f"  {t:3s} {'V' if lc == 5 else 'III':3s} {v:7.2f}")
    bounds = []
    for hot, cool in (("A7", "F0"), ("F9", "G0"), ("G8", "K0")):
        mids = [(rows[(hot, lc)] + rows[(cool, lc)]) / 2 for lc in (3.0, 5.0)]
        bounds.append(round(float(np.mean(mids)), 1))
        print(f"boundary {hot}/{cool}: III {mids[0]:.2f}, V {mids[1]:.2f} -> {bounds[-1]}")
    print("SimConfig.mk_boundaries =", tuple(bounds), "(in the code:", SimConfig().mk_boundaries, ")")
    tpl = templates()
    wave_air = 10 ** tpl.grid("star") / 1.000277
    print("redrock archetypes: index percentiles 5/50/95 and MK labels")
    for t in "AFGKM":
        basis, coeff = tpl.basis(f"star_{t}"), tpl.coeff(f"star_{t}")
        idx = np.array([mk_index(wave_air, c @ basis) for c in coeff])
        labels = [mk_label(v, tuple(bounds)) for v in idx]
        counts = {k: labels.count(k) for k in "AFGK"}
        print(f"  {t}: {np.percentile(idx, [5, 50, 95]).round(1).tolist()}  {counts}")
    files = sorted(glob.glob(os.path.join(SHARED, "lamost", "spec-*.fits")))
    if files:
        from zoo.io import read
        print("real LAMOST stars (header SUBCLASS, index, MK label of the index, S/N g):")
        for f in files:
            s = read(f)
            sub = str(s.meta.get("SUBCLASS", ""))
            if s.meta.get("CLASS") != "STAR":
                continue
            w = s.angstrom / 1.000277 / (1 + (s.meta.get("z") or 0.0))
            good = ~s.mask
            flux = np.interp(w, w[good], s.flux[good])
            v = mk_index(w, flux)
            print(f"  {os.path.basename(f)} {sub:5s} {v:7.1f} {mk_label(v, tuple(bounds))} "
                  f"{s.meta.get('snr', {}).get('g')}")
        nearest_archetype(files, tuple(bounds))


def nearest_archetype(files, bounds):
    """Header class of each real F/G/K star vs the redrock class and the MK label of its best archetype."""
    from zoo.families.racnet.simulate import _observe, contract_loglam
    from zoo.io import read
    from zoo.preprocess import resample
    tpl = templates()
    loglam = contract_loglam()
    wave_air = 10 ** tpl.grid("star") / 1.000277
    arche, cls, mk = [], [], []
    for t in "AFGK":
        basis, coeff = tpl.basis(f"star_{t}"), tpl.coeff(f"star_{t}")
        for c in coeff:
            rest = c @ basis
            arche.append(_observe(rest, tpl.grid("star"), 0.0, 1800.0, tpl, loglam))
            cls.append(t)
            mk.append(mk_label(mk_index(wave_air, rest), bounds))
    T = np.nan_to_num(np.array(arche, np.float64))
    cls, mk = np.array(cls), np.array(mk)
    x = np.linspace(-1, 1, loglam.size)
    L = np.polynomial.legendre.legvander(x, 5)                        # (n_pix, 6)
    agree = {"redrock": 0, "mk": 0}
    n = 0
    print("best-fitting archetype per real F/G/K star (header, redrock class, MK label):")
    for f in files:
        s = read(f)
        sub = str(s.meta.get("SUBCLASS", ""))
        if s.meta.get("CLASS") != "STAR" or sub[:1] not in "FGK":
            continue
        ivar = np.where(s.mask | ~np.isfinite(s.error), 0.0, 1.0 / np.maximum(s.error, 1e-30) ** 2)
        y, bad = resample(s.flux, s.angstrom, 10 ** loglam, s.mask)
        w, _ = resample(ivar, s.angstrom, 10 ** loglam)
        w = np.where(bad[0], 0.0, w[0])
        y = y[0]
        G = np.einsum("kp,pi,pj->kij", T ** 2 * w, L, L)
        b = np.einsum("kp,pi->ki", T * w * y, L)
        coef = np.linalg.solve(G + 1e-12 * np.eye(6), b[..., None])[..., 0]
        model = T * (coef @ L.T)
        chi2 = np.sum(w * (y - model) ** 2, axis=1)
        k = int(np.argmin(chi2))
        n += 1
        agree["redrock"] += cls[k] == sub[0]
        agree["mk"] += mk[k] == sub[0]
        print(f"  {os.path.basename(f)} {sub:4s} redrock {cls[k]}  MK {mk[k]}")
    print(f"header agreement of the best archetype's label: redrock classes {agree['redrock']} of {n}, "
          f"MK-calibrated labels {agree['mk']} of {n}")


if __name__ == "__main__":
    main()
