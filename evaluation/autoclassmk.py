"""Generated blocks of docs/autoclassmk.md: Table 1 of Short (2026) beside the exported models, from
the cards (``python -m training.autoclassmk``, the committed runs) and from
``docs/results/evaluate_<model>.json`` (``python -m training.autoclassmk [--model M] --evaluate --results``:
the exported ONNX file scored again on the card's test set)."""
from __future__ import annotations

import functools
import re

from evaluation.common import commands_block, block, card, coverage_row, load, md_table, provenance, run_provenance
from zoo.families.autoclassmk.grouped_cv import LEVEL
from zoo.families.autoclassmk.paper import ATLAS as PAPER_ATLAS
from zoo.families.autoclassmk.paper import INIT_STDDEV

MODELS = ("autoclassmk", "autoclassmk_broad")
#: the accuracy targets docs/autoclassmk.md holds the exported models to (ours, not the paper's: its Table 1 is
#: ``paper.TABLE1``), per head, on the card's test set
TARGETS = {"spectral_class": 0.93, "luminosity_class": 0.99}
#: the page's abbreviations of the heads
HEAD_ABBR = {"spectral_class": "SC", "luminosity_class": "LC"}
#: the atlas description the package ships (libr18_27's resolution is stated there)
PROVENANCE = "zoo/families/autoclassmk/data/mk_atlas/PROVENANCE.md"


def _report_recall(report: str) -> dict:
    """``{class: recall}`` of a scikit-learn ``classification_report`` text (classes with support only)."""
    out = {}
    for line in report.splitlines():
        m = re.match(r"\s*(\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s*$", line)
        if m and int(m.group(5)) > 0:
            out[m.group(1)] = float(m.group(3))
    return out


class _Derived:
    """Figures docs/autoclassmk.md quotes inline that are computed from code constants or a results file
    (``<!-- v:py:evaluation.autoclassmk#DERIVED/NAME -->``), each evaluated on first use."""

    #: a class "absorbed by its neighbours": recall below this on the card's test set
    LOW_RECALL = 0.7

    @functools.cached_property
    def grid(self) -> tuple:
        """First and last wavelength [A] of the input grid (``atlas.START``, ``STEP``, ``NPIX``)."""
        from zoo.families.autoclassmk.atlas import NPIX, START, STEP
        return START, START + STEP * (NPIX - 1)

    @functools.cached_property
    def sizes(self) -> dict:
        """The pruned training atlas and the sets the paper's recipe builds from it (training,
        validation, test), computed from the bundled atlases as ``training.autoclassmk`` builds them."""
        import numpy as np

        from zoo.families.autoclassmk.atlas import load_atlas, prune_complete
        from zoo.families.autoclassmk.recipes import PAPER
        kept = prune_complete(load_atlas("libr18"))
        test = load_atlas("libr18_27")
        n_test = int(np.isin(test.spectral_type, kept.spectral_classes).sum())
        return {"stars": len(kept), "classes": len(kept.spectral_classes), "test_stars": n_test,
                "train": len(kept) * PAPER.variants, "validation": len(kept) * PAPER.val_variants,
                "test": n_test * PAPER.test_variants}

    @functools.cached_property
    def recall(self) -> dict:
        """Per-class recall of the exported ``autoclassmk`` on the card's test set
        (docs/results/evaluate_autoclassmk.json, the classification reports)."""
        ex = load("evaluate_autoclassmk")["metrics"]["exported"]
        return {h: _report_recall(ex[h]["report"]) for h in ("spectral_class", "luminosity_class")}

    @functools.cached_property
    def low_recall(self) -> dict:
        """The spectral classes with recall below :attr:`LOW_RECALL` (lowest first) and their recall range."""
        rec = self.recall["spectral_class"]
        low = {c: r for c, r in rec.items() if r < self.LOW_RECALL}
        return {"classes": sorted(low, key=low.get),
                "range": f"{min(low.values()):.2f}–{max(low.values()):.2f}" if low else "-"}


    @functools.cached_property
    def libr18_27(self) -> dict:
        """libr18_27's resolution as the shipped atlas description states it (:data:`PROVENANCE`): the Gaussian
        sigma [px] that turns libr18 into it and the resulting FWHM [A]."""
        import os

        from evaluation.common import REPO
        with open(os.path.join(REPO, PROVENANCE), encoding="utf-8") as fh:
            m = re.search(r"sigma ~ ([\d.]+) px,\s+~([\d.]+) A FWHM", fh.read())
        if not m:
            raise KeyError(f"{PROVENANCE}: no 'sigma ~ S px, ~F A FWHM' statement")
        return {"sigma_px": float(m.group(1)), "fwhm": float(m.group(2))}

    @functools.cached_property
    def targets(self) -> dict:
        """Per model, what it does against :data:`TARGETS` (its card's test accuracy): "reaches both targets"
        or "misses SC 0.93 (0.927) ..." (target, then the model's accuracy)."""
        out = {}
        for name in MODELS:
            m = card(name)["metrics"]
            missed = [f"{HEAD_ABBR[h]} {t:.2f} ({m[h]['accuracy']:.3f})" for h, t in TARGETS.items()
                      if m[h]["accuracy"] < t]
            out[name] = "misses " + " and ".join(missed) if missed else "reaches both targets"
        return out

    @functools.cached_property
    def coverage_missing(self) -> list:
        """The missing widths [A] of the partial-coverage table (docs/results/coverage_autoclassmk.json)."""
        return sorted({r["missing_A"] for r in load("coverage_autoclassmk")["rows"]})


