"""Telluric line list of the emission-family simulator, measured on the bundled Ondřejov files.

Telluric (H2O, O2) lines sit at fixed *observed* (air, topocentric) wavelengths while
stellar lines move with each star's radial velocity: narrow dips (FWHM < 0.9 A, the
CCD700's ~0.5 A resolution element) found at the same wavelength (within 0.12 A) in at
least two of the four bundled spectra (taken on different nights, of stars with
different velocities) are telluric.  Prints the list (wavelength, median depth) that
``zoo/families/bestars/simulate.py`` holds in ``TELLURIC_LINES``.

    python scripts/bestars_telluric_lines.py      # ~2 s
"""
from __future__ import annotations

import glob
import os

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import find_peaks

from zoo.io import read
from zoo.stats import MAD_TO_SIGMA

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "zoo", "families", "bestars", "data", "ondrejov")


def dips(path, min_depth=0.015, max_fwhm=0.9):
    s = read(path)
    w, f = s.angstrom, s.flux / np.median(s.flux)
    step = np.median(np.diff(w))
    cont = median_filter(f, size=int(round(4.0 / step)) | 1, mode="nearest")
    r = f / cont
    noise = MAD_TO_SIGMA * np.median(np.abs(np.diff(r))) / np.sqrt(2)
    idx, props = find_peaks(1 - r, height=max(min_depth, 4 * noise), width=(1, max_fwhm / step))
    keep = np.abs(w[idx] - 6562.8) > 4.0           # not inside H-alpha's own core
    return w[idx][keep], props["peak_heights"][keep]


def main():
    found = {os.path.basename(p): dips(p) for p in sorted(glob.glob(os.path.join(DATA, "*.fits")))}
    allw = np.concatenate([w for w, _ in found.values()])
    alld = np.concatenate([d for _, d in found.values()])
    src = np.concatenate([[k] * len(w) for k, (w, _) in found.items()])
    order = np.argsort(allw)
    allw, alld, src = allw[order], alld[order], src[order]
    lines, i = [], 0
    while i < len(allw):
        j = i
        while j + 1 < len(allw) and allw[j + 1] - allw[i] < 0.12:
            j += 1
        if len(set(src[i:j + 1])) >= 2:
            lines.append((float(np.mean(allw[i:j + 1])), float(np.median(alld[i:j + 1])), len(set(src[i:j + 1]))))
        i = j + 1
    for k, (w, _) in found.items():
        print(f"# {k}: {len(w)} narrow dips")
    print(f"# {len(lines)} telluric lines (air A, median depth, files)")
    print("TELLURIC_LINES = (")
    for w, d, n in lines:
        print(f"    ({w:.2f}, {d:.3f}),  # {n} files")
    print(")")


if __name__ == "__main__":
    main()
