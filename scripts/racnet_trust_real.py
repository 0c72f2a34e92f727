"""RAC-Net trust on real LAMOST stars, noise, flat lines and empty fibres: the numbers of docs/racnet.md
("Template parts") and docs/trust.md ("RAC-Net").

    python scripts/racnet_trust_real.py --json docs/results/racnet_trust_real.json   # docs/trust.md renders it

For each exported RAC-Net (ONNX Runtime, the card's trust method) it prints, beside the same rates
under the first exports' knn score alone (``knn / knn_threshold > 1``, the score before the template
parts):

- **real LAMOST DR1 stars** (``lamost_dev``: 88 stars, pipeline CLASS = STAR): how many are flagged
  out_of_domain (false flags: they are stars, STAR is a class of DS1/DS2), how many come back GALAXY or
  QSO without a flag, QSO with p > 0.9 without a flag; for ``racnet_fgk`` the F/G/K stars flagged
  (false flags) and the A and M stars not flagged (misses: not classes of the model);
- **inputs without an object**: white noise around a constant (sigma 0.1, 0.3, 1), flat lines, and
  sky-subtraction residuals of an empty fibre (the simulator's sky model: a residual sky continuum,
  residual sky lines, sky noise): the share flagged (or, for ``racnet_ds1``, flagged or UNKNOWN);
- **simulated in-domain test spectra** drawn with ``recipe.seed + 202`` (neither the training data,
  nor the validation spectra of the cuts, nor the probes): false flags per class;
- the time of the trust score alone per spectrum.

Every rate is k/n with a Clopper-Pearson 95 % interval.  Nothing here was used to set a cut: the
cuts come from simulated validation spectra, set by the training run (training/racnet/trust.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from training.racnet.trust import MODELS, evaluate, report  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", default=list(MODELS))
    p.add_argument("--dev", default=os.path.join(os.path.dirname(REPO), "shared", "data", "lamost_dev"),
                   help="folder of real LAMOST spec-*.fits files, all pipeline STARs (skipped when absent)")
    p.add_argument("--n-probe", type=int, default=100)
    p.add_argument("--n-test", type=int, default=200, help="simulated test spectra per class")
    p.add_argument("--json", default=None, help="write the results here")
    a = p.parse_args()
    t0 = time.time()
    load0 = os.getloadavg()
    dev = a.dev if os.path.isdir(a.dev) else None
    results = [evaluate(n, dev, a.n_probe, a.n_test) for n in a.names]
    for r in results:
        print("\n".join(report(r)), "\n", flush=True)
    from training.common import recorded_result
    meta = recorded_result("python scripts/racnet_trust_real.py " + " ".join(sys.argv[1:]), t0, round(load0[0], 2), {
        "seconds": round(time.time() - t0, 1), "load_average_start": [round(x, 2) for x in load0],
        "load_average_end": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
        "arch": platform.machine()})
    print(f"ran {meta['seconds']} s on {meta['cpus']} CPUs; load average {meta['load_average_start']} at start, "
          f"{meta['load_average_end']} at the end")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
