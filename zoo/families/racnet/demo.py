"""``python -m zoo demo`` for the LAMOST classification family: the bundled real LAMOST spectra
through each RAC-Net, beside the LAMOST pipeline's own CLASS / SUBCLASS from the file headers."""
from __future__ import annotations

import glob
import os
from importlib import resources

MODELS = ("racnet_ds1", "racnet_ds2", "racnet_fgk")


def demo_files() -> list[str]:
    return sorted(glob.glob(str(resources.files("zoo") / "data" / "lamost" / "*.fits")))


def show(model) -> None:
    from zoo.io import read
    files = demo_files()
    head = [o.name for o in model.card.outputs if o.kind == "class"][0]
    print(f"\n{model.card.title} [{model.card.name}, {model.backend}] on {len(files)} bundled real "
          "LAMOST spectra")
    print(f"{'file':40s} {'predicted':10s} {'p':>5s} {'domain':>8s}  LAMOST pipeline")
    for f in files:
        try:
            r = model.predict(f)
        except Exception as exc:  # noqa: BLE001  (the demo reports a refused file and goes on)
            print(f"{os.path.basename(f):40s} refused: {type(exc).__name__}: {exc}")
            continue
        meta = read(f).meta
        print(f"{os.path.basename(f):40s} {r[head][0]:10s} {r[f'{head}_probability'][0]:5.2f} "
              f"{r['domain_score'][0]:8.2f}{' OOD' if r['out_of_domain'][0] else '    '}  "
              f"{meta.get('class') or ''} {meta.get('subclass') or ''}")
    print("OOD: out of the training domain, do not trust (docs/trust.md)")


def register() -> None:
    from zoo.registry import register_demo
    for name in MODELS:
        register_demo(name, show)
