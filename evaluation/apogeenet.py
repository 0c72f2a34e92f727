"""Generated blocks of docs/apogeenet.md and docs/starnet.md: every number from the exported cards
(``exported/{apogeenet,starnet}/card.json``, written by ``python -m training.apogeenet`` and
``python -m training.starnet``) and, beside them, Olney et al. (2020) Tables 2 and 3 as quoted from
the paper's text (``../shared/papers``).  Replaces ``scripts/apogeenet_compare.py``."""
from __future__ import annotations

import os

from evaluation.common import REPO, block, card

MODELS = ("apogeenet", "starnet")
GROUPS = ("large", "mdwarf", "yso", "all")
LABELS = (("teff", "K", "{:.0f}"), ("logg", "dex", "{:.3f}"), ("feh", "dex", "{:.3f}"))

#: Olney et al. (2020) Table 2, "Combined Standardized MSE Loss": group -> (train, dev, test)
PAPER_TABLE2 = {"Full": (0.044, 0.049, 0.063), "MStar": (0.08, 0.098, 0.196), "YSO": (0.153, 0.168, 0.217)}
#: Olney et al. (2020) Table 3, "Typical Scatter ...": group -> label -> (train, dev, test); None: unreadable
PAPER_TABLE3 = {
    "Full": {"teff": ("144.82", "158.72", "183.74"), "logg": ("0.189", "0.203", "0.216"),
             "feh": ("0.0769", "0.0792", "0.0914")},
    "MStar": {"teff": ("129.69", "167.15", "273.7"), "logg": ("0.186", "0.216", "0.346"),
              "feh": ("0.129", "0.137", "0.18")},
    "YSO": {"teff": ("413.92", "436.87", "490.99"), "logg": ("0.366", "0.364", None),
            "feh": ("0.0616", "0.0669", "0.0879")},
}
PAPER_GROUP = {"Full": "all", "MStar": "mdwarf", "YSO": "yso"}
UNIT = {"teff": "Teff [K]", "logg": "log g [dex]", "feh": "[Fe/H] [dex]"}


def _cards() -> dict:
    return {n: card(n) for n in MODELS if os.path.exists(os.path.join(REPO, "exported", n, "card.json"))}


def _mse_columns(cards) -> list:
    cols = []
    a = cards.get("apogeenet")
    if a and "standardized_mse_before_stratified" in a["metrics"]:
        cols.append(("APOGEE Net before FT", a["metrics"]["standardized_mse_before_stratified"]))
        cols.append(("APOGEE Net after FT", a["metrics"]["standardized_mse"]))
    for n, c in cards.items():
        if n != "apogeenet":
            cols.append((n, c["metrics"]["standardized_mse"]))
    return cols


@block("apogee_mse")
def mse_table() -> str:
    """Standardized MSE per split and group (the layout of Olney et al. Table 2)."""
    cols = _mse_columns(_cards())
    out = ["| split | group | " + " | ".join(c for c, _ in cols) + " |", "|---|---|" + "---|" * len(cols)]
    for s in ("train", "dev", "test"):
        for g in GROUPS:
            out.append(f"| {s} | {g} | " + " | ".join(f"{t[s][g]:.4f}" for _, t in cols) + " |")
    return "\n".join(out)


def _per_group(suffix: str, with_n: bool) -> str:
    """Test-set ``<label><suffix>`` of ``metrics.test_scatter`` per group and model."""
    cards = _cards()
    head = [f"{n} {lab} [{u}]" for n in cards for lab, u, _ in LABELS]
    lead = "| group | n | " if with_n else "| group | "
    out = [lead + " | ".join(head) + " |", ("|---|---|" if with_n else "|---|") + "---|" * len(head)]
    for g in GROUPS:
        n0 = f"{next(iter(cards.values()))['metrics']['test_scatter'][g]['n']} | " if with_n else ""
        cells = [f.format(c["metrics"]["test_scatter"][g][lab + suffix]) for c in cards.values()
                 for lab, _, f in LABELS]
        out.append(f"| {g} | {n0}" + " | ".join(cells) + " |")
    return "\n".join(out)


@block("apogee_scatter")
def scatter_table() -> str:
    """Test-set scatter (std of predicted - label) per group (the layout of Table 3)."""
    return _per_group("", with_n=True)


@block("apogee_bias")
def bias_table() -> str:
    """Test-set bias (mean of predicted - label) per group."""
    return _per_group("_bias", with_n=False)


