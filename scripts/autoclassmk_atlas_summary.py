"""Which MK standards AutoClassMK trains and tests on, and why (Short 2026, Sec. II).

    python scripts/autoclassmk_atlas_summary.py

Prints, per spectral class, the libr18 files kept for training with their
original and relabeled luminosity classes, the files dropped by the
completeness rule (I, III and V all present), the libr18_27 test files, and
the leading zero-flux pixels of each atlas.  The summary lines are also the
generated block ``autoclassmk_atlas_summary`` of docs/autoclassmk.md
(``evaluation/autoclassmk.py``, computed from the bundled atlases).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from evaluation.autoclassmk import atlas_summary_lines  # noqa: E402
from zoo.families.autoclassmk.atlas import load_atlas, prune_complete  # noqa: E402
from zoo.families.autoclassmk.rbn import EDGE_GUARD  # noqa: E402


def main():
    full = load_atlas("libr18")
    kept = prune_complete(full)
    test = load_atlas("libr18_27")
    for line in atlas_summary_lines()[:3]:
        print(line)
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
    for line in atlas_summary_lines()[3:]:
        print(line)
    for a in (full, test):
        lead = np.array([np.argmax(~m) for m in a.mask])
        print(f"{a.name}: {int((lead > 0).sum())} spectra start with masked pixels "
              f"(zero flux, smeared padding and the {EDGE_GUARD}-px guard; up to {lead.max()} px = {lead.max() * 0.5:.1f} A); "
              f"{int(a.mask.sum() - lead.sum())} further zero pixels inside 3800-4599.5 A")


if __name__ == "__main__":
    main()