DERIVED = _Derived()


def _table(name: str) -> str:
    """The training run's printout: the paper's Table 1, the best checkpoint, the chi^2 baseline."""
    from training.autoclassmk import PAPER_TABLE1, report_lines
    m = card(name)["metrics"]
    n = int(m["test_set"].split(", ")[1].split()[0])
    res = {"best_checkpoint": {**{h: m[h] for h in ("spectral_class", "luminosity_class")},
                               "epoch": m["best_epoch"]},
           "chi2_baseline": m["chi2_baseline"]}
    assert m["paper_table1"] == {h: {k: PAPER_TABLE1[h][k] for k in m["paper_table1"][h]} for h in m["paper_table1"]}
    lines = report_lines(name, n, {**res, "best_checkpoint": {**res["best_checkpoint"],
                                                             **{h: {**res["best_checkpoint"][h], "report": ""}
                                                                for h in ("spectral_class", "luminosity_class")}}})
    body = lines[:lines.index("") + 1 + 4]      # title, blank, header, paper, this model, chi2
    return "```\n" + "\n".join(body) + "\n```"


def _evaluate(name: str) -> str:
    """``--evaluate --results``: the exported file on the same test set, and the +-1 class tolerance."""
    from training.autoclassmk import report_lines
    r = load(f"evaluate_{name}")
    lines = [ln for ln in report_lines(name, r["metrics"]["n_test"], r["metrics"])
             if ln.startswith(("exported model", "spectral class within"))]
    return (f"`{r['command']}` ({r['backend']} backend, {r['duration_s']:.0f} s, load {r['load_before']}, "
            f"code {(r.get('code_version') or '?')[:7]}):\n\n```\n" + "\n".join(lines) + "\n```")


for _n in MODELS:
    block(f"{_n}_table1")(lambda n=_n: _table(n))
    block(f"{_n}_evaluate")(lambda n=_n: _evaluate(n))


# ----------------------------------------------------------------------------- flux-calibrated input
def _fmt(r):
    return f"{r['acc']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"


def lamost_cell(c) -> str:
    """One model's answer for a real LAMOST file, as the docs table shows it."""
    if not isinstance(c, dict):
        return str(c)
    if "refused" in c:
        return f"refused ({c['refused']})"
    return (f"{c['spectral_class']} {c['luminosity_class']}, p {c['probability']:.2f}, score {c['domain_score']:.2f}"
            + (" **flagged**" if c["flagged"] else ""))


def rectification_markdown(r: dict) -> str:
    """The tables of ``python scripts/autoclassmk_rectification.py --record`` (its results dict)."""
    lines = [f"libr18_27, {r['n_stars']} stars x {r['variants']} augmentations = {r['n_spectra']} spectra; accuracy "
             "[95 % bootstrap interval over stars]; last column: fraction flagged out of domain.", ""]
    for name, res in r["rows"].items():
        lines += [f"`{name}`:", "", md_table(["input", "SC exact", "SC within 1 step", "LC", "flagged"],
                                             [[k, _fmt(v["SC exact"]), _fmt(v["SC within 1 step"]), _fmt(v["LC"]),
                                               f"{v['flagged']:.3f}"] for k, v in res.items()]), ""]
    models, out = list(r["outside"]), r["outside"]
    lines += ["Known-outside kinds (`scripts/trust_inputs.py`, scale 4) times smooth SEDs (blackbody at "
              "3000-40000 K x response), through `instrument=\"flux_calibrated\"`: flagged or refused",
              "", md_table(["kind"] + [f"`{m}`" for m in models],
                           [[k] + [f"{out[m][k][0]}/{out[m][k][1]}" for m in models] for k in out[models[0]]]), ""]
    if r["lamost"]:
        lines += ["Real LAMOST spectra (bundled, flux-calibrated as delivered) through "
                  "`instrument=\"flux_calibrated\"`:", "",
                  md_table(["file", "LAMOST pipeline type"] + [f"`{m}`" for m in models],
                           [row[:2] + [lamost_cell(c) for c in row[2:]] for row in r["lamost"]])]
    return "\n".join(lines).rstrip("\n")


