"""Side-by-side tables of the exported APOGEE regressors (APOGEE Net vs StarNet) from their cards.

    python scripts/apogeenet_compare.py > runs/apogee_compare.md

Prints Markdown: standardized MSE per group and split (the layout of Olney
et al. 2020 Table 2), test scatter in K and dex (the layout of Table 3),
stratified fine-tuning before/after, uncertainty vs S/N and the real apStar
files.  Every number comes from ``exported/<name>/card.json``.
"""
from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = ("large", "mdwarf", "yso", "all")
LABELS = (("teff", "K", "{:.0f}"), ("logg", "dex", "{:.3f}"), ("feh", "dex", "{:.3f}"))


def load(name):
    path = os.path.join(ROOT, "exported", name, "card.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def main():
    cards = {n: load(n) for n in ("apogeenet", "starnet")}
    cards = {n: c for n, c in cards.items() if c}
    if not cards:
        sys.exit("no exported cards; run python -m training.apogeenet / training.starnet")
    cols = []
    if "apogeenet" in cards and "standardized_mse_before_stratified" in cards["apogeenet"]["metrics"]:
        cols.append(("APOGEE Net before FT", cards["apogeenet"]["metrics"]["standardized_mse_before_stratified"]))
    for n, c in cards.items():
        cols.append((("APOGEE Net after FT" if n == "apogeenet" and cols else n), c["metrics"]["standardized_mse"]))
    print("### Standardized MSE per group (mean over Teff, log g, [Fe/H]; cf. Table 2)\n")
    print("| split | group | " + " | ".join(c for c, _ in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for s in ("train", "dev", "test"):
        for g in GROUPS:
            cells = [f"{t[s][g]:.4f}" for _, t in cols]
            print(f"| {s} | {g} | " + " | ".join(cells) + " |")

    print("\n### Test-set scatter (std of predicted - label) per group (cf. Table 3)\n")
    head = [f"{n} {lab} [{u}]" for n in cards for lab, u, _ in LABELS]
    print("| group | n | " + " | ".join(head) + " |")
    print("|---|---|" + "---|" * len(head))
    for g in GROUPS:
        n0 = next(iter(cards.values()))["metrics"]["test_scatter"][g]["n"]
        cells = [f.format(c["metrics"]["test_scatter"][g][lab])
                                 for c in cards.values() for lab, _, f in LABELS]
        print(f"| {g} | {n0} | " + " | ".join(cells) + " |")

    print("\n### Test-set bias (mean of predicted - label)\n")
    head = [f"{n} {lab} [{u}]" for n in cards for lab, u, _ in LABELS]
    print("| group | " + " | ".join(head) + " |")
    print("|---|" + "---|" * len(head))
    for g in GROUPS:
        cells = [f.format(c["metrics"]["test_scatter"][g][lab + "_bias"]) for c in cards.values()
                 for lab, _, f in LABELS]
        print(f"| {g} | " + " | ".join(cells) + " |")

    for n, c in cards.items():
        m = c["metrics"]
        print(f"\n### {n}: training\n")
        print(f"- phase 1: {m['phase1']}")
        if "stratified_finetuning" in m:
            print(f"- stratified fine-tuning: {json.dumps(m['stratified_finetuning'])}")
        r = c["recipe"]
        print(f"- command `{r.get('command')}`, wall time {r.get('wall_time_minutes')} min, {r.get('machine')}")
        u = m.get("uncertainty_vs_snr")
        if u:
            print(f"\n{n}: median predicted uncertainty per S/N bin ({u['n_spectra']} fresh simulated spectra, "
                  f"{u['n_realizations']} realizations; Spearman rho(S/N, sigma) "
                  + ", ".join(f"{k} {v:+.2f}" for k, v in u["spearman_rho"].items()) + ")\n")
            print("| S/N | n | sigma Teff [K] | sigma log g [dex] | sigma [Fe/H] [dex] |\n|---|---|---|---|---|")
            for b, row in u["median_sigma_by_snr_bin"].items():
                if row["n"]:
                    print(f"| {b} | {row['n']} | {row['teff']:.0f} | {row['logg']:.3f} | {row['feh']:.3f} |")

    print("\n### Real apStar files (mean +- std over noise realizations, ONNX backend)\n")
    print("| star | expectation | " + " | ".join(f"{n}: Teff, log g, [Fe/H]" for n in cards) + " |")
    print("|---|---|" + "---|" * len(cards))
    first = next(iter(cards.values()))["metrics"]["real_apstar"]
    for i, row in enumerate(first):
        cells = []
        for c in cards.values():
            r = c["metrics"]["real_apstar"][i]
            cells.append(f"{r['teff']:.0f}±{r['teff_std']:.0f} K, {r['logg']:.2f}±{r['logg_std']:.2f}, "
                         f"{r['feh']:+.2f}±{r['feh_std']:.2f}")
        print(f"| {row['star']} | {row['expected']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
