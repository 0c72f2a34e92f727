"""Generated blocks of docs/bestars.md (Podsztavek 2017, the Be-star H-alpha classifiers)."""
from __future__ import annotations

import os

from evaluation.common import RESULTS, _json, block, card, load, md_table, provenance

from zoo.families.bestars.paper import EPOCHS as THESIS_EPOCHS
from zoo.families.bestars.paper import PER_CLASS as THESIS_EMISSION



def _halpha_vacuum() -> float:
    from zoo.families.bestars.preprocess import air_to_vacuum_thesis
    from zoo.families.bestars.simulate import HALPHA_AIR
    return float(air_to_vacuum_thesis(HALPHA_AIR))


#: H-alpha in vacuum by the thesis's Eqs. 7.1-7.3 from the simulator's air wavelength (docs/bestars.md)
HALPHA_VACUUM = _halpha_vacuum()

@block("emission_results")
def emission_results() -> str:
    from zoo.stats import clopper_pearson
    out = ["| model | emission | absorption | double-peak | overall | epochs (best), stopped by, wall time, load |",
           "|---|---|---|---|---|---|"]
    for name in ("emission_fc", "emission_cnn"):
        c = card(name)
        t, tr = c["metrics"]["test"], c["metrics"]["training_run"]
        th = THESIS_EMISSION[name]
        out.append(f"| thesis {name.split('_')[1].upper()}, SMOTE (Fig. 9.4) | {100 * th['emission']:.0f} % | "
                   f"{100 * th['absorption']:.0f} % | {100 * th['double-peak']:.0f} % | - | {THESIS_EPOCHS} |")
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
            "_survey.json (the retrained ones), `python scripts/bestars_sim_realism.py`."]
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


@block("bestars_calibration")
def bestars_calibration() -> str:
    """``python scripts/bestars_figures.py --calibration``: how the real files sit among the simulated
    training set of the committed runs (continuum tilts; nearest simulated neighbour, its percentile
    among the simulated test spectra's own, the PCA domain score of trust.py fitted to that set)."""
    r = load("bestars_calibration")
    t = r["tilts"].values()
    sim, nn = r["simulated"], r["simulated_test_nn"]
    from zoo.families.bestars.simulate import GRIDS, SimConfig
    half = 0.5 * GRIDS[0][1] * (GRIDS[0][2] - 1)   # the simulator's tilt: 1 + a1 x + a2 (x^2 - 1/3), x in [-1, 1]
    slope, curv = SimConfig.slope_sigma * 100 / half, SimConfig.curvature_sigma * (100 / half) ** 2
    out = [f"Continuum tilts of the {len(r['tilts'])} real files over 6519–6732 Å (H-alpha ±35 Å excluded): "
           f"|slope| up to {max(abs(x['slope']) for x in t):.3f} per 100 Å, |curvature| up to "
           f"{max(abs(x['curvature']) for x in t):.3f} per (100 Å)²; the simulator's at 1σ: {slope:.3f} and "
           f"{curv:.3f} (`SimConfig.slope_sigma` {SimConfig.slope_sigma} and `curvature_sigma` "
           f"{SimConfig.curvature_sigma} over the CCD700 grid's half-width, {half:.0f} Å).", "",
           "| real spectrum | archive | nearest simulated | NN distance | percentile of simulated test | domain score |",
           "|---|---|---|---|---|---|"]
    for x in sorted(r["real"], key=lambda x: (x["archive"] != "ondrejov", x["nn_distance"])):
        out.append(f"| {x['file']} | {x['archive']} | {x['nearest_class']} | {x['nn_distance']:.2f} | "
                   f"{100 * x['percentile']:.0f} % | {x['domain_score']:.2f} |")
    out += ["", f"Simulated test spectra's own nearest-neighbour distances: median {nn['median']:.2f}, 95th "
            f"percentile {nn['p95']:.2f} ({nn['n']} spectra; the `{sim['simulator']}` simulator, {sim['n']} spectra, "
            f"seed {sim['seed']}; domain score: PCA k = {sim['trust_components']}). {provenance(r)}, {r['date']}."]
    return "\n".join(out)


