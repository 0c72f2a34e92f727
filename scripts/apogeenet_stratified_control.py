"""Control for stratified fine-tuning: continue *ordinary* training for the same time instead.

    python scripts/apogeenet_stratified_control.py --minutes 30          # ~11 min: writes docs/results/apogeenet_stratified_control.json
    python scripts/apogeenet_stratified_control.py --reuse --minutes 30  # the training run below already in runs/apogeenet

Runs ``python -m training.apogeenet --no-export --out runs/apogeenet`` (the exported model's recipe
and data; main phase, then stratified fine-tuning; unless ``--reuse`` finds that command's run), loads
that run's main-phase best checkpoint (``runs/apogeenet/best.keras``, with its SGD state), trains on
the full (unstratified) training set with dev evaluation after each epoch, keeping the best dev loss
(patience 5), for at most ``--minutes`` (default 4.3, about the time stratified fine-tuning takes;
the published results use 30 so that patience, not the clock, ends the control), and records the per-group
standardized MSE of the three: the main phase, the control and the stratified fine-tuning of the same
run (its ``metrics.json``).  Separates "trained longer" from "trained stratified";
``evaluation/apogeenet.py`` renders docs/apogeenet.md's table from the results file.
"""
from __future__ import annotations

import argparse
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
    p.add_argument("--reuse", action="store_true", help="use runs/apogeenet if the training command made it")
    args = p.parse_args(argv)
    from training.common import recorded_result, write_json
    t_start, load0 = time.time(), round(os.getloadavg()[0], 2)
    from training.apogeenet import ApogeeNet
    from training.skeleton import run_or_reuse
    run, reuse = run_or_reuse(ApogeeNet, ["--no-export", "--out", args.run], reuse=args.reuse)
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
    before, after = run["metrics"]["phase1"]["mse"], run["metrics"]["stratified"]["mse"]
    minutes = (time.time() - t0) / 60
    print(f"\ncontrol: {ep} more epochs of ordinary training in {minutes:.1f} min\n")
    print("| split | group | main phase | + ordinary training (control) | + stratified fine-tuning |")
    print("|---|---|---|---|---|")
    for s in ("dev", "test"):
        for grp in names + ["all"]:
            print(f"| {s} | {grp} | {before[s][grp]:.4f} | {ctrl[s][grp]:.4f} | {after[s][grp]:.4f} |")
    strat = run["metrics"]["stratified"]
    cmd = " ".join(["python scripts/apogeenet_stratified_control.py"] + list(sys.argv[1:] if argv is None else argv))
    res = recorded_result(cmd, t_start, load0, {
        "experiment": "apogeenet_stratified_control", "training_command": run["command"], "reused_run": reuse,
        "training_run": run.get("training_run"), "control_epochs": ep, "control_minutes": round(minutes, 2),
        "control_max_minutes": args.minutes, "control_patience": 5,
        "control_stopped_by": "patience (5 epochs without a better dev loss)" if wait >= 5
        else f"the time cap ({args.minutes} min)",
        "train_size": int(len(tr)), "finetune_epochs": strat.get("epochs"), "finetune_rounds": strat.get("rounds"),
        "mse": {"main_phase": before, "control": ctrl, "stratified": after}})
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "results",
                        "apogeenet_stratified_control.json")
    write_json(res, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
