"""Archive-scale candidate search (Podsztavek 2017, Sec. 9.4, Figs. 9.5-9.6): rank emission and
double-peak candidates and draw a PNG gallery, with the out-of-domain ones set apart.

    # 1. class probabilities per file, the zoo's batch pipeline (LAMOST files need no blur;
    #    Parquet shards, resumable, any archive size: docs/scale.md):
    python -m zoo predict emission_cnn '../shared/data/lamost/*.fits' --out runs/lamost/predictions
    # 2. ranked candidates and galleries from that output directory:
    python -m zoo.families.bestars.candidates --predictions runs/lamost/predictions --out runs/lamost
    # or in one go from files (each through its instrument's thesis path, all three probabilities):
    python -m zoo.families.bestars.candidates ../shared/data/lamost/*.fits --out runs/lamost

Writes ``candidates.csv`` (every emission / double-peak prediction, ranked: in-domain
first, then by the probability of the predicted class), ``gallery_emission.png`` and
``gallery_double-peak.png`` (the top in-domain candidates' spectra around H-alpha) and
``gallery_out_of_domain.png`` (the candidates the trust score sets apart).
"""
from __future__ import annotations

import argparse
import csv
import glob
import os
import sys

import numpy as np

__all__ = ["rank_candidates", "draw_gallery", "predict_table", "read_predictions", "main"]

INTERESTING = ("emission", "double-peak")


def predict_table(model, files, progress: bool = False) -> list[dict]:
    """One row per readable file: class, its probability, all three probabilities, domain
    score and flag (each file through its instrument's thesis path); unreadable files
    are reported on stderr and skipped."""
    from . import predict_spectra
    from .models import CLASSES
    rows = []
    for f in files:
        try:
            r = predict_spectra(model, f)
        except Exception as exc:  # noqa: BLE001  (a batch reports every failure and goes on)
            print(f"skipped {f}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        row = {"file": f, "halpha_class": str(r["halpha_class"][0]),
               "halpha_class_probability": float(r["halpha_class_probability"][0]),
               "domain_score": float(r["domain_score"][0]), "out_of_domain": bool(r["out_of_domain"][0])}
        row.update({f"p_{c}": float(p) for c, p in zip(CLASSES, r["probabilities"][0])})
        rows.append(row)
    return rows


HEAD = "halpha_class"


def read_predictions(path) -> list[dict]:
    """Rows of ``python -m zoo predict emission_cnn ... --out DIR`` (its Parquet or CSV shards,
    :func:`zoo.batch.read_rows`), or of a CSV table with :func:`predict_table`'s columns, as
    :func:`predict_table` gives them (``file``, ``p_<class>``, typed values)."""
    if os.path.isdir(path):
        from zoo.batch import read_rows
        rows = read_rows(path)
    else:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    prefix = f"{HEAD}_p_"
    out = []
    for r in rows:
        r = {("file" if k == "path" and "file" not in r else
              f"p_{k[len(prefix):]}" if k.startswith(prefix) else k): v for k, v in r.items()}
        out.append(r)
        for k in list(r):
            if k == "out_of_domain":
                r[k] = str(r[k]).strip().lower() in ("true", "1")
            elif k in ("halpha_class_probability", "domain_score") or k.startswith("p_"):
                r[k] = float(r[k])
    return out


def rank_candidates(rows: list[dict]) -> list[dict]:
    """Emission and double-peak rows, in-domain first, then by the probability of the class."""
    cand = [dict(r) for r in rows if r["halpha_class"] in INTERESTING]
    cand.sort(key=lambda r: (bool(r["out_of_domain"]), -float(r["halpha_class_probability"]),
                             float(r["domain_score"])))
    for i, r in enumerate(cand, 1):
        r["rank"] = i
    return cand


def _meta(path) -> dict:
    try:
        from zoo.io import read
        s = read(path)
        return {"object": s.meta.get("object"), "survey_class": s.meta.get("CLASS"),
                "survey_subclass": s.meta.get("SUBCLASS"), "spectrum": s}
    except Exception:  # noqa: BLE001
        return {}