@block("emission_input_noise")
def emission_input_noise() -> str:
    """The measured input-noise quantiles of real LAMOST rows and of both simulators, and how many
    real rows fall inside each simulator's 1-99 % range (``python scripts/bestars_sim_realism.py`` ->
    docs/results/emission_sim_realism_legacy.json)."""
    r = load("emission_sim_realism_legacy")["input_noise"]
    real, leg, sur = r["real_lamost"], r["sim_legacy"], r["sim_survey"]
    n_dev, n_lam = real["lamost_dev"]["measured"]["n"], real["lamost"]["measured"]["n"]

    def row(label, q):
        return (f"| {label} | {q['n']} | {q['q05']:.3g} | {q['q25']:.3g} | **{q['q50']:.3g}** | {q['q75']:.3g} | "
                f"{q['q95']:.3g} |")
    n = real["measured"]["n"]
    out = ["| inputs | n | 5 % | 25 % | median | 75 % | 95 % |", "|---|---|---|---|---|---|---|",
           row(f"real LAMOST (`lamost_dev` {n_dev} + `lamost` {n_lam}; {len(real['skipped'])} dev files have no "
               "flux over 6519–6732 Å)", real["measured"]),
           row("legacy simulator (all)", leg["measured"]),
           row("survey simulator, LAMOST-rendered", sur["lamost_rendered"]["measured"]),
           row("survey simulator, Ondřejov-rendered", sur["ondrejov_rendered"]["measured"]), "",
           f"Real LAMOST rows inside the survey simulator's 1–99 % range: "
           f"{round(sur['real_lamost_inside_1_99']['measured'] * n)} of {n}; inside the legacy simulator's: "
           f"{round(leg['real_lamost_inside_1_99']['measured'] * n)}. The noise the data *state* (median per-pixel σ "
           f"over the row's standard deviation: LAMOST's ivar through the contract, the simulator's σ) tells the "
           f"same story: real median {real['stated']['q50']:.2f}; legacy {leg['stated']['q50']:.3f}; survey, all "
           f"renderings, {sur['stated']['q50']:.3f}, with {100 * sur['real_lamost_inside_1_99']['stated']:.0f} % of "
           f"the real rows inside its 1–99 % range."]
    return "\n".join(out) + "\n"


FILE_NAMES = {"alpha-lyr-absorption.fits": "Vega", "bt-cmi-ondrejov.fits": "BT CMi",
              "gamma-cas-emission.fits": "γ Cas", "oe270005.fits": "HD 208905"}


def _p(v: float) -> str:
    """A percentage as the page writes it: one decimal below 10, none above."""
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"


@block("emission_sim_files")
def emission_sim_files() -> str:
    """Where the bundled Ondřejov files and the real LAMOST rows lie among the simulated inputs (input
    noise and nearest simulated neighbour), both simulators (docs/results/emission_sim_realism_legacy.json)."""
    r = load("emission_sim_realism_legacy")
    ond = r["input_noise"]["ondrejov_files"]
    nn = r["nearest_simulated_neighbour"]
    names = list(ond)
    noise = ", ".join(f"{FILE_NAMES.get(f, f)} {_p(ond[f]['percentile_measured_in_sim_ondrejov'])} / "
                      f"{_p(ond[f]['percentile_measured_in_sim_legacy'])} %" for f in names)
    sv, lg = nn["survey"]["ondrejov_files_percentile"], nn["legacy"]["ondrejov_files_percentile"]
    return (f"The bundled Ondřejov files stay inside the Ondřejov-rendered spectra (percentile of their measured "
            f"input noise, survey / legacy simulator): {noise}. Each real file's distance to its nearest simulated "
            f"input, as a percentile of held-out simulated spectra's own: real LAMOST files inside the 95th "
            f"percentile, legacy {100 * nn['legacy']['real_lamost_inside_95']:.0f} % → survey "
            f"{100 * nn['survey']['real_lamost_inside_95']:.0f} %; Ondřejov files "
            + " / ".join(_p(sv[f]) for f in names) + " % (" + ", ".join(FILE_NAMES.get(f, f) for f in names)
            + "; legacy: " + " / ".join(_p(lg[f]) for f in names) + " %).\n")


