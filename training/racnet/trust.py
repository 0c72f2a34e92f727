"""RAC-Net trust: the template parts of ``pca_knn_tpl`` fitted by the training run, and the rates it is
measured by (real LAMOST stars, inputs without an object, simulated in-domain test spectra, timing).

:func:`template_trust` is called by ``python -m training.racnet`` after export (``RacNetTask.after_export``):
the knn reference fitted on the training split (threshold on the validation split) gets the template cuts
(set on simulated validation spectra of known class, ``recipe.seed + TPL_SEED_OFFSET``), and the card's
``trust`` block records both and what they were measured to do -- so the card's trust comes from the
command the card records (no script edits an exported card).  ``scripts/racnet_trust_real.py`` prints the
same measurements for the exported models, adding the real LAMOST dev stars.

For each model (ONNX Runtime, the card's trust method), beside the same rates under the knn score alone
(``knn / knn_threshold > 1``, the score of the first exports):

- **real LAMOST DR1 stars** (``lamost_dev``: 88 stars, pipeline CLASS = STAR): how many are flagged
  out_of_domain (false flags: they are stars, STAR is a class of DS1/DS2), how many come back GALAXY or
  QSO without a flag, QSO with p > 0.9 without a flag; for ``racnet_fgk`` the F/G/K stars flagged
  (false flags) and the A and M stars not flagged (misses: not classes of the model);
- **inputs without an object**: white noise around a constant (sigma 0.1, 0.3, 1), flat lines, and
  sky-subtraction residuals of an empty fibre (the simulator's sky model): the share flagged (or, for
  ``racnet_ds1``, flagged or UNKNOWN);
- **simulated in-domain test spectra** drawn with ``recipe.seed + 202`` (neither the training data,
  nor the validation spectra of the cuts, nor the probes): false flags per class;
- the time of the trust score alone per spectrum.

Every rate is k/n with a Clopper-Pearson 95 % interval.  No real spectrum sets a cut.
"""
from __future__ import annotations

import glob
import os
import time

import numpy as np

from zoo.stats import clopper_pearson

MODELS = ("racnet_ds1", "racnet_ds2", "racnet_fgk")
TEST_SEED_OFFSET = 202
NOISE_SEED = 4242
#: simulated validation spectra per class that set the template cuts (``fit_template_cuts``)
N_VALIDATION = 400


def rate(mask) -> dict:
    mask = np.asarray(mask, bool)
    k, n = int(mask.sum()), int(mask.size)
    return {"k": k, "n": n, "rate": k / n if n else float("nan"), "ci95": clopper_pearson(k, n)}


def fmt(r: dict) -> str:
    return f"{r['k']}/{r['n']} = {100 * r['rate']:.1f} % [{100 * r['ci95'][0]:.1f}, {100 * r['ci95'][1]:.1f}]"


def no_object_probes(n: int, seed: int, n_pixels: int = 3899) -> dict:
    """Inputs without an object: ``{name: flux (n, n_pixels)}`` (white noise sigma 0.1 / 0.3 / 1 around
    1, flat lines of random level, and empty-fibre sky residuals)."""
    from zoo.families.racnet.simulate import _sky_lines, _throughput, contract_loglam
    rng = np.random.default_rng(seed)
    out = {f"noise {s:g}": 1.0 + s * rng.normal(size=(n, n_pixels)) for s in (0.1, 0.3, 1.0)}
    out["flat"] = np.ones((n, n_pixels)) * rng.uniform(0.1, 10.0, (n, 1))
    wave = 10 ** contract_loglam(n_pixels)
    cont, lines = _sky_lines(n_pixels)
    thr = _throughput(wave, 5875.0)
    pedestal = rng.uniform(0.05, 0.3, (n, 1)) * cont[None]                 # residual sky continuum
    resid = rng.normal(0.0, 0.1, (n, 1)) * lines[None]                     # residual sky lines
    noise = rng.uniform(0.02, 0.1, (n, 1)) * np.sqrt((cont + lines) / thr)[None] * rng.normal(size=(n, n_pixels))
    sky = pedestal + resid + noise
    bad = np.median(sky, axis=1) <= 0
    sky[bad] += 2 * np.abs(np.median(sky[bad], axis=1, keepdims=True)) + 1e-3
    out["empty fibre (sky residuals)"] = sky
    return out


