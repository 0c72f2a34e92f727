"""Shared helpers of the zoo's regression recipes: target standardization, per-group
tables (Olney et al. 2020 Tables 2 and 3 style) and plots."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Standardizer", "standardized_mse_table", "scatter_table", "markdown_mse_table",
           "markdown_scatter_table", "plot_pred_vs_label", "plot_uncertainty_vs_snr",
           "plot_stratified_history"]


@dataclass
class Standardizer:
    """Target standardization of Olney et al. (2020) Eq. 4: ``z = (y - mean) / std``,
    with mean and std of the *training set* (Table 1)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, y) -> "Standardizer":
        y = np.asarray(y, dtype=np.float64)
        std = y.std(axis=0)
        return cls(y.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, y) -> np.ndarray:
        return ((np.asarray(y, np.float64) - self.mean) / self.std).astype(np.float32)

    def inverse(self, z) -> np.ndarray:
        return np.asarray(z, np.float64) * self.std + self.mean


def standardized_mse_table(z_true, z_pred, group, splits: dict, group_names) -> dict:
    """Mean squared error of the standardized labels (averaged over labels) per split and group.

    ``splits`` maps split names to index arrays.  Returns ``{split: {group: mse, "all": mse}}``.
    """
    se = np.mean((np.asarray(z_pred) - np.asarray(z_true)) ** 2, axis=1)
    group = np.asarray(group)
    out = {}
    for s, idx in splits.items():
        row = {}
        for gi, g in enumerate(group_names):
            sel = idx[group[idx] == gi]
            row[g] = float(se[sel].mean()) if sel.size else float("nan")
        row["all"] = float(se[idx].mean())
        out[s] = row
    return out


def scatter_table(y_true, y_pred, group, idx, group_names, label_names) -> dict:
    """Scatter (std of prediction - label) and bias (mean) per group, in physical units."""
    d = np.asarray(y_pred, float) - np.asarray(y_true, float)
    group = np.asarray(group)
    out = {}
    for gi, g in enumerate(list(group_names) + ["all"]):
        sel = idx if g == "all" else idx[group[idx] == gi]
        out[g] = {"n": int(sel.size)}
        for j, lab in enumerate(label_names):
            out[g][lab] = float(d[sel, j].std()) if sel.size else float("nan")
            out[g][f"{lab}_bias"] = float(d[sel, j].mean()) if sel.size else float("nan")
    return out


def markdown_mse_table(tables: dict, group_names, title_cols=None) -> str:
    """``tables``: ``{column title: standardized_mse_table(...)}`` -> one Markdown table,
    rows split x group."""
    cols = list(tables)
    lines = ["| split | group | " + " | ".join(title_cols or cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    first = tables[cols[0]]
    for s in first:
        for g in list(group_names) + ["all"]:
            vals = []
            for c in cols:
                v = tables[c].get(s, {}).get(g) if isinstance(tables[c], dict) else None
                vals.append(v if isinstance(v, str) else ("" if v is None else f"{v:.4f}"))
            lines.append(f"| {s} | {g} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def markdown_scatter_table(tables: dict, group_names, label_names, units) -> str:
    """``tables``: ``{column title: scatter_table(...)}`` -> Markdown, one row per group."""
    cols = list(tables)
    head = "| group | " + " | ".join(f"{c}: {lab} [{u}]" for c in cols
                                      for lab, u in zip(label_names, units)) + " |"
    lines = [head, "|---|" + "---|" * (len(cols) * len(label_names))]
    for g in list(group_names) + ["all"]:
        vals = []
        for c in cols:
            for lab in label_names:
                v = tables[c].get(g, {}).get(lab) if isinstance(tables[c], dict) else None
                vals.append(v if isinstance(v, str) else ("" if v is None else
                                                          (f"{v:.0f}" if lab == "teff" else f"{v:.3f}")))
        lines.append(f"| {g} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def plot_pred_vs_label(y_true, y_pred, group, idx, group_names, label_names, units, path, title):
    """Predicted vs label for each label, coloured by group, with the 1:1 line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(label_names), figsize=(4.3 * len(label_names), 4.0))
    colors = ["0.45", "tab:red", "tab:blue", "tab:green"]
    group = np.asarray(group)
    for j, (ax, lab, unit) in enumerate(zip(axes, label_names, units)):
        for gi, g in enumerate(group_names):
            sel = idx[group[idx] == gi]
            if sel.size:
                ax.scatter(y_true[sel, j], y_pred[sel, j], s=4 if gi == 0 else 7, alpha=0.5,
                           color=colors[gi % len(colors)], label=f"{g} ({sel.size})", lw=0)
        lo = min(y_true[idx, j].min(), y_pred[idx, j].min())
        hi = max(y_true[idx, j].max(), y_pred[idx, j].max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_xlabel(f"label {lab} [{unit}]")
        ax.set_ylabel(f"predicted {lab} [{unit}]")
        if j == 0:
            ax.legend(fontsize=7, markerscale=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_uncertainty_vs_snr(snr, std, label_names, units, path, title, group=None, group_names=None):
    """Predicted uncertainty (std over noise realizations) against S/N, log-log (cf. Olney Fig. 4)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(label_names), figsize=(4.3 * len(label_names), 3.6))
    colors = ["0.35", "tab:red", "tab:blue"]
    for j, (ax, lab, unit) in enumerate(zip(axes, label_names, units)):
        if group is None:
            ax.scatter(snr, std[:, j], s=8)
        else:
            for gi, g in enumerate(group_names):
                sel = np.asarray(group) == gi
                ax.scatter(snr[sel], std[sel, j], s=8, color=colors[gi % 3], label=g)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("S/N per pixel")
        ax.set_ylabel(f"sigma {lab} [{unit}]")
        if j == 0 and group is not None:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_stratified_history(history, group_names, path, title, initial=None):
    """Dev standardized MSE per group through stratified fine-tuning (Olney et al. 2020 Sec. 3.4).

    ``history``: the per-epoch records of :func:`training.apogeenet.stratified.stratified_finetune`
    (``round``, ``epoch``, one value per group and ``small``); ``initial``: the dev
    values before fine-tuning (drawn as dotted lines).  Dashed verticals mark the
    start of each round, where the best model is reloaded and a new subset drawn.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    ep = np.arange(1, len(history) + 1)
    colors = {"small": "k", group_names[0]: "0.45"}
    palette = iter(["tab:red", "tab:blue", "tab:green", "tab:orange"])
    for g in list(group_names) + ["small"]:
        c = colors.get(g) or next(palette)
        ax.plot(ep, [h[g] for h in history], color=c, lw=2.0 if g == "small" else 1.2,
                label=f"{g} (mean of small groups)" if g == "small" else g)
        if initial and g in initial:
            ax.axhline(initial[g], color=c, ls=":", lw=0.9)
    for i, h in enumerate(history):
        if i and h["round"] != history[i - 1]["round"]:
            ax.axvline(i + 0.5, color="0.7", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("fine-tuning epoch (dashed: new round, best model reloaded, new 5 % drawn)")
    ax.set_ylabel("dev standardized MSE")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
