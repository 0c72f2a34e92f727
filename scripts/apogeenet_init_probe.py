"""The initialization probe of docs/apogeenet.md (deviation 2): does APOGEE Net's loss leave
the label mean in its first steps?

    python scripts/apogeenet_init_probe.py --record      # the doc's numbers (a few minutes on 2 cores):
                                                         # docs/results/apogeenet_init_probe.json, rendered
    python scripts/apogeenet_init_probe.py --steps 20    # quicker, prints only

On the training split of the default simulated data (``python -m training.apogeenet``'s
5000 spectra, seed 0, cached in ``runs/apogee_data``; simulated once if absent), with the
labels standardized on that split (a loss of 1.00 = predicting the label mean), it trains
the Appendix B network from one seed for ``--steps`` mini-batches of ``--batch`` spectra
(the same batches, in the same order, for every configuration):

* Keras' default Glorot-uniform initialization on the normalized flux (level 1), with
  SGD 1e-3 + momentum 0.9 (the recipe's optimizer), SGD 1e-2 + momentum 0.9, Adam 1e-3;
* He-normal initialization and the fixed ``flux - 1`` input shift (the registered
  ``apogeenet``), SGD 1e-3 + momentum 0.9.

and prints, per configuration, the training loss of the first step and the mean of the last
ten, and the dev-split loss after the last step.  Run with ``TF_ENABLE_ONEDNN_OPTS=1`` (the
training recipe's setting), so the numbers are seeded, not bitwise reproducible.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

CONFIGS = [  # (label, factory arguments, optimizer)
    ("Glorot, flux", dict(init="glorot_uniform", input_shift=0.0), ("sgd", 1e-3, 0.9)),
    ("Glorot, flux", dict(init="glorot_uniform", input_shift=0.0), ("sgd", 1e-2, 0.9)),
    ("Glorot, flux", dict(init="glorot_uniform", input_shift=0.0), ("adam", 1e-3, None)),
    ("He-normal, flux - 1", dict(init="he_normal", input_shift=-1.0), ("sgd", 1e-3, 0.9)),
]


def optimizer(kind, lr, momentum):
    import keras
    if kind == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=momentum)
    return keras.optimizers.Adam(learning_rate=lr)


def probe(data, train, dev, factory_args, opt, steps, batch, seed):
    import keras

    import zoo
    keras.utils.set_random_seed(seed)
    model = zoo.create_model("apogeenet", seed=seed, **factory_args)
    model.compile(optimizer=optimizer(*opt), loss={"labels": "mse"})
    order = np.random.default_rng(seed).permutation(train)
    need = steps * batch
    order = np.resize(order, need)                       # wraps around when steps * batch > len(train)
    losses, t0 = [], time.time()
    for s in range(steps):
        idx = np.sort(order[s * batch:(s + 1) * batch])
        out = model.train_on_batch(data["x"][idx], {"labels": data["z"][idx]}, return_dict=True)
        losses.append(float(out["loss"]))
    seconds = time.time() - t0
    dev_loss = float(model.evaluate(data["x"][dev], {"labels": data["z"][dev]}, batch_size=256, verbose=0,
                                    return_dict=True)["loss"])
    return {"first": losses[0], "last10": float(np.mean(losses[-10:])), "dev": dev_loss, "seconds": seconds}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60, help="mini-batches per configuration (default 60)")
    ap.add_argument("--batch", type=int, default=64, help="spectra per mini-batch (default 64)")
    ap.add_argument("--n-spectra", type=int, default=5000, help="simulated spectra (the recipe's 5000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=os.path.join(ROOT, "runs", "apogee_data"))
    ap.add_argument("--record", action="store_true", help="write docs/results/apogeenet_init_probe.json")
    args = ap.parse_args(argv)
    from training.common import recorded_result, write_json
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)

    from training.apogeenet.task import build_dataset, split_indices
    from training.apogeenet.regression import Standardizer
    from zoo.registry import load_preset
    contract = load_preset("apogeenet").input
    data = build_dataset(args.n_spectra, args.seed, contract, args.cache)
    sp = split_indices(data["group"], args.seed)
    std = Standardizer.fit(data["y"][sp["train"]])
    data = {"x": data["x"], "z": std.transform(data["y"]).astype(np.float32)}
    print(f"data: {args.n_spectra} simulated spectra (seed {args.seed}); train {sp['train'].size}, "
          f"dev {sp['dev'].size}; {args.steps} steps of {args.batch} spectra "
          f"({args.steps * args.batch / sp['train'].size:.2f} epochs)")
    rows = []
    for label, fargs, opt in CONFIGS:
        r = probe(data, sp["train"], sp["dev"], fargs, opt, args.steps, args.batch, args.seed)
        name = f"{opt[0].upper()} {opt[1]:g}" + (f" + momentum {opt[2]:g}" if opt[2] else "")
        rows.append((label, name, r, fargs))
        print(f"  {label:20s} {name:26s} loss step 1 {r['first']:.3f}, last 10 steps {r['last10']:.3f}, "
              f"dev {r['dev']:.3f}  ({r['seconds']:.0f} s)", flush=True)
    print()
    print("| initialization, input | optimizer | loss, step 1 | loss, mean of the last 10 steps | dev loss |")
    print("|---|---|---|---|---|")
    for label, name, r, _ in rows:
        print(f"| {label} | {name} | {r['first']:.2f} | {r['last10']:.2f} | {r['dev']:.2f} |")
    import tensorflow as tf
    print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()}-core {platform.machine()}, TF {tf.__version__}, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")
    if args.record:
        path = os.path.join(ROOT, "docs", "results", "apogeenet_init_probe.json")
        cmd = "python scripts/apogeenet_init_probe.py " + " ".join(sys.argv[1:] if argv is None else argv)
        res = recorded_result(cmd.strip(), t0, load0, {
            "experiment": "apogeenet_init_probe", "tf": tf.__version__,
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "n_spectra": args.n_spectra, "seed": args.seed, "steps": args.steps, "batch": args.batch,
            "train_size": int(sp["train"].size), "dev_size": int(sp["dev"].size),
            "configs": [{"label": label, "optimizer": name, "factory": fargs, **r} for label, name, r, fargs in rows]})
        write_json(res, path)
        print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