def _components(pred, prep, raw):
    """Call, probability, the card's score and its parts (knn / knn_threshold, signal, consistency)."""
    from zoo.families.racnet.trust import reference, score, template_parts
    arrays = reference(pred)
    classes = np.asarray(pred.card.output("class").classes)
    calls = classes[np.argmax(raw["class"], axis=1)]
    knn = score(prep.flux, arrays) / float(arrays["knn_threshold"])
    parts = template_parts(prep.flux, prep.mask, calls, arrays)
    return {"class": calls, "p": np.max(raw["class"], axis=1), "knn": knn, **parts,
            "score": np.maximum.reduce([knn, parts["signal"], parts["consistency"]])}


def run_model(pred, prep, chunk: int = 64) -> dict:
    """Network and trust components for prepared spectra (``pred`` the exported ONNX predictor)."""
    from zoo.preprocess import Prepared
    outs = []
    for i in range(0, prep.flux.shape[0], chunk):
        p = Prepared(prep.flux[i:i + chunk], None if prep.error is None else prep.error[i:i + chunk],
                     prep.mask[i:i + chunk])
        outs.append(_components(pred, p, pred.forward(p.flux)))
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def flags(c: dict) -> tuple[np.ndarray, np.ndarray]:
    """(new flag, old flag): the card's score above 1; the knn score alone above its threshold."""
    return c["score"] > 1.0, c["knn"] > 1.0


def real_dev(pred, task: str, dev: str) -> dict:
    from zoo.io import read
    files = sorted(glob.glob(os.path.join(dev, "spec-*.fits")))
    if not files:
        return {}
    heads = [read(f).meta for f in files]
    cls = np.array([str(h.get("CLASS")) for h in heads])
    sub = np.array([str(h.get("SUBCLASS")) for h in heads])
    c = run_model(pred, pred.prepare(files))
    new, old = flags(c)
    out = {"n_files": len(files), "pipeline_class": {k: int(v) for k, v in zip(*np.unique(cls, return_counts=True))}}
    star = cls == "STAR"
    res = {}
    for label, f in (("new", new), ("old", old)):
        r = {"flagged, any call": rate(f[star])}
        if task in ("ds1", "ds2"):
            called_star = star & (c["class"] == "STAR")
            called_eg = star & np.isin(c["class"], ["GALAXY", "QSO"])
            r["called STAR and flagged (false flags: a right answer flagged)"] = rate(f[called_star])
            r["called GALAXY or QSO and flagged (hits: a wrong answer flagged)"] = rate(f[called_eg])
            r["GALAXY or QSO, not flagged"] = rate((np.isin(c["class"], ["GALAXY", "QSO"]) & ~f)[star])
            r["QSO p > 0.9, not flagged"] = rate(((c["class"] == "QSO") & (c["p"] > 0.9) & ~f)[star])
            r["STAR, not flagged"] = rate(((c["class"] == "STAR") & ~f)[star])
            if task == "ds1":
                r["UNKNOWN, not flagged"] = rate(((c["class"] == "UNKNOWN") & ~f)[star])
        else:
            fgk = star & np.isin(np.array([s[:1] for s in sub]), list("FGK"))
            am = star & np.isin(np.array([s[:1] for s in sub]), list("AM"))
            r = {"F/G/K stars flagged (false flags)": rate(f[fgk]),
                 "A and M stars not flagged (misses)": rate(~f[am])}
        res[label] = r
    out["rates"] = res
    out["calls"] = {k: int(v) for k, v in zip(*np.unique(c["class"][star], return_counts=True))}
    out["files"] = [{"file": os.path.basename(f), "subclass": s, "class": str(k), "p": round(float(p), 4),
                     "score": round(float(sc), 3), "knn": round(float(kn), 3),
                     "z_signal": round(float(zs), 2), "z_consistency": None if not np.isfinite(zc) else round(float(zc), 2)}
                    for f, s, k, p, sc, kn, zs, zc in zip(files, sub, c["class"], c["p"], c["score"], c["knn"],
                                                         c["z_signal"], c["z_consistency"])]
    return out


def probes(pred, task: str, n: int) -> dict:
    out = {}
    for name, flux in no_object_probes(n, NOISE_SEED, pred.card.input.n_pixels).items():
        c = run_model(pred, pred.prepare(flux))
        new, old = flags(c)
        ok_new = new | (c["class"] == "UNKNOWN") if task == "ds1" else new
        ok_old = old | (c["class"] == "UNKNOWN") if task == "ds1" else old
        out[name] = {"new": rate(ok_new), "old": rate(ok_old),
                     "calls": {k: int(v) for k, v in zip(*np.unique(c["class"], return_counts=True))}}
    return out


