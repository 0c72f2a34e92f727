"""Generated blocks of docs/racnet.md (Zou et al. 2020): survey calibration, real stars, Table 4, trust."""
from __future__ import annotations

import os

from evaluation.common import commands_block, REPO, RESULTS, _json, block, card, load, md_table, pct, provenance
from zoo.families.racnet.paper import PARAMS_TOLERANCE, TABLE2_FC, TABLE4, params_text

PAPER_TABLE4 = {**TABLE2_FC, **TABLE4}     # Table 2's FC row first, as the table lists it


class _Derived:
    """Figures docs/racnet.md quotes inline that are computed from the code's constants, a card or a results
    file (``<!-- v:py:evaluation.racnet#DERIVED/NAME -->``), each when it is read."""

    @property
    def grid_end(self) -> float:
        """Last wavelength (A, vacuum) of the contract grid of the exported models (card ``input``)."""
        c = card("racnet_ds1")["input"]
        return c["wavelength_start"] * 10 ** (c["step"] * (c["n_pixels"] - 1))

    @property
    def cnet_flat_length(self) -> int:
        """Length C-Net's Flatten sees: N_PIXELS through its "same"-padded max-poolings (CNET_POOLS)."""
        from zoo.families.racnet.models import CNET_POOLS, N_PIXELS
        n = N_PIXELS
        for p in CNET_POOLS:
            n = -(-n // p) if p else n
        return n

    @property
    def star_shift_kms(self) -> float:
        """The largest radial velocity (km/s) of the template fits' stellar shifts (tplfit.STAR_SHIFTS bins)."""
        import math

        from zoo.families.racnet.simulate import C_KMS, DLOGLAM
        from zoo.families.racnet.tplfit import REBIN, STAR_SHIFTS
        return max(STAR_SHIFTS) * REBIN * DLOGLAM * math.log(10) * C_KMS

    @property
    def params(self) -> dict:
        """Parameters per registered name, as the runs of racnet_table4.json recorded them."""
        return _params(load("racnet_table4"))

    @property
    def selection_seeds(self) -> list:
        """Seeds of the out-of-domain probes the knn candidates were selected on (racnet_knn_selection.json)."""
        return [int(k) for k in next(iter(load("racnet_knn_selection")["models"].values()))]


DERIVED = _Derived()


@block("racnet_survey_calibration")
def racnet_survey_calibration() -> str:
    from zoo.families.racnet.simulate import SNR_BAND, SimConfig
    r = load("racnet_survey_calibration")
    old, new = SimConfig.legacy(), SimConfig()
    band = f"{SNR_BAND[0]:.0f}-{SNR_BAND[1]:.0f} A"
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
           f"| S/N at {band} | per class (STAR {old.snr_star[0]:g}, GALAXY {old.snr_galaxy[0]:g}, QSO "
           f"{old.snr_qso[0]:g}) | every class: log-normal, median "
           f"{r['snr_all'][0]}, width {r['snr_all'][1]} |",
           f"| star E(B-V) | exponential, mean {old.ebv_star:g} | a real star's effective value: median {r['ebv']['median']:.3f}, "
           f"16-84 % {r['ebv']['p16']:.3f} to {r['ebv']['p84']:.3f} |",
           f"| flux-calibration error | Legendre P1-P3, N(0, {old.calib_sigma:g}) | that star's residual (rms P1-P3 "
           + ", ".join(f"{v:.3f}" for v in r["resid_rms"]) + f") plus N(0, {new.calib_sigma:g}) |",
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
    new = r["checks_heldout"]["new"]
    worst = max(new, key=lambda t: abs(new[t]["colour_offset_real_minus_sim_dex"]))
    rest = [t for t in new if t != worst]
    within = max(abs(new[t]["colour_offset_real_minus_sim_dex"]) for t in rest)
    side = "redder" if new[worst]["colour_offset_real_minus_sim_dex"] > 0 else "bluer"
    out += ["", f"The {worst} stars stay about {abs(new[worst]['colour_offset_real_minus_sim_dex']):.2f} dex {side} in the "
            f"simulation at a fixed index than the held-out real ones ({' and '.join(rest)} within {within:.2f} dex): left "
            f"alone. The dev sample holds bright stars only (S/N in {band}: median {r['snr_all'][0]}), so the shared "
            "S/N distribution has few spectra below S/N 10 for any class."]
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
        for task in ("ds1", "ds2", "fgk"):
            p = paper[task]
            x = rows.get((arch, task))
            ours = (f"{100 * x['test_accuracy']:.2f} % (avg/class {100 * x['average_accuracy']:.2f} %; "
                    f"{x['epochs_run']} epochs, best {x['best_epoch']}, {x['stopped_by']})" if x else "not rerun")
            cells += ["-" if p is None else f"{p} %", ours]
        out.append(f"| {ARCH_LABEL[arch]} | {params_text(arch)} | {params} | " + " | ".join(cells) + " |")
    out += [""]
    for i, task in enumerate(("ds1", "ds2", "fgk")):
        ours = sorted((rows[(a, task)]["test_accuracy"], a) for a in ("cnet", "rcnet", "racnet") if (a, task) in rows)
        paper = sorted((PAPER_TABLE4[a][task], a) for a in ("cnet", "rcnet", "racnet"))
        if len(ours) == 3:
            gap = 100 * (ours[-1][0] - ours[0][0])
            out.append(f"- DS{i + 1}: ours {' > '.join(ARCH_LABEL[a] for _, a in reversed(ours))} (spread "
                       f"{gap:.2f} points); paper {' > '.join(ARCH_LABEL[a] for _, a in reversed(paper))}"
                       + ("; the paper's ordering holds" if [a for _, a in ours] == [a for _, a in paper]
                          else "; **the paper's ordering does not hold**"))
    from zoo.stats import LEVEL, clopper_pearson
    half = [50 * (hi - lo) for x in r["rows"]
            for lo, hi in [clopper_pearson(round(x["test_accuracy"] * x["test_n"]), x["test_n"])]]
    out += ["", f"Binomial {100 * LEVEL:.0f} % intervals (Clopper-Pearson) of these accuracies, with {min(x['test_n'] for x in r['rows'])}-"
            f"{max(x['test_n'] for x in r['rows'])} test spectra: half-widths {min(half):.1f}-{max(half):.1f} points."]
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
    from training.racnet import N_OOD, PROBE_SEED_OFFSET
    from training.racnet.trust import NOISE_SEED, TEST_SEED_OFFSET
    m = card("racnet_ds1")["trust"]["measured"]
    n_test = next(v["n"] for k, v in m["simulated_test"].items() if isinstance(v, dict) and not k.startswith("all"))
    n_none = next(iter(m["no_object"].values()))["n"]
    n_real = next((x["n"] for x in real.values() if "n" in x), "?")
    out += ["", "From each card's `trust` block (written by its training run, `python -m training.racnet`; "
            f"simulated test: seed recipe.seed + {TEST_SEED_OFFSET}, {n_test} per class; inputs without an object: "
            f"{n_none} each, seed {NOISE_SEED}, for racnet_ds1 flagged or UNKNOWN) and `metrics.trust` (probes of seed "
            f"recipe.seed + {PROBE_SEED_OFFSET}, {N_OOD} each), and docs/results/racnet_real_dev_after.json (the "
            f"{n_real} real dev stars)."]
    return "\n".join(out)


@block("racnet_trust_real")
def racnet_trust_real() -> str:
    """``python scripts/racnet_trust_real.py --json docs/results/racnet_trust_real.json``: the exported
    models' flag on real dev stars, inputs without an object and simulated test spectra, beside the knn
    part alone (the first exports' score), with Clopper-Pearson intervals."""
    from training.racnet.trust import report
    r = load("racnet_trust_real")
    m = r["meta"]
    out = [f"`{m['command']}`: {m['seconds']:.0f} s on {m['cpus']} CPUs, load {m['load_average_start'][0]} at the "
           f"start and {m['load_average_end'][0]} at the end, code {(m.get('code_version') or '?')[:7]}, {m['date']}.", ""]
    for res in r["results"]:
        out += [line.replace("### ", "#### ", 1) for line in report(res)] + [""]
    return "\n".join(out).rstrip("\n")


def _knn_row(rows: list, label: str) -> dict:
    return next(r for r in rows if r["candidate"] == label)


@block("racnet_knn_selection")
def racnet_knn_selection() -> str:
    """The knn candidates of each RAC-Net model on the selection probes (``python
    scripts/racnet_refit_trust.py --probe-seed 1001 2002 --record`` -> docs/results/racnet_knn_selection.json):
    false flags on the simulated in-domain test split, flag rates per probe kind, seeds side by side."""
    r = load("racnet_knn_selection")
    out = [f"Refitted on today's training data of each model (rebuilt from its recipe), threshold from the "
           f"validation split, {r['n_ood']} probes per kind and seed; {provenance(r)}."]
    for name, seeds in r["models"].items():
        keys = list(seeds)
        kinds = list(seeds[keys[0]][0]["probes"])
        labels = [row["candidate"] for row in seeds[keys[0]]]
        out += ["", f"`{name}` (seed {' / '.join(keys)}):", "",
                "| candidate | false flags, test | " + " | ".join(kinds) + " |",
                "|---|---|" + "---|" * len(kinds)]
        for lab in labels:
            rows = [_knn_row(seeds[k], lab) for k in keys]

            def both(f):
                v = [f"{100 * f(x):.0f}" for x in rows]
                return (v[0] if len(set(v)) == 1 else " / ".join(v)) + " %"
            out.append(f"| {lab} | {both(lambda x: x['false_flags_test'])} | "
                       + " | ".join(both(lambda x, k=k: x["probes"][k]) for k in kinds) + " |")
        per = [_knn_row(seeds[keys[0]], lab)["false_flags_test_per_class"] for lab in labels[:2]]
        out += ["", f"False flags per class on the test split, {labels[0]} → {labels[1]}: "
                + ", ".join(f"{c} {100 * per[0][c]:.1f} → {100 * per[1][c]:.1f} %" for c in per[0]) + "."]
    return "\n".join(out) + "\n"


def _params(r: dict) -> dict:
    """Parameters per registered name, as each run of ``racnet_table4.json`` recorded them."""
    return {x["name"]: x["params"] for x in r["rows"] if x.get("params")}


@block("racnet_models")
def racnet_models() -> str:
    """The family's models: task, classes, parameters (from the runs) and whether it is exported."""
    from zoo.families.racnet.models import CLASSES
    params = _params(load("racnet_table4"))
    what = {"rcnet": "ablation: no attention (Sec. 3.2)", "cnet": "ablation: plain CNN (Sec. 3.1)",
            "fcnet": "Table 2's \"FC network\" (sizes ours)"}
    rows = [(f"`racnet_{t}`", f"Data set {i + 1}", ", ".join(CLASSES[t]), f"{params[f'racnet_{t}']:,}",
             "yes" if os.path.exists(os.path.join(REPO, "exported", f"racnet_{t}", "card.json")) else "no")
            for i, t in enumerate(("ds1", "ds2", "fgk"))]
    rows += [(f"`{a}_{{ds1,ds2,fgk}}`", what[a], "as above", f"{params[f'{a}_ds1']:,} / {params[f'{a}_ds2']:,}", "no")
             for a in ("rcnet", "cnet", "fcnet")]
    return md_table(("name", "task (Table 1)", "classes", "parameters", "exported"), rows)


@block("racnet_params")
def racnet_params() -> str:
    """Parameter counts against Table 4 (the test holds them within PARAMS_TOLERANCE)."""
    params = _params(load("racnet_table4"))
    rows = [(ARCH_LABEL[a], params_text(a), f"{params[f'{a}_ds1']:,} / {params[f'{a}_ds2']:,}",
             f"{100 * (params[f'{a}_ds1'] / TABLE4[a]['params'] - 1):+.1f} %".replace("-", "−"))
            for a in ("cnet", "rcnet", "racnet")]
    return (f"**Parameter counts** (`tests/test_racnet.py::test_parameter_counts_match_table4`, "
            f"±{100 * PARAMS_TOLERANCE:.0f} %):\n\n"
            + md_table(("network", "paper (Table 4)", "ours (DS1 head / 3-class head)", "difference"), rows))


@block("racnet_reproduce")
def racnet_reproduce() -> str:
    """The commands behind docs/racnet.md, those a results file recorded taken from it (its ``command``)."""
    cal, dev, knn = load("racnet_survey_calibration"), load("racnet_real_dev_after"), load("racnet_knn_selection")
    rows = [("python scripts/racnet_trim_templates.py", "zoo/data/redrock/redrock_lamost.npz from ../shared (once)"),
            (cal["command"], f"the simulator's survey calibration (~{cal['duration_s'] / 60:.0f} min)"),
            ("sh scripts/racnet_train_all.sh", "the training runs above, then the tables and figures"),
            ("python -m training.racnet --task fgk --evaluate --backend onnx", "score the exported model only"),
            (dev["command"], "real dev stars, legacy vs calibrated simulations"),
            (knn["command"], "the knn selection table (writes no model)"),
            ("python scripts/racnet_trust_real.py --json /tmp/trust_real.json", "trust rates with intervals, timing"),
            ("python -m evaluation.render", "the generated blocks of this page")]
    return commands_block(rows)
