"""One renderer for every generated block of docs/: numbers come from results files, never by hand.

    python -m evaluation.render            # rewrite the generated blocks of docs/*.md
    python -m evaluation.render --check    # exit 1 (and name them) when a block differs from its rendering

A generated block in a Markdown file is delimited by

    <!-- BEGIN generated:NAME -->
    ...
    <!-- END generated:NAME -->

and its text is ``BLOCKS[NAME]()``: a function of the committed results (``docs/results/*.json``,
written by the committed scripts and training commands named in each file) and of the exported
cards.  CI runs the check (tests/test_docs_generated.py), so a pasted number that drifts from its
results file fails the build.  Add an experiment: a script that writes ``docs/results/<name>.json``
(inputs' hashes, code version, machine, load, duration, the numbers), a block function here, and the
markers where the page quotes it.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "docs", "results")
BLOCK_RE = re.compile(r"^(?P<indent>[ \t]*)(<!-- BEGIN generated:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
                      r"^[ \t]*(<!-- END generated:(?P=name) -->)", re.S | re.M)
BLOCKS: dict = {}


def block(name: str):
    def deco(fn):
        BLOCKS[name] = fn
        return fn
    return deco


def load(name: str) -> dict:
    with open(os.path.join(RESULTS, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)


def card(name: str) -> dict:
    with open(os.path.join(REPO, "exported", name, "card.json"), encoding="utf-8") as fh:
        return json.load(fh)


def _json(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def pct(s: dict) -> str:
    """k/n, percent and the 95 % Clopper-Pearson interval of a share dict (k, n, rate, ci95)."""
    lo, hi = s["ci95"]
    return f"{s['k']}/{s['n']} = {100 * s['rate']:.0f} % [{100 * lo:.0f}, {100 * hi:.0f}]"


def provenance(r: dict) -> str:
    code = (r.get("code_version") or "?")[:7]
    return (f"`{r['command']}`, {r['duration_s']:.0f} s on {r.get('cpu_count', '?')} CPUs, load "
            f"{r.get('load_before', '?')} before / {r.get('load_after', '?')} after, code {code}")


# --------------------------------------------------------------------------- blocks
@block("finetune_cv")
def finetune_cv() -> str:
    def ci(x, key):
        lo, hi = x[f"{key}_ci95"]
        return f"{x[key]:.2f} [{lo:.2f}, {hi:.2f}]"
    out = ["| model | table | held-out spectra | pretrained unchanged | fine-tuned | from scratch | PCA baseline | run |",
           "|---|---|---|---|---|---|---|---|"]
    for f in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
        with open(f, encoding="utf-8") as fh:
            r = json.load(fh)
        if "folds" not in r or "results" not in r:
            continue
        for row in r["results"]:
            for head in row["pretrained"]:
                cells = [ci(row[m][head], "accuracy" if "accuracy" in row[m][head] else "scatter") if m in row else "-"
                         for m in ("pretrained", "finetuned", "scratch", "baseline")]
                out.append(f"| {r['model']} ({head}) | {os.path.basename(r['table'])}, {r['n_spectra']} spectra, "
                           f"train size {row['train_size']} | {row['n_held_out']} ({r['folds']} folds) | "
                           + " | ".join(cells) + f" | {r['wall_time_minutes']:.0f} min |")
    return "\n".join(out)


@block("finetune_models")
def finetune_models() -> str:
    def ci(x, key):
        lo, hi = x[f"{key}_ci95"]
        return f"{x[key]:.2f} [{lo:.2f}, {hi:.2f}]"
    out = []
    out.append("| model | base | what | validation: base unchanged | validation: trained | simulated test: base | "
          "simulated test: trained | epochs (best) |")
    out.append("|---|---|---|---|---|---|---|---|")
    for f in sorted(glob.glob(os.path.join(REPO, "exported", "*", "card.json"))):
        c = _json(f)
        rec = c.get("recipe") or {}
        if not rec.get("base_model"):
            continue
        ev = (c.get("metrics") or {}).get("finetune_evaluation")
        if ev:
            v, s = ev["val"], ev.get("simulated_test", {})
            head = next(iter(v["trained"]))
            fit = c["metrics"]["fit"]
            cell = lambda d: ci(d[head], "accuracy") if d and head in d else "-"  # noqa: E731
            out.append(f"| {c['name']} | {rec['base_model']} | {rec['start_from']} on {c['data']['train_table']} "
                  f"({fit['train_spectra']} real + {fit['simulated_spectra']} simulated) | {cell(v['pretrained_unchanged'])} | "
                  f"{cell(v['trained'])} | {cell(s.get('pretrained_unchanged'))} | {cell(s.get('trained'))} | "
                  f"{fit['epochs_run']} ({fit['best_epoch']}) |")
        elif "refit" in (c.get("trust") or {}):
            r = c["trust"]["refit"]
            n = r["held_out_spectra"]
            lo, hi = r["false_flag_ci95"]
            blo, bhi = r["base_false_flag_ci95"]
            out.append(f"| {c['name']} | {rec['base_model']} | domain score refit on {r['table']} | held-out false flags "
                  f"{r['base_false_flag_rate_held_out'] * n:.0f}/{n} ({r['base_false_flag_rate_held_out']:.2f} "
                  f"[{blo:.2f}, {bhi:.2f}]) | {r['false_flag_rate_held_out'] * n:.0f}/{n} "
                  f"({r['false_flag_rate_held_out']:.2f} [{lo:.2f}, {hi:.2f}]) | - | - | - |")
    return "\n".join(out)


@block("racnet_survey_calibration")
def racnet_survey_calibration() -> str:
    r = load("racnet_survey_calibration")
    b, a, mk = r["boundaries"], r["agreement_with_pipeline_fgk"], r["agreement_with_mk_standards"]
    n = a["n"]
    out = [f"Measured on {r['n_stars']} real LAMOST DR1 stars ("
           + ", ".join(f"{t} {k}" for t, k in r["types"].items()) + f"); {provenance(r)}.", "",
           "| | legacy simulator | calibrated simulator |", "|---|---|---|",
           f"| F/G/K boundaries of HdA + HgA (A/F, F/G, G/K, A) | {tuple(b['old_mk_standards'])} (MK standards) | "
           f"{tuple(b['new_lamost_pipeline'])} (LAMOST pipeline) |",
           f"| index labels = pipeline F/G/K type | {a['old']}/{n} | {a['new_heldout_cv']}/{n} held-out (4-fold CV; "
           f"{a['new_fit_on_all']}/{n} fitted on all) |",
           f"| index labels = MK type of the libr18 F/G/K standards | {mk['old']}/{mk['n']} | {mk['new']}/{mk['n']} |",
           f"| S/N at 6000-7000 A | per class (STAR 25, GALAXY 10, QSO 8) | every class: log-normal, median "
           f"{r['snr_all'][0]}, width {r['snr_all'][1]} |",
           f"| star E(B-V) | exponential, mean 0.15 | a real star's effective value: median {r['ebv']['median']:.3f}, "
           f"16-84 % {r['ebv']['p16']:.3f} to {r['ebv']['p84']:.3f} |",
           "| flux-calibration error | Legendre P1-P3, N(0, 0.08) | that star's residual (rms P1-P3 "
           + ", ".join(f"{v:.3f}" for v in r["resid_rms"]) + ") plus N(0, 0.08) |",
           f"| F/G/K archetype pools | every A/F/G/K archetype by its index | intrinsic log10(f4500/f6100) >= "
           f"{r['colour_min']} |", "",
           "Held-out checks (4 folds over stars: calibrated on three, simulated "
           f"{r['n_sim_per_type_and_fold']} stars a type, compared with the fourth):", "",
           "| type | real stars | S/N(4000-4500)/S/N(6000-7000): real | legacy | calibrated | colour real - simulated "
           "at fixed index (dex): legacy | calibrated |", "|---|---|---|---|---|---|---|"]
    for t in "FGK":
        o, nw = r["checks_heldout"]["old"][t], r["checks_heldout"]["new"][t]
        out.append(f"| {t} | {nw['n_real']} | {nw['real_snr_blue_over_red']:.2f} | {o['sim_snr_blue_over_red']:.2f} | "
                   f"{nw['sim_snr_blue_over_red']:.2f} | {o['colour_offset_real_minus_sim_dex']:+.3f} ± "
                   f"{o['colour_offset_stderr']:.3f} | {nw['colour_offset_real_minus_sim_dex']:+.3f} ± "
                   f"{nw['colour_offset_stderr']:.3f} |")
    return "\n".join(out)


def _real_dev_rows(r: dict, label: str) -> list:
    rows = []
    for m in r["results"]:
        real, sim = m["real"], m["simulated"]
        if "called_STAR" in real:
            by = real["non_STAR_by_snr_g"]
            rows.append(f"| {m['model']} ({label}) | called STAR {pct(real['called_STAR'])} | "
                        f"non-STAR at S/N_g < 12: {pct(by['0-12'])}; 12-35: {pct(by['12-35'])}; > 35: {pct(by['35-1000'])} | "
                        f"{pct(real['flagged'])} | {pct(sim['legacy']['called_STAR'])} | {pct(sim['calibrated']['called_STAR'])} |")
        else:
            rows.append(f"| {m['model']} ({label}) | pipeline F/G/K type {pct(real['agree_with_pipeline'])} | "
                        f"confusion (rows pipeline F, G, K) {real['confusion_rows_pipeline_cols_predicted']} | "
                        f"{pct(real['flagged'])} | {pct(sim['legacy']['agree_with_label'])} | "
                        f"{pct(sim['calibrated']['agree_with_label'])} |")
    return rows


@block("racnet_real_dev")
def racnet_real_dev() -> str:
    out = ["| model | real dev stars: right | detail | real: flagged | simulated stars, legacy simulator: right | "
           "calibrated simulator: right |", "|---|---|---|---|---|---|"]
    notes = []
    for label in ("before", "after"):
        path = os.path.join(RESULTS, f"racnet_real_dev_{label}.json")
        if os.path.exists(path):
            r = load(f"racnet_real_dev_{label}")
            out += _real_dev_rows(r, label)
            notes.append(f"{label}: {provenance(r)}")
    return "\n".join(out + [""] + [f"- {n}" for n in notes])


PAPER_TABLE4 = {  # Zou et al. (2020) Table 4 (params, DS1, DS2, DS3 accuracy %) and Table 2's FC row (DS1)
    "cnet": ("2.89 M", 88.75, 98.58, 91.97), "rcnet": ("0.388 M", 93.33, 98.81, 93.07),
    "racnet": ("0.623 M", 93.52, 98.92, 93.25), "fcnet": ("-", 77.13, None, None)}
ARCH_LABEL = {"fcnet": "FC baseline", "cnet": "C-Net", "rcnet": "RC-Net", "racnet": "RAC-Net"}


@block("racnet_table4")
def racnet_table4() -> str:
    r = load("racnet_table4")
    rows = {(x["arch"], x["task"]): x for x in r["rows"]}
    out = ["| network | params (paper) | params (ours) | DS1 paper | DS1 ours | DS2 paper | DS2 ours | DS3 paper | "
           "DS3 ours |", "|---|---|---|---|---|---|---|---|---|"]
    for arch in ("fcnet", "cnet", "rcnet", "racnet"):
        paper = PAPER_TABLE4[arch]
        params = next((f"{x['params']:,}" for (a, _), x in rows.items() if a == arch and x.get("params")), "-")
        cells = []
        for i, task in enumerate(("ds1", "ds2", "ds3")):
            p = paper[1 + i]
            x = rows.get((arch, task))
            ours = (f"{100 * x['test_accuracy']:.2f} % (avg/class {100 * x['average_accuracy']:.2f} %; "
                    f"{x['epochs_run']} epochs, best {x['best_epoch']}, {x['stopped_by']})" if x else "not rerun")
            cells += ["-" if p is None else f"{p} %", ours]
        out.append(f"| {ARCH_LABEL[arch]} | {paper[0]} | {params} | " + " | ".join(cells) + " |")
    out += [""]
    for i, task in enumerate(("ds1", "ds2", "ds3")):
        ours = sorted((rows[(a, task)]["test_accuracy"], a) for a in ("cnet", "rcnet", "racnet") if (a, task) in rows)
        paper = sorted((PAPER_TABLE4[a][1 + i], a) for a in ("cnet", "rcnet", "racnet"))
        if len(ours) == 3:
            gap = 100 * (ours[-1][0] - ours[0][0])
            out.append(f"- DS{i + 1}: ours {' > '.join(ARCH_LABEL[a] for _, a in reversed(ours))} (spread "
                       f"{gap:.2f} points); paper {' > '.join(ARCH_LABEL[a] for _, a in reversed(paper))}"
                       + ("; the paper's ordering holds" if [a for _, a in ours] == [a for _, a in paper]
                          else "; **the paper's ordering does not hold**"))
    out += ["", "| run | command | simulated test spectra | wall time | s/epoch | load average (1 min, at epoch ends) |",
            "|---|---|---|---|---|---|"]
    for x in r["rows"]:
        ld = x.get("load_average_1min") or {}
        load_txt = f"median {ld['median']}, max {ld['max']}" if ld else "not recorded"
        out.append(f"| {x['name']} | `{x['command']}` | {x['test_n']} | {x['wall_time_minutes']} min | "
                   f"{x['seconds_per_epoch_median']} | {load_txt} |")
    out += ["", f"Collected by `{r['command']}` (code {(r.get('code_version') or '?')[:7]}) from the runs' "
            "metrics and the exported cards."]
    return "\n".join(out)


@block("racnet_trust")
def racnet_trust() -> str:
    after = os.path.join(RESULTS, "racnet_real_dev_after.json")
    real = {m["model"]: m["real"] for m in _json(after)["results"]} if os.path.exists(after) else {}
    out = ["| model | template cuts z_s / z_c GALAXY / z_c QSO; knn threshold | simulated in-domain test: flagged | "
           "inputs without an object: flagged | out-of-domain probes: flagged | real dev stars: flagged | "
           "real dev stars: wrong class not flagged |", "|---|---|---|---|---|---|---|"]
    for name in ("racnet_ds1", "racnet_ds2", "racnet_fgk"):
        c = card(name)
        t, probes = c["trust"], c["metrics"]["trust"]["flagged_out_of_domain"]
        cuts = t["template_cuts"]
        fmt_cut = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        st = t["measured"]["simulated_test"]
        sim = ", ".join(f"{k} {v['k']}/{v['n']}" for k, v in st.items() if isinstance(v, dict) and "k" in v
                        and not k.startswith("all"))
        allr = st.get("all", {})
        no_obj = ", ".join(f"{k} {100 * v['rate']:.0f} %" for k, v in t["measured"]["no_object"].items())
        pr = ", ".join(f"{k} {100 * v:.0f} %" for k, v in probes.items())
        r = real.get(name, {})
        if "called_STAR" in r:
            wrong = pct(r["non_STAR_not_flagged"]) if "non_STAR_not_flagged" in r else "-"
            flagged = pct(r["flagged"])
        elif r:
            flagged, wrong = f"F/G/K {pct(r['flagged'])}; A/M {pct(r['A_M_flagged'])}", "-"
        else:
            flagged = wrong = "-"
        out.append(f"| {name} | {fmt_cut(cuts['signal'])} / {fmt_cut(cuts['GALAXY'])} / {fmt_cut(cuts['QSO'])}; "
                   f"{t['knn']['threshold']} | {allr.get('k', '?')}/{allr.get('n', '?')} ({sim}) | {no_obj} | {pr} | "
                   f"{flagged} | {wrong} |")
    out += ["", "From each card's `trust` block (written by its training run, `python -m training.racnet`; "
            "simulated test: seed recipe.seed + 202, 200 per class; inputs without an object: 100 each, seed 4242, "
            "for racnet_ds1 flagged or UNKNOWN) and `metrics.trust` (probes of seed recipe.seed + 23, 150 each), "
            "and docs/results/racnet_real_dev_after.json (the 88 real dev stars)."]
    return "\n".join(out)


THESIS_EMISSION = {  # Podsztavek (2017) Sec. 9.2.4: per-class accuracy of the SMOTE-trained networks
    "emission_fc": {"emission": 98, "absorption": 99, "double-peak": 94},
    "emission_cnn": {"emission": 99, "absorption": 99, "double-peak": 95}}


@block("emission_results")
def emission_results() -> str:
    from zoo.stats import clopper_pearson
    out = ["| model | emission | absorption | double-peak | overall | epochs (best), stopped by, wall time, load |",
           "|---|---|---|---|---|---|"]
    for name in ("emission_fc", "emission_cnn"):
        c = card(name)
        t, tr = c["metrics"]["test"], c["metrics"]["training_run"]
        th = THESIS_EMISSION[name]
        out.append(f"| thesis {name.split('_')[1].upper()}, SMOTE (Fig. 9.4) | {th['emission']} % | {th['absorption']} % | "
                   f"{th['double-peak']} % | - | 250 |")
        cells = []
        for i, cls in enumerate(t["classes"]):
            row = t["confusion_matrix"][i]
            k, n = row[i], sum(row)
            lo, hi = clopper_pearson(k, n)
            cells.append(f"{100 * k / n:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}] (n {n})")
        ld = tr.get("load_average_1min") or {}
        out.append(f"| **ours** (`{name}`) | " + " | ".join(cells) + f" | {100 * t['accuracy']:.1f} % | "
                   f"{tr['epochs_run']} ({tr['best_epoch']}), {tr['stopped_by']}, {tr['wall_time_minutes']} min, "
                   f"load median {ld.get('median', '?')} |")
    return "\n".join(out)


@block("emission_real_dev")
def emission_real_dev() -> str:
    out = ["| trained on | model | SUBCLASS A | F | G | K | M | LAMOST-rendered simulated absorption, S/N 8-150: "
           "called emission, G / K / M |", "|---|---|---|---|---|---|---|---|"]
    for label in ("legacy", "survey"):
        path = os.path.join(RESULTS, f"emission_sim_realism_{label}.json")
        if not os.path.exists(path):
            continue
        r = _json(path)
        for name in ("emission_fc", "emission_cnn"):
            m = r["models"].get(name)
            if not m:
                continue
            cells = []
            for sub in "AFGKM":
                d = m["real_lamost_dev_by_subclass"].get(sub)
                cells.append("-" if not d else f"{round(d['emission'] * d['n'])} / {round(d['double-peak'] * d['n'])} "
                             f"({round(d['out_of_domain'] * d['n'])}) of {d['n']}")
            sim = m["sim_absorption"].get("lamost_survey_snr") or {}
            simtxt = " / ".join(f"{100 * sim[g]['emission']:.0f} %" for g in "GKM" if g in sim) or "-"
            out.append(f"| {m.get('trained_with_simulator', label)} simulator | {name} | " + " | ".join(cells)
                       + f" | {simtxt} |")
    out += ["", "Cells: calls emission / double-peak (flagged out of domain) of n real lamost_dev stars of that "
            "SUBCLASS. From docs/results/emission_sim_realism_legacy.json (the models exported at 9850d08) and "
            "_survey.json (the retrained ones), `python scripts/emission_sim_realism.py`."]
    return "\n".join(out)


@block("emission_real_files")
def emission_real_files() -> str:
    fc, cnn = card("emission_fc")["metrics"]["real_files"], card("emission_cnn")["metrics"]["real_files"]
    out = ["| file | expected | `emission_fc` | `emission_cnn` | domain score (CNN; out of domain above the card's "
           "threshold) |", "|---|---|---|---|---|"]
    for f, r in cnn.items():
        if f.startswith("_"):
            continue
        a = fc.get(f, {})
        cell = lambda d: f"{d['class']} ({d['probabilities'][d['class']]:.3f})" if d else "-"  # noqa: E731
        out.append(f"| {f} | {r['expected']} | {cell(a)} | {cell(r)} | {r['domain_score']:.2f}"
                   + (" (flagged)" if r["out_of_domain"] else "") + " |")
    out += ["", "From the exported cards (`metrics.real_files`, written by the training runs through ONNX Runtime)."]
    return "\n".join(out)


@block("emission_trust")
def emission_trust() -> str:
    out = ["| set | `emission_fc` flagged | `emission_cnn` flagged |", "|---|---|---|"]
    t = {n: card(n)["metrics"]["trust"] for n in ("emission_fc", "emission_cnn")}
    real = {n: card(n)["metrics"]["real_files"] for n in t}
    rows = [("threshold (the 99th percentile of the validation scores)", lambda m, n: f"{m['threshold']:.2f}"),
            ("validation (defines the threshold)", lambda m, n: f"{100 * m['validation_flag_rate']:.1f} %"),
            ("simulated test set (false flags)", lambda m, n: f"{100 * m['test_false_flag_rate']:.1f} %")]
    for probe in t["emission_cnn"]["hit_rate"]:
        rows.append((f"probe: {probe.replace('_', ' ')}", lambda m, n, p=probe: f"{100 * m['hit_rate'][p]:.1f} %"))
    files = {n: [r for f, r in real[n].items() if not f.startswith("_")] for n in real}
    rows.append(("real files of the card (metrics.real_files)",
                 lambda m, n: f"{sum(r['out_of_domain'] for r in files[n])} of {len(files[n])}"))
    for label, fn in rows:
        out.append(f"| {label} | {fn(t['emission_fc'], 'emission_fc')} | {fn(t['emission_cnn'], 'emission_cnn')} |")
    out += ["", "From the exported cards (`metrics.trust`, `metrics.real_files`: the training runs' measurements; "
            "probes: flat lines, flat lines + 0.1 % noise, white noise of 5-30 % on a positive level, and a simulated "
            "spectrum's 6282-6498 A (no H-alpha) fed as 6519-6732 A)."]
    return "\n".join(out)


@block("onednn_training_speed")
def onednn_training_speed() -> str:
    r = load("onednn_training_speed")
    sp = r["spectra_per_s"]
    return (f"{r['model']} training with TensorFlow's oneDNN kernels on: {sp['onednn_on']:.0f} against "
            f"{sp['onednn_off']:.0f} spectra/s off, **{r['ratio']:.1f}x** (best of {r['rounds']} alternating rounds "
            f"of {r['steps']} steps of {r['batch']} spectra; {provenance(r)}, {r['date']}).")


# --------------------------------------------------------------------------- driver
def render_text(text: str) -> str:
    def sub(m):
        name, indent = m.group("name"), m.group("indent")
        if name not in BLOCKS:
            raise KeyError(f"unknown generated block {name!r} (evaluation/render.py BLOCKS)")
        body = "\n".join((indent + line) if line else line for line in BLOCKS[name]().rstrip("\n").split("\n"))
        return indent + m.group(2) + body + "\n" + indent + m.group(5)
    return BLOCK_RE.sub(sub, text)


def docs_files() -> list:
    return sorted(glob.glob(os.path.join(REPO, "docs", "*.md")) + [os.path.join(REPO, "README.md")])


def check() -> list:
    """Paths whose generated blocks differ from their rendering."""
    bad = []
    for p in docs_files():
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
        if "<!-- BEGIN generated:" in text and render_text(text) != text:
            bad.append(os.path.relpath(p, REPO))
    return bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a block differs")
    a = p.parse_args(argv)
    if a.check:
        bad = check()
        for b in bad:
            print(f"{b}: a generated block differs from its rendering (python -m evaluation.render)")
        return 1 if bad else 0
    for path in docs_files():
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        new = render_text(text)
        if new != text:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(new)
            print(f"rendered {os.path.relpath(path, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