def simulated_test(pred, recipe, n_per_class: int) -> dict:
    from training.racnet.data import TASK_KINDS
    from zoo.families.racnet.simulate import simulate
    rng = np.random.default_rng(recipe.seed + TEST_SEED_OFFSET)
    kinds = TASK_KINDS[recipe.task]
    classes = list(pred.card.output("class").classes)
    labels = [k for k in kinds for _ in range(n_per_class)]
    sim = simulate(labels, rng)
    from zoo.preprocess import to_contract
    c = run_model(pred, to_contract(sim["flux"], pred.card.input, error=sim["error"], mask=sim["mask"]))
    new, old = flags(c)
    lab = np.array([classes[kinds.index(k)] for k in labels])
    right = c["class"] == lab
    out = {"all": {"new": rate(new), "old": rate(old)},
           "all, called right": {"new": rate(new[right]), "old": rate(old[right])},
           "all, called wrong (a flag is a hit)": {"new": rate(new[~right]), "old": rate(old[~right])}}
    for cls in classes:
        s = lab == cls
        out[cls] = {"new": rate(new[s]), "old": rate(old[s]),
                    "by part": {"knn": rate(c["knn"][s] > 1), "signal": rate(c["signal"][s] > 1),
                                "consistency": rate(c["consistency"][s] > 1)}}
    out["seed"] = int(recipe.seed + TEST_SEED_OFFSET)
    return out