def draw_gallery(rows: list[dict], path: str, title: str, n: int = 9, half_width: float = 60.0) -> str | None:
    """Up to ``n`` spectra (flux / median) within ``half_width`` A of H-alpha, 3 per row."""
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = rows[:n]
    ncol = 3
    nrow = int(np.ceil(len(rows) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.6 * nrow), squeeze=False)
    for ax in axes.ravel()[len(rows):]:
        ax.axis("off")
    for ax, r in zip(axes.ravel(), rows):
        m = _meta(r["file"])
        s = m.get("spectrum")
        if s is not None:
            w = s.angstrom
            if s.medium == "air":
                from .preprocess import air_to_vacuum_thesis
                w = air_to_vacuum_thesis(w)
            sel = (np.abs(w - 6564.61) < half_width) & ~(s.mask if s.mask is not None else False)
            if sel.any():
                ax.plot(w[sel], s.flux[sel] / np.median(s.flux[sel]), lw=0.7)
        ax.axvline(6564.61, color="0.7", lw=0.6, ls=":")
        label = f"#{r.get('rank', '')} {os.path.basename(r['file'])}"
        sub = (f"{r['halpha_class']} p={float(r['halpha_class_probability']):.2f}, "
               f"domain {float(r['domain_score']):.1f}"
               + (f"; LAMOST {m.get('survey_class')}/{m.get('survey_subclass')}" if m.get("survey_class") else ""))
        ax.set_title(f"{label}\n{sub}", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _expand(patterns) -> list[str]:
    out = []
    for p in patterns:
        hits = sorted(glob.glob(p))
        out.extend(hits if hits else [p])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.families.bestars.candidates",
                                description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="*", help="spectrum files or globs (LAMOST, Ondřejov)")
    p.add_argument("--predictions", help="the output directory of `python -m zoo predict emission_cnn ... "
                   "--out DIR` (or a CSV table with the columns of predict_table)")
    p.add_argument("--model", default="emission_cnn", choices=["emission_cnn", "emission_fc"])
    p.add_argument("--backend", default="onnx", choices=["keras", "onnx", "savedmodel"])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--top", type=int, default=9, help="spectra per gallery")
    args = p.parse_args(argv)
    if not args.files and not args.predictions:
        p.error("give spectrum files or --predictions")
    os.makedirs(args.out, exist_ok=True)
    if args.predictions:
        rows = read_predictions(args.predictions)
    else:
        import zoo
        rows = predict_table(zoo.load_model(args.model, backend=args.backend), _expand(args.files))
    cand = rank_candidates(rows)
    cols = ["rank", "file", "halpha_class", "halpha_class_probability", "domain_score", "out_of_domain"]
    cols += [k for k in (cand[0] if cand else {}) if k.startswith("p_")]
    table = os.path.join(args.out, "candidates.csv")
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols + ["object", "survey_class", "survey_subclass"], extrasaction="ignore")
        w.writeheader()
        for r in cand:
            m = _meta(r["file"])
            w.writerow({**r, **{k: m.get(k) for k in ("object", "survey_class", "survey_subclass")}})
    made = [table]
    for cls in INTERESTING:
        sel = [r for r in cand if r["halpha_class"] == cls and not r["out_of_domain"]]
        g = draw_gallery(sel, os.path.join(args.out, f"gallery_{cls}.png"),
                         f"top {cls} candidates (in domain), {args.model}", args.top)
        made += [g] if g else []
    ood = [r for r in cand if r["out_of_domain"]]
    g = draw_gallery(ood, os.path.join(args.out, "gallery_out_of_domain.png"),
                     "emission / double-peak predictions set apart as out of domain", args.top)
    made += [g] if g else []
    n_in = sum(not r["out_of_domain"] for r in cand)
    print(f"{len(rows)} spectra: {len(cand)} emission/double-peak predictions "
          f"({n_in} in domain, {len(cand) - n_in} out of domain); "
          f"{sum(bool(r['out_of_domain']) for r in rows)} of all spectra out of domain")
    for f in made:
        print(f"wrote {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