@block("autoclassmk_rectification")
def rectification() -> str:
    """docs/results/autoclassmk_rectification.json (``python scripts/autoclassmk_rectification.py --record``)."""
    r = load("autoclassmk_rectification")
    return rectification_markdown(r) + f"\n\n{provenance(r)}.\n"


# ----------------------------------------------------------------------------- grouped cross-validation
def _acc(r, paper=None) -> str:
    """Accuracy [95 % interval]; against ``paper``: **above** / below (the interval decides) or ~."""
    s = f"{r['acc']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"
    if paper is not None:
        s += " **above**" if r["lo"] > paper else (" below" if r["hi"] < paper else " ~")
    return s


def grouped_cv_markdown(r: dict) -> str:
    """The tables of ``python scripts/autoclassmk_grouped_cv.py --record`` (its results dict)."""
    paper = r["paper_table1"]
    psc, plc = paper["spectral_class"], paper["luminosity_class"]
    nb, tv = r["grouped_cv"]["B"]["n_stars"], r["test_variants"]
    level = f"{100 * LEVEL:.0f} %"
    lines = ["The test atlas holds the training stars: " + "; ".join(r["same_star"]) + ".", "",
             f"**Paper protocol** (test set B in full: libr18_27, {nb} spectra x {tv} augmentations = {nb * tv}, the "
             f"card's test set; the network has seen every one of these stars in libr18). Accuracy [{level} bootstrap "
             f"interval over the {nb} stars]; \"above\"/\"below\": the interval lies entirely above/below the paper's "
             "Table 1 value "
             f"(SC {psc}, LC {plc}), \"~\": it does not decide.\n"]
    rows = [["paper Table 1", f"{psc:.3f}", "not given", f"{plc:.3f}"]]
    for who, s in r["paper_protocol"].items():
        rows.append([who, _acc(s["SC exact"], psc), _acc(s["SC within 1 step"]), _acc(s["LC"], plc)])
    lines.append(md_table(["model (stars seen in training)", "SC exact", "SC within 1 step", "LC"], rows))
    for key, title in (("B", "**Stars the network has not seen, test set B**: the libr18_27 spectra (paper protocol, "
                              f"{tv} augmentations each) of the held-out stars, pooled over the folds"),
                       ("A", "**Stars the network has not seen, test set A**: the libr18 spectra (training "
                              f"resolution, {tv} augmentations each with the paper's perturbations) of the held-out "
                              "stars, pooled over the folds")):
        g = r["grouped_cv"][key]
        lines += ["", f"{title} ({r['folds']} folds; {g['n_stars']} stars, {g['n_single_star_cell_stars']} of them "
                  "alone in their cell). The reference network (same reduced recipe, trained on all stars) is "
                  "scored on the same spectra.\n"]
        metrics = list(next(iter(g["scores"].values())).keys())
        rows = []
        for m in metrics:
            ref = plc if m.startswith("LC") else (psc if m.startswith("SC exact") else None)
            rows.append([m] + [_acc(g["scores"][who][m], ref) for who in g["scores"]])
        lines += [md_table(["accuracy"] + list(g["scores"]), rows), "",
                  "Paired differences (bootstrap over the same stars): " + "; ".join(
                      f"{k}: {v['diff']:+.3f} [{v['lo']:+.3f}, {v['hi']:+.3f}]" for k, v in g["differences"].items())
                  + "."]
    info, rc = r["runs"], r["recipe"]
    variants = rc["variants"]
    lines += ["", "Training runs (reduced recipe: " + ", ".join(f"{k} {v}" for k, v in rc.items()
                                                              if k != "augmentation") + "):", "",
              md_table(["run", "training stars", "best epoch / run", "val SC", "val LC", "train time [s]"],
                       [["reference" if int(f) < 0 else f"fold {f}", i["n_train"] // variants,
                         f"{i['best_epoch']} / {i['epochs_run']}", f"{i['val_sc_acc']:.3f}", f"{i['val_lc_acc']:.3f}",
                         f"{i['train_s']:.0f}"] for f, i in sorted(info.items(), key=lambda kv: int(kv[0]))])]
    return "\n".join(lines)