@block("apogeenet_vs_paper_table2")
def vs_table2() -> str:
    """Olney et al. Table 2 (quoted) beside APOGEE Net after fine-tuning."""
    m = card("apogeenet")["metrics"]["standardized_mse"]
    out = ["| paper group (ours) | paper train | paper dev | paper test | ours after FT: train / dev / test |",
           "|---|---|---|---|---|"]
    for grp, vals in PAPER_TABLE2.items():
        g = PAPER_GROUP[grp]
        out.append(f"| {grp} (`{g}`) | " + " | ".join(f"{v:g}" for v in vals) + " | "
                   + " / ".join(f"{m[s][g]:.4f}" for s in ("train", "dev", "test")) + " |")
    out.append("| no row (`large`) | — | — | — | " + " / ".join(f"{m[s]['large']:.4f}" for s in ("train", "dev", "test"))
               + " |")
    return "\n".join(out)


@block("apogeenet_vs_paper_table3")
def vs_table3() -> str:
    """Olney et al. Table 3 (quoted) beside APOGEE Net's test scatter after fine-tuning."""
    sc = card("apogeenet")["metrics"]["test_scatter"]
    fmt = dict((lab, f) for lab, _, f in LABELS)
    out = ["| paper group (ours) | parameter | paper train | paper dev | paper test | ours test |",
           "|---|---|---|---|---|---|"]
    for grp, rows in PAPER_TABLE3.items():
        g = PAPER_GROUP[grp]
        for i, (lab, vals) in enumerate(rows.items()):
            first = f"| {grp} (`{g}`) |" if i == 0 else "| |"
            cells = [v if v is not None else "unreadable¹" for v in vals]
            out.append(f"{first} {UNIT[lab]} | " + " | ".join(cells) + f" | {fmt[lab].format(sc[g][lab])} |")
    lg = sc["large"]
    out.append(f"| no row (`large`) | Teff / log g / [Fe/H] | — | — | — | {lg['teff']:.0f} K / {lg['logg']:.3f} / "
               f"{lg['feh']:.3f} |")
    return "\n".join(out)


def _unc_snr(name: str) -> str:
    u = card(name)["metrics"]["uncertainty_vs_snr"]
    out = [f"{name}: median predicted uncertainty per S/N bin ({u['n_spectra']} fresh simulated spectra, "
           f"{u['n_realizations']} realizations; Spearman rho(S/N, sigma) "
           + ", ".join(f"{k} {v:+.2f}" for k, v in u["spearman_rho"].items()) + ")", "",
           "| S/N | n | sigma Teff [K] | sigma log g [dex] | sigma [Fe/H] [dex] |", "|---|---|---|---|---|"]
    for b, row in u["median_sigma_by_snr_bin"].items():
        if row["n"]:
            out.append(f"| {b} | {row['n']} | {row['teff']:.0f} | {row['logg']:.3f} | {row['feh']:.3f} |")
    return "\n".join(out)


def _real(first: str) -> str:
    cards = _cards()
    order = [first] + [n for n in cards if n != first]
    title = {"apogeenet": "APOGEE Net", "starnet": "StarNet"}
    out = ["| star | expectation | " + " | ".join(title.get(n, n) for n in order) + " |",
           "|---|---|" + "---|" * len(order)]
    for i, row in enumerate(cards[first]["metrics"]["real_apstar"]):
        cells = []
        for n in order:
            r = cards[n]["metrics"]["real_apstar"][i]
            cells.append(f"{r['teff']:.0f}±{r['teff_std']:.0f} K, {r['logg']:.2f}±{r['logg_std']:.2f}, "
                         f"{r['feh']:+.2f}±{r['feh_std']:.2f}")
        out.append(f"| {row['star']} | {row['expected']} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _run(name: str) -> str:
    """The training run of the exported model, as its card records it."""
    c = card(name)
    m, tr = c["metrics"], c["metrics"]["training_run"]
    machine = tr.get("machine", "?").replace("TF_ENABLE_ONEDNN_OPTS=1", "oneDNN on")
    p1 = m["phase1"]
    lines = [f"Run: `{c['recipe']['command']}`, **{tr['wall_time_minutes']} min wall clock** on a {machine}.",
             f"Main phase: {p1['epochs']} epochs in {p1['minutes']:.1f} min, best dev epoch {p1['best_epoch']}, "
             f"**stopped by {p1['stopped_by']}**."]
    s = m.get("stratified_finetuning")
    if s:
        lines.append(f"Stratified fine-tuning: {s['rounds']} rounds, {s['epochs']} epochs, {s['seconds'] / 60:.1f} min, "
                     f"**stopped because {s['stop_reason'].split(': ', 1)[-1]}** ({s['stop_reason'].split(':')[0]}).")
    return "\n".join(lines)


for _n in MODELS:
    block(f"{_n}_uncertainty_vs_snr")(lambda n=_n: _unc_snr(n))
    block(f"{_n}_real_apstar")(lambda n=_n: _real(n))
    block(f"{_n}_run")(lambda n=_n: _run(n))
