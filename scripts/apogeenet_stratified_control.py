"""Control for stratified fine-tuning: continue *ordinary* training for the same time instead.

    python scripts/apogeenet_stratified_control.py [--minutes 4.3]

Loads the main-phase best checkpoint of ``python -m training.apogeenet``
(``runs/apogeenet/best.keras``, with its SGD state), trains on the full
(unstratified) training set with dev evaluation after each epoch, keeping the
best dev loss (patience 5), for the wall-clock time stratified fine-tuning
took, and prints the per-group standardized MSE beside the exported
(fine-tuned) model's.  Separates "trained longer" from "trained stratified".
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
import training.common  # noqa: E402,F401

import numpy as np  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=4.3)
    p.add_argument("--run", default=os.path.join("runs", "apogeenet"))
    p.add_argument("--n-spectra", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import keras

    import zoo
    from training.apogeenet.task import build_dataset, split_indices
    from training.apogeenet.regression import Standardizer, standardized_mse_table
    card = zoo.get_card("apogeenet")
    d = build_dataset(args.n_spectra, args.seed, card.input, os.path.join("runs", "apogee_data"))
    x, y, g = d["x"], d["y"], d["group"]
    names = [str(n) for n in d["group_names"]]
    sp = split_indices(g, args.seed)
    st = Standardizer.fit(y[sp["train"]])
    z = st.transform(y)
    model = keras.saving.load_model(os.path.join(args.run, "best.keras"))
    keras.utils.set_random_seed(args.seed + 7)
    tr, dev = sp["train"], sp["dev"]
    best = model.evaluate(x[dev], {"labels": z[dev]}, verbose=0, batch_size=512)
    best = best[0] if isinstance(best, list) else best
    best_w, wait, t0, ep = model.get_weights(), 0, time.time(), 0
    print(f"start dev loss {best:.4f}")
    while time.time() - t0 < args.minutes * 60 and wait < 5:
        model.fit(x[tr], {"labels": z[tr]}, batch_size=128, epochs=1, shuffle=True, verbose=0)
        v = model.evaluate(x[dev], {"labels": z[dev]}, verbose=0, batch_size=512)
        v = v[0] if isinstance(v, list) else v
        ep += 1
        if v < best:
            best, best_w, wait = v, model.get_weights(), 0
        else:
            wait += 1
        print(f"epoch {ep}: dev loss {v:.4f} (best {best:.4f})", flush=True)
    model.set_weights(best_w)
    zp = np.asarray(model.predict(x, batch_size=512, verbose=0)["labels"])
    ctrl = standardized_mse_table(z, zp, g, sp, names)
    ft = json.load(open(os.path.join("exported", "apogeenet", "card.json")))["metrics"]
    before, after = ft["standardized_mse_before_stratified"], ft["standardized_mse"]
    print(f"\ncontrol: {ep} more epochs of ordinary training in {(time.time() - t0) / 60:.1f} min\n")
    print("| split | group | main phase | + ordinary training (control) | + stratified fine-tuning |")
    print("|---|---|---|---|---|")
    for s in ("dev", "test"):
        for grp in names + ["all"]:
            print(f"| {s} | {grp} | {before[s][grp]:.4f} | {ctrl[s][grp]:.4f} | {after[s][grp]:.4f} |")


if __name__ == "__main__":
    main()