@block("autoclassmk_grouped_cv")
def grouped_cv() -> str:
    """docs/results/autoclassmk_grouped_cv.json (``python scripts/autoclassmk_grouped_cv.py --record``)."""
    r = load("autoclassmk_grouped_cv")
    return (grouped_cv_markdown(r) + f"\n\n{provenance(r)} (a fold found in the per-fold cache keeps the train time "
            "of the run that made it).\n\n![grouped CV](img/autoclassmk_grouped_cv.png)\n")


def _ci(r) -> str:
    return f"{r['acc']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]"


def _d(v) -> str:
    return f"{v['diff']:+.2f} [{v['lo']:+.2f}, {v['hi']:+.2f}]"


@block("autoclassmk_paper_intervals")
def paper_intervals() -> str:
    """The exported models and the chi^2 matcher beside Table 1, with the grouped-CV script's intervals."""
    r = load("autoclassmk_grouped_cv")
    p, paper = r["paper_protocol"], r["paper_table1"]
    psc, plc = paper["spectral_class"], paper["luminosity_class"]

    def verdict(s, ref):
        return "lies above" if s["lo"] > ref else ("lies below" if s["hi"] < ref else "contains")

    def acc(s):
        return f"{s['acc']:.3f} [{s['lo']:.3f}, {s['hi']:.3f}]"
    ex, br = p["exported autoclassmk"], p["exported autoclassmk_broad"]
    chi = next(v for k, v in p.items() if k.startswith("chi2"))
    return (f"* **Beside the paper's Table 1, with intervals.** With a {100 * LEVEL:.0f} % bootstrap interval over the "
            f"{r['grouped_cv']['B']['n_stars']} test stars "
            f"(`{r['command']}`), the exact paper model's SC accuracy is {acc(ex['SC exact'])} and its LC accuracy "
            f"{acc(ex['LC'])}: the SC interval {verdict(ex['SC exact'], psc)} the paper's {psc}, the LC interval "
            f"{verdict(ex['LC'], plc)} its {plc} (only an interval above the paper's value shows the model beating "
            f"it on this test set). `autoclassmk_broad`: SC {acc(br['SC exact'])} ({verdict(br['SC exact'], psc)} "
            f"{psc}), LC {acc(br['LC'])} ({verdict(br['LC'], plc)} {plc}). The χ² template matcher: SC "
            f"{acc(chi['SC exact'])}, LC {acc(chi['LC'])}.\n")


@block("autoclassmk_grouped_cv_reading")
def grouped_cv_reading() -> str:
    """The figures of the reading of the grouped cross-validation (docs/results/autoclassmk_grouped_cv.json)."""
    r = load("autoclassmk_grouped_cv")
    b, a = r["grouped_cv"]["B"], r["grouped_cv"]["A"]
    net, chi, seen = (next(v for k, v in b["scores"].items() if k.startswith(s))
                      for s in ("unseen: grouped CV, network", "unseen: grouped CV, chi2", "seen"))
    dif = b["differences"]
    d_seen = next(v for k, v in dif.items() if k.startswith("spectral_class: seen - unseen"))
    d_chi = next(v for k, v in dif.items() if k.startswith("spectral_class: network - chi2"))
    d_lc_chi = next(v for k, v in dif.items() if k.startswith("luminosity_class: network - chi2"))
    a_chi = next(v for k, v in a["differences"].items() if k.startswith("spectral_class: network - chi2"))
    ref = next(v for k, v in r["paper_protocol"].items() if k.startswith("reduced recipe"))
    ex = r["paper_protocol"]["exported autoclassmk"]
    paper = r["paper_table1"]
    below = all(s[m]["hi"] < paper["luminosity_class" if m.startswith("LC") else "spectral_class"]
                for g in (a, b) for k, s in g["scores"].items() if k.startswith("unseen")
                for m in s if m.startswith(("SC exact", "LC")))
    return "\n".join([
        "* **The paper-protocol numbers measure recognition, not classification.** With everything else equal, the "
        f"same reduced-recipe network types the spectra of stars it was trained on correctly "
        f"{seen['SC exact, all stars']['acc']:.2f} of the time (test set B) and those of stars it has not seen "
        f"{net['SC exact, all stars']['acc']:.2f} of the time (exact spectral class; seen − unseen {_d(d_seen)} over "
        f"the same stars). For a star the network has not seen, it is within one class step for "
        f"{_ci(net['SC within 1 step, all stars'])} of the spectra ({net['SC within 1 step, stars of single-star cells']['acc']:.2f} "
        f"for stars alone in their cell, whose exact type was never shown; "
        f"{net['SC exact, stars of two-star cells']['acc']:.2f} exact for stars that left a cell-mate in training). "
        f"Luminosity class: {net['LC, all stars']['acc']:.2f} unseen vs {seen['LC, all stars']['acc']:.2f} seen.",
        "* **The network against template matching on new stars.** On the held-out stars' libr18_27 spectra the χ² "
        f"match to the *training* standards gets {chi['SC exact, all stars']['acc']:.2f} exact and "
        f"{chi['SC within 1 step, all stars']['acc']:.2f} within one step; network − χ² on the exact class "
        f"{_d(d_chi)}, on LC {_d(d_lc_chi)}; at the training resolution (test set A) on the exact class {_d(a_chi)} "
        "(an interval that contains 0 does not separate the two).",
        "* **Beside the paper.** " + ("No unseen-star accuracy reaches the paper's "
                                      f"{paper['spectral_class']} / {paper['luminosity_class']}: every exact-SC and LC "
                                      "interval lies below. " if below else
                                      "Not every unseen-star exact-SC and LC interval lies below the paper's values "
                                      "(tables above). ")
        + f"The reduced recipe is weaker than the exported model (its reference: {ref['SC exact']['acc']:.2f} exact "
        f"SC on the paper protocol, against the exported {ex['SC exact']['acc']:.3f}), so these unseen-star numbers "
        "are a lower bound for the full recipe; the gap between seen and unseen stars is what this run measures."]) + "\n"