@block("emission_sim_flag_proxy")
def emission_sim_flag_proxy() -> str:
    """The trust score refitted to each simulator's inputs: probes, real files (same results file)."""
    r = load("emission_sim_realism_legacy")["out_of_domain_proxy"]
    lg, sv = r["legacy"], r["survey"]
    kept = [k for k in ("flat", "flat_noisy", "pure_noise") if lg["probe_hit_rate"][k] == 1 == sv["probe_hit_rate"][k]]
    label = {"flat": "flat lines", "flat_noisy": "flat lines + 0.1 % noise", "pure_noise": "pure noise"}
    ond = [f for f in lg["ondrejov_files_flagged"] if lg["ondrejov_files_flagged"][f] or sv["ondrejov_files_flagged"][f]]
    return (", ".join(label[k] for k in kept) + " stay 100 % flagged; the real LAMOST files flagged go from "
            f"{_p(100 * lg['real_lamost_flagged'])} % (legacy) to {_p(100 * sv['real_lamost_flagged'])} % (survey); "
            + ("none of the four Ondřejov files is flagged by either" if not ond else
               "Ondřejov files flagged by either: " + ", ".join(FILE_NAMES.get(f, f) for f in ond))
            + f"; but the wrong-range probe (6282–6498 Å of a simulated Ondřejov spectrum, no H-alpha, fed as "
            f"6519–6732 Å) goes from {_p(100 * lg['probe_hit_rate']['wrong_range'])} % to "
            f"{_p(100 * sv['probe_hit_rate']['wrong_range'])} %.\n")