def timing(pred, n: int = 64, repeat: int = 3) -> dict:
    """ms per spectrum of the trust score alone (prepared input, network output given), best of
    ``repeat``, with every call set to each class in turn (the GALAXY and QSO fits run only for those
    calls), and of the network on the same batch."""
    from training.racnet.data import TASK_KINDS
    from zoo.families.racnet.simulate import simulate
    from zoo.registry import trust_method
    task = pred.card.recipe["task"]
    kinds = TASK_KINDS[task]
    sim = simulate([k for k in kinds for _ in range(n // len(kinds))], 77)
    prep = pred.prepare(sim["flux"], error=sim["error"], mask=sim["mask"])
    fn = trust_method(pred.card.trust["method"])
    classes = list(pred.card.output("class").classes)
    out = {"n": int(len(prep.flux))}

    def best(f):
        f()
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        return round(1000 * min(ts) / len(prep.flux), 2)
    for c, cls in enumerate(classes):
        raw = {"class": np.eye(len(classes))[np.full(len(prep.flux), c)]}
        out[f"trust_ms_called_{cls}"] = best(lambda: fn(pred, prep, raw))
    out["network_ms"] = best(lambda: pred.forward(prep.flux))
    return out


def evaluate(name: str, dev: str | None, n_probe: int = 100, n_test: int = 200, pred=None) -> dict:
    from zoo.predictor import Predictor, exported_dir
    from zoo.registry import get_entry
    pred = pred or Predictor(exported_dir(name), backend="onnx")
    recipe = get_entry(name).recipe
    task = recipe.task
    out = {"model": name, "method": pred.card.trust["method"]}
    out["probes"] = probes(pred, task, n_probe)
    out["simulated_test"] = simulated_test(pred, recipe, n_test)
    if dev:
        out["real_lamost_dev"] = real_dev(pred, task, dev)
    out["timing"] = timing(pred)
    return out


def report(res: dict) -> list[str]:
    lines = [f"### `{res['model']}` ({res['method']}; old = the knn score alone, the first exports)", "",
             "| sample | new | old |", "|---|---|---|"]
    d = res.get("real_lamost_dev") or {}
    for k in (d.get("rates", {}).get("new") or {}):
        lines.append(f"| real dev stars: {k} | {fmt(d['rates']['new'][k])} | {fmt(d['rates']['old'][k])} |")
    for k, v in res["probes"].items():
        what = "flagged or UNKNOWN" if res["model"] == "racnet_ds1" else "flagged"
        lines.append(f"| {k}: {what} | {fmt(v['new'])} | {fmt(v['old'])} |")
    for k, v in res["simulated_test"].items():
        if isinstance(v, dict) and "new" in v:
            lines.append(f"| simulated test {k}: false flags | {fmt(v['new'])} | {fmt(v['old'])} |")
    t = res["timing"]
    lines += ["", "trust score per spectrum: " + ", ".join(f"{v} ms when called {k.split('_')[-1]}" for k, v in t.items()
                                                           if k.startswith("trust_ms"))
              + f"; network {t['network_ms']} ms (ONNX Runtime); best of 3 on {t['n']} simulated spectra."]
    if d:
        lines += ["", "real dev stars called: " + ", ".join(f"{k} {v}" for k, v in d["calls"].items())]
    return lines


def template_trust(directory: str, card, recipe, n_val: int = N_VALIDATION, n_probe: int = 100, n_test: int = 200,
                   command: str = "") -> dict:
    """The ``pca_knn_tpl`` trust block of a freshly exported RAC-Net in ``directory``.

    ``card.trust`` holds the knn part (``training.racnet.fit_trust_file``) and ``trust.npz`` its
    arrays; this adds the template cuts to ``trust.npz`` and returns the new block (the caller puts it
    into the card and registers the new ``trust.npz`` sha256)."""
    from zoo.families.racnet.trust import (DESCRIPTION_TPL, METHOD_TPL, TPL_KEYS, TPL_SEED_OFFSET, TRUST_FILE,
                                                 fit_template_cuts)
    from zoo.predictor import Predictor
    t0 = time.time()
    npz_path = os.path.join(directory, TRUST_FILE)
    old = dict(card.trust)
    with np.load(npz_path) as z:
        arrays = {k: z[k] for k in z.files if k not in TPL_KEYS}
    knn = {k: old[k] for k in ("method", "threshold", "description", "false_flag_rate_test",
                               "reference_spectra", "quantile") if k in old}
    val_seed = recipe.seed + TPL_SEED_OFFSET
    cuts = fit_template_cuts(recipe.task, card.input, val_seed, n_val)
    arrays.update(cuts, knn_threshold=np.float64(knn["threshold"]))
    np.savez(npz_path, **arrays)
    from zoo.export import sha256
    card.artifacts[TRUST_FILE] = {"sha256": sha256(npz_path),     # before anything reads it (hash-checked)
                                  "note": "out-of-domain reference (zoo/families/racnet/trust.py)"}
    fin = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
    trust = {
        "method": METHOD_TPL, "threshold": 1.0, "description": DESCRIPTION_TPL, "file": TRUST_FILE,
        "knn": knn,
        "template_cuts": {"signal": fin(cuts["tpl_cut_signal"]), "GALAXY": fin(cuts["tpl_cut_GALAXY"]),
                          "QSO": fin(cuts["tpl_cut_QSO"]),
                          **({"extragalactic": fin(cuts["tpl_cut_stellar"])} if "tpl_cut_stellar" in cuts else {})},
        "template_quantiles": {"signal": float(cuts["tpl_quantile_signal"]),
                               "consistency": float(cuts["tpl_quantile_consistency"]),
                               **({"extragalactic": float(cuts["tpl_quantile_stellar"])}
                                  if "tpl_quantile_stellar" in cuts else {})},
        "template_scale": float(cuts["tpl_scale"]),
        "fit": {"command": command, "date": time.strftime("%Y-%m-%d"),
                "data": (f"knn part: the training split of this run (threshold on its validation split); "
                         f"template cuts from {int(cuts['tpl_n_validation'])} simulated validation spectra of "
                         f"known class (zoo.families.racnet.simulate, seed recipe.seed + {TPL_SEED_OFFSET} "
                         f"= {val_seed}); no real spectrum was used")},
    }
    if recipe.task == "ds1":
        trust["unknown_class"] = ("an UNKNOWN call gets no template part: UNKNOWN is this model's answer for a "
                                  "spectrum without a usable object (pure noise, an empty fibre, a broken spectrum); "
                                  "such input comes back UNKNOWN or out_of_domain")
    pred = Predictor(directory, backend="onnx", verify=False)
    pred.card = card.replace(trust=trust)
    res = {"probes": probes(pred, recipe.task, n_probe), "simulated_test": simulated_test(pred, recipe, n_test),
           "timing": timing(pred)}
    st = res["simulated_test"]
    trust["false_flag_rate_test"] = st["all"]["new"]["rate"]
    trust["measured"] = {
        "simulated_test": {"seed": st["seed"], "note": "false flags on in-domain simulated spectra, per true class",
                           **{k: {"k": v["new"]["k"], "n": v["new"]["n"], "rate": v["new"]["rate"]}
                              for k, v in st.items() if isinstance(v, dict) and "new" in v}},
        "no_object": {k: {"k": v["new"]["k"], "n": v["new"]["n"], "rate": v["new"]["rate"]}
                      for k, v in res["probes"].items()},
        "no_object_note": ("share flagged" + (" or called UNKNOWN" if recipe.task == "ds1" else "")
                           + " (training.racnet.trust.no_object_probes)"),
        "trust_ms_per_spectrum": {k.replace("trust_ms_called_", "called "): v for k, v in res["timing"].items()
                                  if k.startswith("trust_ms")},
        "real_lamost": "docs/racnet.md, 'Template parts' (python scripts/racnet_trust_real.py)",
    }
    trust["fit"]["seconds"] = round(time.time() - t0, 1)
    return trust
