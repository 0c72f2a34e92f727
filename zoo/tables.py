"""Tables of spectrum files (a user's labelled or unlabelled archive): CSV, Parquet or FITS.

One row per spectrum; the ``file`` column gives the path relative to the table's folder.  Used
by ``python -m training.<model> --train-table TABLE`` (training/finetune.py) and
``python -m zoo refit-domain NAME --table TABLE --name NEW`` (:mod:`zoo.domain`).
"""
from __future__ import annotations

import csv
import os

import numpy as np

__all__ = ["read_table", "table_files", "row_spectrum", "prepare_rows", "grouped_split", "blank"]


def blank(v) -> bool:
    """An empty cell (None, "", NaN)."""
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and np.isnan(v))


def read_table(path) -> tuple[list[dict], str]:
    """Rows of a CSV, Parquet or FITS table as dicts of plain values, and the file's sha256."""
    from .artifacts import sha256
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such table")
    low = path.lower()
    if low.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ImportError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow, or the [scale] "
                              "extra); or give the table as CSV") from exc
        rows = pq.read_table(path).to_pylist()
    elif low.endswith((".fits", ".fit", ".fits.gz")):
        from astropy.table import Table
        t = Table.read(path)
        rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in zip(t.colnames, r)} for r in t]
        rows = [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in r.items()} for r in rows]
    else:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    if not rows or not ("file" in rows[0] or {"flux", "wavelength"} <= set(rows[0])):
        raise ValueError(f"{path}: the table needs a 'file' column (or 'flux' and 'wavelength' array columns) "
                         f"and at least one row (columns: {sorted(rows[0]) if rows else []})")
    return rows, sha256(path)


def row_spectrum(row) -> dict | None:
    """A spectrum given as arrays in the row (``flux`` and ``wavelength`` in Angstrom, optional
    ``error``, ``mask``, ``medium``): keyword arguments of ``Predictor.prepare``; None for a
    ``file`` row."""
    flux = row.get("flux")
    if flux is None or isinstance(flux, str) or not hasattr(flux, "__len__"):
        return None
    kw = {"X": np.asarray(row["flux"], float), "wavelength": np.asarray(row["wavelength"], float)}
    for k in ("error", "mask"):
        if row.get(k) is not None and not isinstance(row.get(k), str):
            kw[k] = np.asarray(row[k], bool if k == "mask" else float)
    if not blank(row.get("medium")):
        kw["medium"] = str(row["medium"])
    return kw


def table_files(path, rows) -> list[str]:
    """The rows' files as absolute paths (relative ones are relative to the table's folder); a row
    that holds its spectrum as arrays is named ``<table>#<row>``."""
    base = os.path.dirname(os.path.abspath(os.fspath(path)))
    return [os.path.normpath(os.path.join(base, str(r["file"]))) if not blank(r.get("file"))
            else f"{os.path.abspath(os.fspath(path))}#{i}" for i, r in enumerate(rows)]


def prepare_rows(predictor, files, rows, progress: bool = True, desc: str = "reading"):
    """Every row's spectrum (its file, or its arrays: :func:`row_spectrum`; its ``instrument``)
    through ``predictor``'s input contract, with a progress bar.  Returns ``(X, kept, skipped)``:
    the prepared flux of the rows that could be read, (n, pixels) float32, their row indices, and
    ``(file, reason)`` for each row skipped."""
    from tqdm.auto import tqdm
    xs, kept, skipped = [], [], []
    for i, (f, r) in enumerate(tqdm(list(zip(files, rows)), desc=desc, unit="file", disable=not progress)):
        try:
            inst = None if blank(r.get("instrument")) else str(r["instrument"])
            arrays = row_spectrum(r)
            xs.append((predictor.prepare(f, instrument=inst) if arrays is None else
                       predictor.prepare(**arrays, instrument=inst)).flux[0])
            kept.append(i)
        except Exception as exc:  # noqa: BLE001  (a bad file is skipped and listed)
            skipped.append((f, f"{type(exc).__name__}: {exc}"))
    n = predictor.card.input.n_pixels
    return (np.stack(xs).astype(np.float32) if xs else np.zeros((0, n), np.float32)), kept, skipped


def grouped_split(groups, fraction: float, seed: int, stratify=None):
    """Indices ``(rest, held)``: about ``fraction`` of the groups held out (stratified by the
    first label of each group where given); no group straddles the two."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    if stratify is None:
        held_groups = set(rng.choice(uniq, size=max(1, int(round(fraction * uniq.size))), replace=False))
    else:
        first = {g: s for s, g in zip(stratify, groups)}
        held_groups = set()
        for s in sorted(set(first.values()), key=str):
            gs = np.array([g for g in uniq if first[g] == s])
            k = int(round(fraction * gs.size))
            if k:
                held_groups.update(rng.choice(gs, size=k, replace=False))
    held = np.array([g in held_groups for g in groups])
    return np.nonzero(~held)[0], np.nonzero(held)[0]