# ----------------------------------------------------------------------------- the atlases


def atlas_summary_lines() -> list:
    """The pruning of libr18 and the test selection of libr18_27, computed from the bundled atlases
    (``scripts/autoclassmk_atlas_summary.py`` prints these lines and the per-class listing)."""
    import collections

    import numpy as np

    from zoo.families.autoclassmk.atlas import load_atlas, prune_complete
    full = load_atlas("libr18")
    kept = prune_complete(full)
    test = load_atlas("libr18_27")
    in_set = np.isin(test.spectral_type, kept.spectral_classes)
    lines = [f"libr18: {len(full)} spectra, {len(set(full.spectral_type))} spectral classes; kept {len(kept)} spectra "
             f"in {len(kept.spectral_classes)} spectral classes (paper: {PAPER_ATLAS['spectra']} spectra, "
             f"{PAPER_ATLAS['classes']} classes)",
             f"luminosity classes kept: {dict(collections.Counter(map(str, kept.luminosity_class)))}",
             f"libr18_27: {len(test)} spectra; {int(in_set.sum())} of trained spectral classes "
             f"({len(set(test.spectral_type[in_set]))} classes) form the test set",
             "dropped from libr18:"]
    for f, why in kept.dropped.items():
        i = full.files.index(f)
        lines.append(f"  {f} ({full.spectral_type[i]} {full.luminosity_type[i]}): {why}")
    lines.append("dropped from libr18_27 (spectral class not trained): " + ", ".join(np.array(test.files)[~in_set]))
    return lines


@block("autoclassmk_atlas_summary")
def atlas_summary() -> str:
    """The first lines of ``python scripts/autoclassmk_atlas_summary.py``, from the bundled atlases."""
    return "```\n" + "\n".join(atlas_summary_lines()) + "\n```\n"


