"""Which MK standards AutoClassMK trains and tests on, and why (Short 2026, Sec. II).

    python scripts/autoclassmk_atlas_summary.py

Prints, per spectral class, the libr18 files kept for training with their
original and relabeled luminosity classes, the files dropped by the
completeness rule (I, III and V all present), the libr18_27 test files, and
the leading zero-flux pixels of each atlas.
"""
import collections

import numpy as np

from zoo.families.autoclassmk.atlas import load_atlas, prune_complete
from zoo.families.autoclassmk.rbn import EDGE_GUARD


def main():
    full = load_atlas("libr18")
    kept = prune_complete(full)
    test = load_atlas("libr18_27")
    in_set = np.isin(test.spectral_type, kept.spectral_classes)
    print(f"libr18: {len(full)} spectra, {len(set(full.spectral_type))} spectral classes; "
          f"kept {len(kept)} spectra in {len(kept.spectral_classes)} spectral classes "
          f"(paper: 122 spectra, 31 classes)")
    print(f"luminosity classes kept: {dict(collections.Counter(map(str, kept.luminosity_class)))}")
    print(f"libr18_27: {len(test)} spectra; {int(in_set.sum())} of trained spectral classes "
          f"({len(set(test.spectral_type[in_set]))} classes) form the test set")
    print()
    print(f"{'SC':5s} {'libr18 kept (original LC -> I/III/V)':64s} libr18_27 test")
    for sc in kept.spectral_classes:
        sel = kept.spectral_type == sc
        tr = ", ".join(f"{f[:-4]} {o}->{r}" for f, o, r in zip(np.array(kept.files)[sel],
                                                               kept.luminosity_type[sel],
                                                               kept.luminosity_class[sel]))
        te = ", ".join(f[:-4] for f in np.array(test.files)[test.spectral_type == sc]) or "-"
        print(f"{sc:5s} {tr:64s} {te}")
    print()
    print("dropped from libr18:")
    for f, why in kept.dropped.items():
        i = full.files.index(f)
        print(f"  {f} ({full.spectral_type[i]} {full.luminosity_type[i]}): {why}")
    print("dropped from libr18_27 (spectral class not trained):",
          ", ".join(np.array(test.files)[~in_set]))
    for a in (full, test):
        lead = np.array([np.argmax(~m) for m in a.mask])
        print(f"{a.name}: {int((lead > 0).sum())} spectra start with masked pixels "
              f"(zero flux, smeared padding and the {EDGE_GUARD}-px guard; up to {lead.max()} px = {lead.max() * 0.5:.1f} A); "
              f"{int(a.mask.sum() - lead.sum())} further zero pixels inside 3800-4599.5 A")


if __name__ == "__main__":
    main()
