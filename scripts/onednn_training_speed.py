"""APOGEE Net training speed with oneDNN on and off (docs/apogeenet.md, deviation 5).

    python scripts/onednn_training_speed.py                  # APOGEE Net, batch 128, 3 rounds
    python scripts/onednn_training_speed.py --model starnet

``TF_ENABLE_ONEDNN_OPTS`` is read when TensorFlow is imported, so each setting runs in its
own Python process; the two settings alternate (on, off, on, off, ...) so that a change of
the machine's load hits both alike, and each setting's best round is reported.  A round
builds the registered network, compiles it with the recipe's optimizer (SGD 1e-3 + momentum
0.9) and standardized MSE, takes ``--warmup`` training steps (tracing), then times
``--steps`` steps of ``--batch`` spectra.  The inputs are continuum-normalized-like random
spectra (1 + 2 % noise) and standard-normal labels: the speed of a step does not depend on
the values.  Prints spectra/s per setting and round and the ratio of the bests.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
import numpy as np, keras, zoo
model_name, batch, steps, warmup = {model!r}, {batch}, {steps}, {warmup}
keras.utils.set_random_seed(0)
model = zoo.create_model(model_name, seed=0)
n = model.inputs[0].shape[1]
model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9), loss={{"labels": "mse"}})
rng = np.random.default_rng(0)
x = (1 + 0.02 * rng.normal(size=(batch, n))).astype("float32")
y = rng.normal(size=(batch, 3)).astype("float32")
for _ in range(warmup):
    model.train_on_batch(x, {{"labels": y}})
t0 = time.perf_counter()
for _ in range(steps):
    model.train_on_batch(x, {{"labels": y}})
dt = time.perf_counter() - t0
import tensorflow as tf
print(json.dumps({{"spectra_per_s": batch * steps / dt, "seconds": dt, "tf": tf.__version__}}))
"""


def run_once(model, onednn, batch, steps, warmup):
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = _CHILD.format(root=ROOT, model=model, batch=batch, steps=steps, warmup=warmup)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=1800)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="apogeenet", help="registered model (default apogeenet)")
    ap.add_argument("--batch", type=int, default=128, help="spectra per step (the recipe's 128)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per round (tracing)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per setting, alternating")
    ap.add_argument("--json", default=os.path.join(ROOT, "docs", "results", "onednn_training_speed.json"),
                    help="results file (docs blocks are rendered from it: python -m evaluation.render)")
    args = ap.parse_args(argv)
    t0 = time.time()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    best = {True: 0.0, False: 0.0}
    tf_version = "?"
    for r in range(args.rounds):
        for onednn in (True, False):
            res = run_once(args.model, onednn, args.batch, args.steps, args.warmup)
            tf_version = res["tf"]
            best[onednn] = max(best[onednn], res["spectra_per_s"])
            print(f"round {r + 1}: TF_ENABLE_ONEDNN_OPTS={int(onednn)}  {res['spectra_per_s']:7.1f} spectra/s "
                  f"({args.steps} steps of {args.batch} in {res['seconds']:.1f} s)", flush=True)
    print(f"\n{args.model} training, best of {args.rounds} rounds: oneDNN on {best[True]:.0f} spectra/s, "
          f"off {best[False]:.0f} spectra/s, ratio {best[True] / best[False]:.2f}")
    print(f"{time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()}-core {cpu_name()}, TF {tf_version}, "
          f"load average at start {load:.1f} (a shared machine when above the core count)")
    if args.json:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        out = {"experiment": "onednn_training_speed", "command": "python scripts/onednn_training_speed.py "
               + " ".join(argv if argv is not None else sys.argv[1:]), "code_version": rev,
               "machine": f"{os.cpu_count()}-core {cpu_name()}", "cpu_count": os.cpu_count(), "tf": tf_version,
               "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
               "duration_s": round(time.time() - t0, 1), "model": args.model, "batch": args.batch,
               "steps": args.steps, "rounds": args.rounds, "date": time.strftime("%Y-%m-%d"),
               "spectra_per_s": {"onednn_on": best[True], "onednn_off": best[False]},
               "ratio": best[True] / best[False]}
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
        print(f"wrote {os.path.relpath(args.json, ROOT)}")


if __name__ == "__main__":
    main()