@block("emission_legacy_on_new_inputs")
def emission_legacy_on_new_inputs() -> str:
    """The networks trained on the legacy simulator, on the survey simulator's inputs (same results file)."""
    r = load("emission_sim_realism_legacy")["models"]
    cnn, fc = r["emission_cnn"], r["emission_fc"]
    groups = list(cnn["sim_absorption"]["ondrejov"])
    sets = {"ondrejov": "Ondřejov-rendered, S/N 20–400", "lamost_noise_free": "LAMOST-rendered, noise-free",
            "lamost_survey_snr": "LAMOST-rendered, S/N 8–150"}
    n = cnn["sim_absorption"]["ondrejov"][groups[0]]["n"]
    out = [f"(ONNX; share called emission, CNN / FC; {n} simulated absorption spectra per cell):", "",
           "| absorption-class spectra | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
    for key, label in sets.items():
        if key not in cnn["sim_absorption"]:
            continue
        cells = [f"{cnn['sim_absorption'][key][g]['emission']:.2g} / {fc['sim_absorption'][key][g]['emission']:.2g}"
                 for g in groups]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    bins = list(cnn["sim_absorption_lamost_by_input_snr"])
    c_snr, f_snr = cnn["sim_absorption_lamost_by_input_snr"], fc["sim_absorption_lamost_by_input_snr"]
    dp = [f_snr[b]["double-peak"] for b in bins]
    ln = {m: r[m]["sim_lines"] for m in ("emission_cnn", "emission_fc")}
    ond = [ln[m][c]["ondrejov"][c] for m in ln for c in ("emission", "double-peak")]
    out += ["", "By input S/N (LAMOST-rendered absorption, all groups): the CNN calls "
            + ", ".join(f"{100 * c_snr[b]['emission']:.0f} % of S/N {b}" for b in bins) + " emission (FC "
            + " / ".join(f"{100 * f_snr[b]['emission']:.0f}" for b in bins)
            + f" %, plus {100 * min(dp):.0f}–{100 * max(dp):.0f} % double-peak). The LAMOST-rendered emission spectra "
            f"keep their class (recall CNN {ln['emission_cnn']['emission']['lamost']['emission']:.2f}, FC "
            f"{ln['emission_fc']['emission']['lamost']['emission']:.2f}), the double-peak ones less so "
            f"({ln['emission_cnn']['double-peak']['lamost']['double-peak']:.2f}, "
            f"{ln['emission_fc']['double-peak']['lamost']['double-peak']:.2f}); Ondřejov-rendered "
            f"{min(ond):.2f}–{max(ond):.2f}."]
    return "\n".join(out) + "\n"


@block("bestars_reproduce")
def bestars_reproduce() -> str:
    """The commands behind docs/bestars.md, with the time each took where a card or results file recorded it."""
    def trained(name):
        tr = card(name)["metrics"]["training_run"]
        ld = tr.get("load_average_1min") or {}
        return (f"{tr['wall_time_minutes']} min ({tr['epochs_run']} epochs, {tr['stopped_by']}; load median "
                f"{ld.get('median', '?')}; the card's `metrics.training_run`)")
    sim = load("emission_sim_realism_survey")
    rows = [
        ("`python -m training.emission_fc --no-smote --no-export --docs --out runs/emission_fc_imbalanced`",
         "FC on the imbalanced set (Fig. 9.2)", "not recorded"),
        (f"`{card('emission_fc')['metrics']['training_run']['command']}`", "`emission_fc`: train, evaluate, export",
         trained("emission_fc")),
        (f"`{card('emission_cnn')['metrics']['training_run']['command']}`", "`emission_cnn`: train, evaluate, export",
         trained("emission_cnn")),
        ("`python scripts/bestars_figures.py`", "every PNG above except the training curves, and the tables' numbers",
         "not recorded"),
        ("`python -m benchmarks.performance --models emission_cnn emission_fc`", "throughput",
         "per model in docs/performance.md's run"),
        ("`python scripts/bestars_telluric_lines.py`", "the simulator's telluric line list", "not recorded"),
        (f"`{sim['command']}`", "\"Survey realism\": input noise, nearest neighbours, the out-of-domain proxy, the "
         "exported networks on simulated cool/noisy and real LAMOST stars",
         f"{sim['seconds']:.0f} s (`docs/results/emission_sim_realism_survey.json`)"),
        ("`python -m pytest tests/test_bestars_*.py -q`", "the family's tests", "-"),
    ]
    machine = card("emission_cnn")["metrics"]["training_run"].get("machine", "?")
    return md_table(("command", "what", f"time ({machine.split(';')[0]})"), rows)


@block("emission_snr_sweep")
def emission_snr_sweep() -> str:
    """The LAMOST-rendering S/N ranges the survey simulator's default was chosen from
    (``python scripts/bestars_sim_realism.py`` -> ``survey_snr_range_candidates``)."""
    r = load("emission_sim_realism_survey")
    sw = r.get("survey_snr_range_candidates")
    if not sw:
        return "(not in the results file: rerun `python scripts/bestars_sim_realism.py`)"
    real = r["input_noise"]["real_lamost"]["measured"]
    rows, ok = [], []
    for rng_snr, x in sw.items():
        m = x["lamost_rendered_measured"]
        rows.append((f"{rng_snr}{' (default)' if x['default'] else ''}", m["q50"], m["q95"], m["max"],
                     f"{100 * x['real_lamost_inside_sim_range']:.0f} %", f"{100 * x['pure_noise_flagged']:.1f} %",
                     f"{100 * x['real_lamost_flagged']:.1f} %"))
        if x["real_lamost_inside_sim_range"] == 1.0 and x["pure_noise_flagged"] >= 0.99:
            ok.append(rng_snr)
    return (md_table(("S/N per LAMOST pixel", "LAMOST-rendered input noise: median", "95 %", "max",
                      "real rows at or below the simulated max", "pure-noise probe flagged (proxy)",
                      "real LAMOST rows flagged (proxy)"), rows)
            + f"\n\nReal rows: median {real['q50']}, max {real['max']}. Covering every real row "
            f"while the proxy flags at least 99 % of pure noise: {', '.join(ok) or 'none'}.")


@block("emission_stated_noise")
def emission_stated_noise() -> str:
    """Real LAMOST rows whose stated (ivar) noise exceeds the row's own standard deviation."""
    r = load("emission_sim_realism_survey")["input_noise"]["real_lamost"]
    return (f"But LAMOST DR1's ivar overstates the noise: {r['stated_above_row_std']} of the {r['files']} real rows "
            "state a σ above the row's whole standard deviation, which noise alone cannot exceed.")


@block("emission_cool_archetypes")
def emission_cool_archetypes() -> str:
    """The G/K/M archetypes the survey simulator draws (:func:`zoo.families.bestars.simulate.cool_archetypes`
    on the project's trimmed redrock file): how many of each group are kept."""
    from importlib import resources

    import numpy as np

    from zoo.families.bestars.simulate import COOL_GROUPS, COOL_HALPHA_CORE_HALF_WIDTH, SimConfig, cool_archetypes
    kept = cool_archetypes(SimConfig.cool_halpha_excess_max)
    with resources.as_file(resources.files("zoo") / "data" / "redrock" / "redrock_lamost.npz") as f, np.load(f) as d:
        total = {g: d[f"star_{g}_coeff"].shape[0] for g in COOL_GROUPS}
        r_store = float(d["r_store"])
    used = " / ".join(str(kept[g][1].shape[0]) for g in COOL_GROUPS)
    return ("Of the " + " / ".join(f"{total[g]} {g}" for g in COOL_GROUPS) + f" archetypes in the file (stored "
            f"at R = {r_store:.0f}), {used} are used: those with non-positive "
            f"flux or with a peak within ±{COOL_HALPHA_CORE_HALF_WIDTH} Å of H-alpha above "
            f"{1 + SimConfig.cool_halpha_excess_max:g} × its surroundings (`cool_halpha_excess_max`; the latest "
            "M types' band heads) are left out (`simulate.cool_archetypes`).")
