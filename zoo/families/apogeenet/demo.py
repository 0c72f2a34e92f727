"""``python -m zoo demo`` for the APOGEE family: the bundled real apStar files."""
from __future__ import annotations

import glob
import os
from importlib import resources

MODELS = ("apogeenet", "starnet")


def demo_files() -> list[str]:
    return sorted(glob.glob(str(resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee" / "*.fits")))


def show(model) -> None:
    files = demo_files()
    print(f"\n{model.card.title} [{model.card.name}, {model.backend}] on {len(files)} bundled real spectra")
    pred = model.predict(files, return_uncertainty=True, n_realizations=20)
    print(f"{'file':36s} {'Teff [K]':>14s} {'log g':>12s} {'[Fe/H]':>12s}  domain")
    for i, f in enumerate(files):
        flag = " OOD" if pred.get("out_of_domain", [False] * len(files))[i] else ""
        score = f"{pred['domain_score'][i]:7.2f}{flag}" if "domain_score" in pred else ""
        print(f"{os.path.basename(f)[:36]:36s} {pred['teff'][i]:8.0f} +-{pred['teff_std'][i]:4.0f} "
              f"{pred['logg'][i]:6.2f} +-{pred['logg_std'][i]:4.2f} {pred['feh'][i]:6.2f} +-{pred['feh_std'][i]:4.2f}"
              f"  {score}")
    print("OOD: out of the training domain, do not trust (docs/trust.md); +- is the calibrated 1-sigma")


def register() -> None:
    from zoo.registry import register_demo
    for name in MODELS:
        register_demo(name, show)