@block("autoclassmk_rectification_reading")
def rectification_reading() -> str:
    """The figures of "What the tables say" under the flux-calibrated tables (same results file)."""
    r = load("autoclassmk_rectification")
    rows = r["rows"]
    marked = "atlas rectification, missing pixels marked (as in the rows below)"
    path = 'flux-calibrated, predict(..., instrument="flux_calibrated")'
    left = "flux-calibrated, mk_rectify with the star's own standard left out"
    env = "flux-calibrated, upper envelope only (refine=False)"
    models = list(rows)

    def overlap(a, b):
        return a["lo"] <= b["hi"] and b["lo"] <= a["hi"]
    loss = "; ".join(f"`{m}` {rows[m][left]['SC exact']['acc']:.3f} vs {rows[m][marked]['SC exact']['acc']:.3f} "
                     f"(intervals {'overlap' if overlap(rows[m][left]['SC exact'], rows[m][marked]['SC exact']) else 'apart'})"
                     for m in models)
    within = " / ".join(f"{rows[m][left]['SC within 1 step']['acc']:.2f}" for m in models)
    lc = " / ".join(f"{rows[m][left]['LC']['acc']:.2f}" for m in models)
    env_sc = " / ".join(f"{rows[m][env]['SC exact']['acc']:.2f}" for m in models)
    env_fl = " / ".join(f"{100 * rows[m][env]['flagged']:.0f}" for m in models)
    fl = [100 * rows[m][k]["flagged"] for m in models for k in (path, left)]
    out = r["outside"]
    all_flagged = all(k == n for m in out for k, n in out[m].values())
    lam = r["lamost"]
    n_flag = {m: sum(1 for row in lam if isinstance(row[2 + i], dict) and row[2 + i].get("flagged"))
              for i, m in enumerate(models)}
    return "\n".join([
        f"* Exact spectral class, flux-calibrated with the star's own standard left out vs the atlas rectification "
        f"with the same pixels marked: {loss}. With the own standard left out, within one class step "
        f"{within} and LC {lc} ({' / '.join(models)}). The upper envelope alone: exact {env_sc}, flagged {env_fl} %.",
        f"* Known-outside kinds times an SED: {'every one flagged or refused' if all_flagged else 'not all flagged (table)'}; "
        f"in-domain spectra through the flux-calibrated path flagged {min(fl):.0f}–{max(fl):.0f} %.",
        "* Real LAMOST files flagged: " + ", ".join(f"`{m}` {n_flag[m]} of {len(lam)}" for m in models) + "."]) + "\n"


@block("autoclassmk_head_seeds")
def head_seeds() -> str:
    """Shared vs own head initializer streams, validation only (``python scripts/autoclassmk_head_seeds.py
    --record`` -> docs/results/autoclassmk_head_seeds.json), and what the per-seed differences say."""
    import numpy as np
    r = load("autoclassmk_head_seeds")
    runs = r["runs"]
    lines = [f"seed {x['seed']} {x['heads']:6s} heads: val_loss {x['val_loss']:.4f}  val SC {x['val_sc']:.3f}  "
             f"val LC {x['val_lc']:.3f}  ({x['train_s']:.0f} s)" for x in runs]
    seeds = r["seeds"]
    get = {(x["seed"], x["heads"]): x for x in runs}
    out = ["```"] + lines + ["", f"after {r['epochs']} epochs ({r['variants']} augmentations per star), over "
                             f"{len(seeds)} seeds:"]
    verdicts = []
    for key, name in (("val_loss", "val_loss"), ("val_sc", "val SC"), ("val_lc", "val LC")):
        sh = np.array([get[(s, "shared")][key] for s in seeds])
        own = np.array([get[(s, "own")][key] for s in seeds])
        d = own - sh
        out.append(f"  {name:8s} shared {sh.mean():.4f} +- {sh.std(ddof=1):.4f}   own {own.mean():.4f} +- "
                   f"{own.std(ddof=1):.4f}   own - shared per seed {' '.join(f'{v:+.4f}' for v in d)}")
        # the mean difference against its own standard error over seeds (paired)
        se = d.std(ddof=1) / np.sqrt(len(d))
        verdicts.append((name, d.mean(), se, int((d > 0).sum()), len(d)))
    out += ["```", "", f"{provenance(r)}, TF_ENABLE_ONEDNN_OPTS={r.get('TF_ENABLE_ONEDNN_OPTS')}.", "",
            "Own − shared, mean over seeds ± its standard error (paired by seed): "
            + "; ".join(f"{n} {m:+.4f} ± {se:.4f} ({k} of {t} seeds positive)" for n, m, se, k, t in verdicts)
            + ". " + ("No difference exceeds twice its standard error: the two initializations cannot be told apart "
                      "at this length." if all(abs(m) <= 2 * se for _, m, se, _, _ in verdicts) else
                      "At least one difference exceeds twice its standard error (see which above).")]
    return "\n".join(out) + "\n"


