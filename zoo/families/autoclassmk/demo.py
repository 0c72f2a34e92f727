"""``python -m zoo demo`` for the MK family: MK standards of libr18_27 through AutoClassMK."""
from __future__ import annotations

import glob
import os
from importlib import resources

import numpy as np

MODELS = ("autoclassmk", "autoclassmk_broad")


def demo_files() -> list[str]:
    """Every 8th bundled libr18_27 standard (real spectra, lower resolution than training)."""
    data = resources.files("zoo") / "families" / "autoclassmk" / "data" / "mk_atlas" / "libr18_27"
    return sorted(glob.glob(str(data / "*.rbn")))[::8]


def show(model) -> None:
    from zoo.io import read
    files = demo_files()
    print(f"\n{model.card.title} [{model.card.name}, {model.backend}] on {len(files)} bundled real spectra")
    pred = model.predict(files)
    print(f"{'file':18s} {'MK standard':14s} {'predicted':10s} {'p(SC)':>6s} {'p(LC)':>6s}  domain")
    truth = [read(f).meta for f in files]
    for i, (f, m) in enumerate(zip(files, truth)):
        dom = (f"{pred['domain_score'][i]:6.2f}{' OOD' if pred['out_of_domain'][i] else ''}"
               if "domain_score" in pred else "")
        print(f"{os.path.basename(f):18s} {m['spectral_type'] + ' ' + m['luminosity_type']:14s} "
              f"{pred['spectral_class'][i] + ' ' + pred['luminosity_class'][i]:10s} "
              f"{pred['spectral_class_probability'][i]:6.2f} {pred['luminosity_class_probability'][i]:6.2f}  {dom}")
    sc_acc = np.mean([m["spectral_type"] == s for m, s in zip(truth, pred["spectral_class"])])
    print(f"exact spectral-class matches: {sc_acc:.2f} (libr18_27 is lower resolution than training)")


def register() -> None:
    from zoo.registry import register_demo
    for name in MODELS:
        register_demo(name, show)
