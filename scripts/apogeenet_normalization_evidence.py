"""Evidence for the APOGEE continuum normalisation (zoo.families.apogeenet.continuum.normalize_apstar).

Prints, for the five bundled real apStar files, for the bare Kurucz emulator of
The Payne and for simulated raw-like spectra (zoo.families.apogeenet.simulate.simulate_apogee):

* the median flux level (raw and normalised), and
* the per-chip slope: a straight line fitted to the good pixels of each chip,
  expressed as the relative change across the chip, (end - start) / median.

Raw levels differ by orders of magnitude between sources and the raw slopes
are tens of per cent; after normalisation the levels agree (~0.9-1.0, below 1
by the line absorption) and the slopes are ~0.  Usage::

    python scripts/apogeenet_normalization_evidence.py [--n 300] [--seed 0]

Writes docs/results/apogeenet_normalization_evidence.json (the printed report and the ranges that
docs/apogeenet_normalization.md reads out of it; rendered by ``evaluation/apogeenet.py``).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib import resources

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

from zoo.families.apogeenet.continuum import normalize_apstar
from zoo.families.apogeenet.apstar import APSTAR_CHIP_SLICES, aspcap_pixel_mask, read_apstar
from zoo.families.apogeenet.simulate import GROUP_NAMES, PayneEmulator, simulate_apogee


def chip_stats(flux, bad):
    """(median over good chip pixels, [slope per chip]) of one spectrum."""
    slopes = []
    for s in APSTAR_CHIP_SLICES:
        f, b = flux[s], bad[s]
        x = np.linspace(0.0, 1.0, f.size)[~b]
        y = f[~b]
        med = np.median(y)
        k = np.polyfit(x, y / med, 1)[0]        # relative change across the chip
        slopes.append(k)
    chips = aspcap_pixel_mask()
    return float(np.median(flux[chips & ~bad])), slopes


def fmt(med, slopes):
    return f"{med:11.4g}  " + " ".join(f"{s:+7.3f}" for s in slopes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="simulated spectra")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=os.path.join(REPO, "docs", "results", "apogeenet_normalization_evidence.json"))
    args = ap.parse_args(argv)
    from training.common import recorded_result, write_json
    t_start, load0 = time.time(), round(os.getloadavg()[0], 2)
    report, summary = [], {}

    def out(*parts):      # one line of the report: printed and recorded
        line = " ".join(str(x) for x in parts)
        report.extend(line.split("\n"))
        print(line)

    out(f"# python {platform.python_version()}  numpy {np.__version__}  {platform.machine()}")
    head = f"{'':36s} {'raw median':>11s}  {'slope b/g/r (raw)':>23s} | " \
           f"{'norm median':>11s}  {'slope b/g/r (norm)':>23s}"

    out("\n## real apStar files (zoo/families/apogeenet/data/apogee), combined spectrum")
    out(head)
    d = resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee"
    real = {}
    for p in sorted(x for x in d.iterdir() if x.name.endswith(".fits")):
        s = read_apstar(p)
        nf, _, bad = normalize_apstar(s.flux, s.error, s.mask, return_mask=True)
        m = s.meta
        real[p.name] = (chip_stats(s.flux, s.mask), chip_stats(nf, bad))
        out(f"{p.name[7:33]:26s} {m['teff']:5.0f}/{m['logg']:3.1f}",
              fmt(*chip_stats(s.flux, s.mask)), "|", fmt(*chip_stats(nf, bad)))

    out("\n## bare Kurucz emulator (1e6 f_nu, no noise, no throughput)")
    out(head)
    em = PayneEmulator("kurucz")
    kurucz = []
    for lab in ([4500, 2.5, 0.0, 0.0], [5800, 4.4, 0.0, 0.0], [3700, 4.8, 0.0, 0.0],
                [4000, 1.5, -0.8, 0.25], [3800, 3.6, 0.0, 0.0]):
        f, gaps = em.on_apstar_grid(em.flux(np.array(lab, float)))
        nf, _, bad = normalize_apstar(f, mask=gaps, return_mask=True)
        kurucz.append((chip_stats(f, gaps), chip_stats(nf, bad)))
        out(f"Teff {lab[0]:4.0f} logg {lab[1]:3.1f} [Fe/H] {lab[2]:+4.1f}     ",
              fmt(*chip_stats(f, gaps)), "|", fmt(*chip_stats(nf, bad)))

    out(f"\n## simulate_apogee(n={args.n}, seed={args.seed}): per group, "
          "median [5th-95th percentile] over spectra")
    t0 = time.perf_counter()
    sim = simulate_apogee(args.n, seed=args.seed)
    t1 = time.perf_counter()
    nf, _, bad = normalize_apstar(sim.flux, sim.error, sim.mask, return_mask=True)
    t2 = time.perf_counter()
    raw = [chip_stats(f, b) for f, b in zip(sim.flux, sim.mask)]
    nrm = [chip_stats(f, b) for f, b in zip(nf, bad)]
    rmed = np.array([r[0] for r in raw])
    nmed = np.array([r[0] for r in nrm])
    rsl = np.abs(np.array([r[1] for r in raw]))
    nsl = np.abs(np.array([r[1] for r in nrm]))

    def q(a):
        return f"{np.median(a):8.3g} [{np.percentile(a, 5):8.3g} - {np.percentile(a, 95):8.3g}]"
    for g, name in enumerate(GROUP_NAMES):
        sel = sim.group == g
        out(f"{name:7s} n={sel.sum():4d}  raw median {q(rmed[sel])}  norm median {q(nmed[sel])}")
        out(f"{'':14s}|slope| raw  {q(rsl[sel])}  |slope| norm {q(nsl[sel])}")
    out(f"\nsimulate {args.n}: {t1 - t0:.2f} s; normalise {args.n}: {t2 - t1:.2f} s")

    def span(v):
        return [round(float(np.min(v)), 4), round(float(np.max(v)), 4)]

    def p5_95(v):
        return [round(float(np.percentile(v, 5)), 4), round(float(np.percentile(v, 95)), 4)]
    summary = {
        "raw_median": {"kurucz": span([k[0][0] for k in kurucz]), "real": span([r[0][0] for r in real.values()]),
                       "simulated_5_95": p5_95(rmed)},
        "raw_abs_slope_max": {"kurucz": float(np.max(np.abs([k[0][1] for k in kurucz]))),
                              "real": float(np.max(np.abs([r[0][1] for r in real.values()]))),
                              "simulated_95": float(np.percentile(rsl, 95))},
        "norm_median": {"kurucz": span([k[1][0] for k in kurucz]), "real": span([r[1][0] for r in real.values()]),
                        "simulated_5_95": p5_95(nmed)},
        "norm_abs_slope_max": {"kurucz": float(np.max(np.abs([k[1][1] for k in kurucz]))),
                               "real": float(np.max(np.abs([r[1][1] for r in real.values()]))),
                               "simulated_95": float(np.percentile(nsl, 95))},
        "lowest_real_norm_median": min(real, key=lambda n: real[n][1][0])}
    write_json(recorded_result(f"python scripts/apogeenet_normalization_evidence.py --n {args.n} --seed {args.seed}",
                               t_start, load0, {"report": report, "summary": summary}), args.json)


if __name__ == "__main__":
    main()