@block("autoclassmk_early_stopping")
def early_stopping() -> str:
    """A real early stop against the paper's 250 epochs (``python scripts/autoclassmk_early_stopping.py`` ->
    docs/results/autoclassmk_early_stopping.json, beside the exported card)."""
    r, c = load("autoclassmk_early_stopping"), card("autoclassmk")
    m = c["metrics"]
    es, bc = r["early_stopping"], r["best_checkpoint"]
    tr = r.get("training_run") or {}
    fit = (tr.get("stage_seconds") or {}).get("fit")

    def row(label, x):
        return (f"{label:34s}{x['spectral_class']['accuracy']:8.3f}{x['spectral_class']['macro_f1']:8.3f}"
                f"{x['luminosity_class']['accuracy']:8.3f}{x['luminosity_class']['macro_f1']:8.3f}")
    lines = ["```", f"{'':34s}{'SC acc':>8s}{'SC F1':>8s}{'LC acc':>8s}{'LC F1':>8s}",
             row(f"exported (250 epochs, best {m['best_epoch']})", m),
             row(f"this run (best ckpt, epoch {bc['epoch']})", bc)]
    if "spectral_class" in es:
        lines.append(row(f"early stopping (stops at ep {es['would_stop_at_epoch']})", es))
    lines.append("```")
    stop = es.get("would_stop_at_epoch")
    head = (f"`{r['training_command']}` stops at epoch {stop} (restoring epoch {es.get('best_epoch_before_stop')})"
            if stop else f"`{r['training_command']}` never stops early ({r['val_loss']['epochs']} epochs)")
    return (head + (f" after {fit:.0f} s of training" if fit else "") + f" ({run_provenance(r)}); the exported run "
            f"trained 250 epochs in {m['wall_time_s']:.0f} s on {m.get('machine', 'its machine')} (another machine: "
            "compare the epochs, not the seconds). Test accuracy on the card's test set:\n\n" + "\n".join(lines) + "\n")


@block("autoclassmk_init")
def init_comparison() -> str:
    """Sec. III.4's N(0, 0.1) initialization against Keras' default: two full runs, same data and seed
    (``python scripts/autoclassmk_init_comparison.py`` -> docs/results/autoclassmk_init.json)."""
    r = load("autoclassmk_init")
    label = {"paper": f"N(0, {INIT_STDDEV}) (paper)", "keras": "Keras default (Glorot)"}
    rows = []
    for tag, x in r["runs"].items():
        for e, v in x["at_epoch"].items():
            rows.append((label[tag], e, f"{v['val_loss']:.4f}", f"{v['val_sc_accuracy']:.4f}",
                         f"{v['val_lc_accuracy']:.4f}"))
    p, k = r["runs"]["paper"], r["runs"]["keras"]
    lines = [md_table(("initialization", "epoch", "val loss", "val SC", "val LC"), rows), ""]
    lines += [f"- first epoch with validation SC accuracy >= 0.99: {label[t]} {x['first_epoch_val_sc_099'] or 'never'}"
              for t, x in r["runs"].items()]
    lines += [f"- test (augmented libr18_27, {x['n_test']} spectra), best checkpoint (epoch {x['best_checkpoint']['epoch']}): "
              f"{label[t]} SC {x['best_checkpoint']['spectral_class']:.3f}, LC {x['best_checkpoint']['luminosity_class']:.3f}"
              for t, x in r["runs"].items()]
    lower = [e for e in p["at_epoch"] if p["at_epoch"][e]["val_loss"] < k["at_epoch"][e]["val_loss"]]
    d_sc = p["best_checkpoint"]["spectral_class"] - k["best_checkpoint"]["spectral_class"]
    d_lc = p["best_checkpoint"]["luminosity_class"] - k["best_checkpoint"]["luminosity_class"]
    fp, fk = p["first_epoch_val_sc_099"], k["first_epoch_val_sc_099"]
    sooner = (f"reaches 99 % validation SC accuracy {fk - fp} epochs sooner" if fp and fk and fp < fk else
              f"reaches 99 % validation SC accuracy at epoch {fp or 'never'} (Keras default: {fk or 'never'})")
    lines += ["", f"Reading (one seed each: how much a seed alone moves a run is not measured at this length, so small "
              f"differences may be seed scatter): the "
              f"paper's initialization has the lower validation loss at {len(lower)} of {len(p['at_epoch'])} checkpoints "
              f"({p['at_epoch'][str(r['epochs'][-1])]['val_loss']:.3f} vs "
              f"{k['at_epoch'][str(r['epochs'][-1])]['val_loss']:.3f} at epoch {r['epochs'][-1]}), {sooner}, and "
              f"{d_sc:+.3f} test SC / {d_lc:+.3f} LC accuracy against Keras' default.",
              ""]
    ex = card("autoclassmk")["metrics"]
    lines += [f"For comparison, the exported `autoclassmk` (`{ex['command']}`, trained before every layer got its own "
              f"initializer stream, below; otherwise the same recipe, data and seed) scores SC "
              f"{ex['spectral_class']['accuracy']:.3f}, LC {ex['luminosity_class']['accuracy']:.3f} on the same test set: "
              f"{p['best_checkpoint']['spectral_class'] - ex['spectral_class']['accuracy']:+.3f} / "
              f"{p['best_checkpoint']['luminosity_class'] - ex['luminosity_class']['accuracy']:+.3f} for this rerun "
              "of the paper's initialization, a measure of how far one run moves from another.", ""]

    def run_txt(x):
        tr = x.get("training_run") or {}
        la = tr.get("load_average_1min") or {}
        return (f"`{x['command']}`: {x['epochs_run']} epochs, {tr.get('wall_time_minutes', '?')} min, load median "
                f"{la.get('median', '?')} (max {la.get('max', '?')})")
    lines += ["Runs: " + "; ".join(run_txt(x) for x in r["runs"].values()) + f"; collected by `{r['command']}` "
              f"({r['machine']}, code {(r.get('code_version') or '?')[:7]})."]
    return "\n".join(lines)


