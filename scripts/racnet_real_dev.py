"""RAC-Nets on the real LAMOST dev stars and on simulated stars, old exports beside new (issue #19).

    python scripts/racnet_real_dev.py --label before --model racnet_ds2=DIR ...   # any exported directories
    python scripts/racnet_real_dev.py --label after                                # the committed exports

Writes ``docs/results/racnet_real_dev_<label>.json`` and prints, per model (ONNX Runtime, the card's
contract and trust):

- DS1/DS2 on the 88 real dev stars (all pipeline CLASS = STAR): the share called STAR, the non-STAR
  calls by S/N_g (below 12, 12-35, above 35: a network that learned "noisy means extragalactic" puts
  them at low S/N), and the share flagged out_of_domain;
- ``racnet_fgk`` on the 59 real F/G/K stars: agreement with the pipeline's SUBCLASS type (the paper's
  labels, Zou et al. Sec. 2.1), the confusion matrix, and the share flagged;
- every model on simulated stars of the legacy simulator (``SimConfig.legacy()``) and of the
  calibrated one (``SimConfig()``), seed 515 (not a training seed): the same shares, so that the gap
  between simulation and survey shows beside the gap between models.

Every share is k/n with a Clopper-Pearson 95 % interval.  The dev stars trained nothing here: the
simulator's calibration used their noise, continua and header types (scripts/racnet_survey_calibration.py,
whose own figures are cross-validated); the networks never saw them.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
SHARED = os.environ.get("ZOO_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
MODELS = ("racnet_ds1", "racnet_ds2", "racnet_fgk")
SIM_SEED = 515


def share(mask) -> dict:
    from zoo.stats import clopper_pearson
    mask = np.asarray(mask, bool)
    k, n = int(mask.sum()), int(mask.size)
    return {"k": k, "n": n, "rate": k / n if n else None, "ci95": clopper_pearson(k, n)}


def _dev():
    from zoo.io import read
    files = sorted(glob.glob(os.path.join(SHARED, "lamost_dev", "spec-*.fits")))
    meta = [read(f).meta for f in files]
    return files, np.array([str(m.get("SUBCLASS"))[:1] for m in meta]), \
        np.array([float((m.get("snr") or {}).get("g") or np.nan) for m in meta])


def evaluate(name: str, directory: str, n_sim: int) -> dict:
    from zoo.families.racnet.simulate import SimConfig, simulate
    from zoo.predictor import Predictor
    pred = Predictor(directory, backend="onnx")
    task = pred.card.recipe["task"]
    files, typ, snr_g = _dev()
    out = {"model": name, "directory": os.path.relpath(directory, REPO), "task": task,
           "onnx_sha256": pred.card.artifacts.get("model.onnx", {}).get("sha256"),
           "trust_method": pred.card.trust.get("method")}
    r = pred.predict(files)
    cls, ood = np.asarray(r["class"]), np.asarray(r["out_of_domain"])
    if task in ("ds1", "ds2"):
        out["real"] = {"n": len(files), "called_STAR": share(cls == "STAR"), "flagged": share(ood),
                       "non_STAR_not_flagged": share((cls != "STAR") & ~ood),
                       "STAR_flagged": share(ood[cls == "STAR"]),
                       "calls": {k: int(v) for k, v in zip(*np.unique(cls, return_counts=True))},
                       "non_STAR_by_snr_g": {f"{lo}-{hi}": share(cls[(snr_g >= lo) & (snr_g < hi)] != "STAR")
                                             for lo, hi in ((0, 12), (12, 35), (35, 1000))}}
        kinds = ["STAR"] * n_sim
    else:
        fgk = np.isin(typ, list("FGK"))
        labels = ["F", "G", "K"]
        conf = [[int(np.sum((typ[fgk] == t) & (cls[fgk] == p))) for p in labels] for t in labels]
        out["real"] = {"n": int(fgk.sum()), "agree_with_pipeline": share(cls[fgk] == typ[fgk]),
                       "confusion_rows_pipeline_cols_predicted": conf, "flagged": share(ood[fgk]),
                       "A_M_flagged": share(ood[np.isin(typ, list("AM"))])}
        kinds = [k for k in "FGK" for _ in range(n_sim // 3)]
    out["simulated"] = {}
    for sim_name, cfg in (("legacy", SimConfig.legacy()), ("calibrated", SimConfig())):
        sim = simulate(kinds, SIM_SEED, cfg)
        rs = pred.predict(sim["flux"], error=sim["error"], mask=sim["mask"])
        c = np.asarray(rs["class"])
        if task in ("ds1", "ds2"):
            out["simulated"][sim_name] = {"called_STAR": share(c == "STAR"), "flagged": share(rs["out_of_domain"])}
        else:
            out["simulated"][sim_name] = {"agree_with_label": share(c == np.array(kinds)),
                                          "flagged": share(rs["out_of_domain"])}
    return out


def fmt(s):
    return f"{s['k']}/{s['n']} = {100 * s['rate']:.1f} % [{100 * s['ci95'][0]:.1f}, {100 * s['ci95'][1]:.1f}]"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--label", required=True, help="names the output file (before / after)")
    p.add_argument("--model", action="append", default=[],
                   help="NAME=DIR of an exported model (default: the committed racnet_ds1, racnet_ds2, racnet_fgk)")
    p.add_argument("--n-sim", type=int, default=300, help="simulated stars per model and simulator")
    a = p.parse_args(argv)
    if not glob.glob(os.path.join(SHARED, "lamost_dev", "spec-*.fits")):
        raise SystemExit(f"no LAMOST dev files under {SHARED}/lamost_dev")
    from zoo.predictor import exported_dir
    models = dict(m.split("=", 1) for m in a.model) or {n: exported_dir(n) for n in MODELS}
    t0, load0 = time.time(), os.getloadavg()[0]
    res = []
    for name, d in models.items():
        r = evaluate(name, d, a.n_sim)
        res.append(r)
        real, sim = r["real"], r["simulated"]
        if "called_STAR" in real:
            print(f"{name} ({r['directory']}): real dev stars called STAR {fmt(real['called_STAR'])}, flagged "
                  f"{fmt(real['flagged'])}; non-STAR by S/N_g " + ", ".join(f"{k}: {fmt(v)}" for k, v in
                                                                             real["non_STAR_by_snr_g"].items()))
            print("   simulated stars called STAR: " + ", ".join(f"{k} {fmt(v['called_STAR'])}" for k, v in sim.items()))
        else:
            print(f"{name} ({r['directory']}): real F/G/K agree with the pipeline {fmt(real['agree_with_pipeline'])}, "
                  f"flagged {fmt(real['flagged'])}; confusion (rows F,G,K pipeline) {real['confusion_rows_pipeline_cols_predicted']}")
            print("   simulated F/G/K agree with their label: "
                  + ", ".join(f"{k} {fmt(v['agree_with_label'])}" for k, v in sim.items()))
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"experiment": f"racnet_real_dev_{a.label}",
           "command": "python scripts/racnet_real_dev.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "code_version": rev, "machine": platform.machine(), "cpu_count": os.cpu_count(),
           "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
           "duration_s": round(time.time() - t0, 1), "results": res}
    path = os.path.join(REPO, "docs", "results", f"racnet_real_dev_{a.label}.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    print(f"wrote {os.path.relpath(path, REPO)} in {out['duration_s']} s (load {load0:.2f})")


if __name__ == "__main__":
    main()
