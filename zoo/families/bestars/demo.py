"""``python -m zoo demo`` for the emission family: the bundled real Ondřejov and LAMOST spectra."""
from __future__ import annotations

import glob
import os
from importlib import resources

MODELS = ("emission_fc", "emission_cnn")
#: What the bundled real spectra are (thesis labels / what the files show).
EXPECTED = {"gamma-cas-emission.fits": "emission", "alpha-lyr-absorption.fits": "absorption"}


def demo_files() -> list[str]:
    root = resources.files("zoo") / "data"
    return (sorted(glob.glob(str(resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov" / "*.fits")))
            + sorted(glob.glob(str(root / "lamost" / "*.fits"))))


def show(model) -> None:
    from . import predict_spectra
    files = demo_files()
    print(f"\n{model.card.title} [{model.card.name}, {model.backend}] on {len(files)} bundled real spectra "
          "(each through its instrument's path)")
    print(f"{'file':40s} {'instrument':10s} {'predicted':12s} {'p':>5s} {'domain':>8s}  expected")
    for f in files:
        r = predict_spectra(model, f)
        from zoo.io import read
        inst = read(f).meta.get("instrument", "")
        print(f"{os.path.basename(f):40s} {inst:10s} {r['halpha_class'][0]:12s} "
              f"{r['halpha_class_probability'][0]:5.2f} {r['domain_score'][0]:8.2f}"
              f"{' OOD' if r['out_of_domain'][0] else ''}  {EXPECTED.get(os.path.basename(f), '')}")


def register() -> None:
    from zoo.registry import register_demo
    for name in MODELS:
        register_demo(name, show)