@block("autoclassmk_coverage_reading")
def coverage_reading() -> str:
    """What losing 25 Å at either end costs each variant (``docs/results/coverage_<model>.json``)."""
    def at(name, end):
        return coverage_row(name)["spectral_class"], coverage_row(name, end, 25.0)["spectral_class"]
    blue = {m: at(m, "blue") for m in MODELS}
    red = {m: at(m, "red") for m in MODELS}
    return (f"The spectral class needs the blue end: losing only 3800–3825 Å takes the spectral-class accuracy of "
            f"{' and '.join(f'`{m}` from {a:.2f} to {b:.2f}' for m, (a, b) in blue.items())}; the region holds the "
            f"high Balmer lines and the Ca II K/H lines (3933/3968 Å) lie just beyond 100 Å. The red end matters less "
            f"(25 Å: {' / '.join(f'{b:.2f}' for _, b in red.values())}).")


@block("autoclassmk_wall_times")
def wall_times() -> str:
    """The committed runs' wall time, from the exported cards."""
    parts = []
    for m in MODELS:
        c = card(m)
        met = c["metrics"]
        parts.append(f"`{m}` ({met['command']}): {met['wall_time_s']:.0f} s in all, {c['recipe'].get('epochs', '?')} "
                     f"epochs, on {met.get('machine', '?')}")
    return "Wall time of the committed runs (the exported cards' `metrics`): " + "; ".join(parts) + "."


@block("autoclassmk_broad_trained")
def broad_trained() -> str:
    """How ``autoclassmk_broad`` was trained: its epochs and its command (the exported card)."""
    c = card("autoclassmk_broad")
    return f"Trained for {c['recipe']['epochs']} epochs (`{c['metrics']['command']}`):"


@block("autoclassmk_retraining")
def retraining() -> str:
    """The commands behind docs/autoclassmk.md; the epochs from the recipes, each command and time a card or
    results file recorded from it."""
    from training.autoclassmk import AutoClassMK
    from zoo.families.autoclassmk.recipes import PAPER
    exact, broad = card("autoclassmk"), card("autoclassmk_broad")
    cv, rect, seeds, es = (load(n) for n in ("autoclassmk_grouped_cv", "autoclassmk_rectification",
                                             "autoclassmk_head_seeds", "autoclassmk_early_stopping"))

    def minutes(s):
        return f"{s / 60:.0f} min"
    rows = [(exact["metrics"]["command"], f"the paper's recipe, {PAPER.epochs} epochs "
             f"({minutes(exact['metrics']['wall_time_s'])} in the exported run), evaluate + export"),
            ("python -m training.autoclassmk --quick", f"smoke run (~1 min): {AutoClassMK.quick['epochs']} epochs, "
             "few variants, exports under runs/"),
            (broad["metrics"]["command"], f"autoclassmk_broad, as exported ({minutes(broad['metrics']['wall_time_s'])})"),
            ("python -m training.autoclassmk --help", "epochs, lr, --lr-halving, batch, --head-weights, seed, variants, "
             "out dir, ..."),
            (cv["command"], f"grouped CV by star, bootstrap intervals ({minutes(cv['duration_s'])} recorded)"),
            (rect["command"], f"flux-calibrated input through mk_rectify ({rect['duration_s']:.0f} s recorded)"),
            (seeds["command"], f"shared vs own head seeds, validation only ({minutes(seeds['duration_s'])} recorded)"),
            (es["command"], f"the paper's recipe with a real early stop (until patience fires; "
             f"{minutes(es['duration_s'])} recorded)"),
            ("tensorboard --logdir runs/autoclassmk/tensorboard", "")]
    return commands_block(rows, max_width=60)
