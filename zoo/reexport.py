"""Re-export committed ONNX models through today's :mod:`zoo.export`, from their current weights.

    python -m zoo reexport NAME [NAME ...] | --all [--dry-run] [--min-speedup 1.1] [--no-publish]

For each exported model (default: every ``exported/<name>/`` with a card):

1. the Keras model is loaded from the export as the Keras backend does (``model.keras``, or
   the registered architecture with the weights of ``model.onnx``: :mod:`zoo.derive`) --
   no retraining, the weights are the committed ones;
2. it is converted again with :func:`zoo.export.export_onnx` (tf2onnx, then
   :func:`zoo.export.fuse_conv1d`, the card's ``metadata_props``) into a temporary file;
3. the new file must reproduce the recorded outputs of ``test_data_set_0`` (the Keras
   outputs stored at export) to 1e-5, match the old file on them, and -- where the Keras
   model is derived from the ONNX file -- still give the same Keras model
   (:func:`zoo.derive.keras_from_onnx` against ``test_data_set_0``);
4. it replaces ``model.onnx`` only when its graph changed and ONNX Runtime runs it at least
   ``--min-speedup`` times as fast as the old file (best of interleaved runs, batch 256, the
   default session options a deployer gets), so that a file enters git history again only
   for a real gain.

``test_data_set_0`` stays as it is (same inputs, same recorded Keras outputs).  In
``card.json`` only ``artifacts["model.onnx"]`` changes: its sha256, ``max_abs_diff_vs_keras``
(measured again), ``metadata_props`` (the keys now embedded) and ``reexported`` (the command,
date, code version and measured speed-up: the card names the command that wrote it); every other
field is kept.
A model with a published release (``zoo/data/hub/<name>.json``) is published again
(``python -m zoo publish NAME``: the archive goes to ``dist/``, to be uploaded to the
release URL) so that the release index matches the new file.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

__all__ = ["reexport"]


def _code_version() -> str | None:
    """The git commit of the clone this runs from (None outside a clone)."""
    try:
        out = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _ort_speed(paths, x, repeats=5, rounds=3):
    """Spectra/s of each ONNX file (default session options), best of interleaved rounds."""
    import onnxruntime as ort
    sessions = [ort.InferenceSession(p, providers=["CPUExecutionProvider"]) for p in paths]
    best = [np.inf] * len(paths)
    for s in sessions:
        s.run(None, {s.get_inputs()[0].name: x})
    for _ in range(rounds):
        for i, s in enumerate(sessions):
            name = s.get_inputs()[0].name
            for _ in range(repeats):
                t = time.perf_counter()
                s.run(None, {name: x})
                best[i] = min(best[i], time.perf_counter() - t)
    return [x.shape[0] / b for b in best]


def _run(path, flux):
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, {s.get_inputs()[0].name: flux})))


def _op_counts(path):
    import collections

    import onnx
    return dict(collections.Counter(n.op_type for n in onnx.load(path).graph.node))


def reexport(name: str, directory: str | None = None, dry_run: bool = False, min_speedup: float = 1.1,
             publish: bool = True, atol: float = 1e-5) -> dict:
    """Re-export one model's ONNX file from its committed weights (see the module docstring).

    Parameters
    ----------
    name : str
        A registered model name.
    directory : str, optional
        Its exported folder (default: ``exported/<name>`` of the clone).
    dry_run : bool
        Measure and report, write nothing.
    min_speedup : float
        Replace the file only when ONNX Runtime runs the new one at least this many times as fast.
    publish : bool
        Publish the release again (``dist/``) when the model has one and the file was replaced.
    atol : float
        Largest allowed difference from the recorded outputs of ``test_data_set_0``.

    Returns
    -------
    dict
        The report: op counts, differences, speeds, ``action``.
    """
    import onnxruntime as ort

    from .card import ModelCard
    from .derive import keras_from_onnx
    from .export import export_onnx, read_test_data, sha256
    from .predictor import Predictor, exported_dir
    from .registry import get_entry

    directory = directory or exported_dir(name)

    card_file = os.path.join(directory, "card.json")
    card = ModelCard.from_json(card_file)
    old = os.path.join(directory, "model.onnx")
    flux, expected = read_test_data(directory)
    model = Predictor(directory, backend="keras").model
    tmp = tempfile.mkdtemp(prefix=f"reexport_{name}_")
    try:
        new = export_onnx(model, os.path.join(tmp, "model.onnx"), card.input.n_pixels, card=card)
        got, before = _run(new, flux), _run(old, flux)
        diff_rec = max(float(np.max(np.abs(got[k] - v))) for k, v in expected.items())
        diff_old = max(float(np.max(np.abs(got[k] - before[k]))) for k in expected)
        report = {"model": name, "ops_old": _op_counts(old), "ops_new": _op_counts(new),
                  "max_abs_diff_vs_recorded": diff_rec, "max_abs_diff_vs_old_onnx": diff_old}
        if diff_rec > atol:
            raise RuntimeError(f"{name}: the re-exported ONNX differs from test_data_set_0 by {diff_rec:.2e}")
        derived = "derived_from" in card.artifacts.get("model.keras", {})
        if derived:
            shutil.copytree(os.path.join(directory, "test_data_set_0"), os.path.join(tmp, "test_data_set_0"))
            keras_from_onnx(get_entry(name).build(), new, check_dir=tmp, atol=atol)
        x = np.ascontiguousarray(np.resize(flux, (256, flux.shape[1])), np.float32)
        s_old, s_new = _ort_speed([old, new], x)
        report.update(old_spectra_s=round(s_old), new_spectra_s=round(s_new), speedup=round(s_new / s_old, 2),
                      ort_threads="default", machine_load=os.getloadavg()[0])
        if report["ops_old"] == report["ops_new"]:
            report["action"] = "kept (the graph did not change)"
            return report
        if s_new < min_speedup * s_old:
            report["action"] = f"kept (speedup {s_new / s_old:.2f} < {min_speedup})"
            return report
        if dry_run:
            report["action"] = "would replace (dry run)"
            return report
        shutil.copyfile(new, old)
        meta = sorted(ort.InferenceSession(old, providers=["CPUExecutionProvider"])
                      .get_modelmeta().custom_metadata_map)
        raw = json.load(open(card_file))           # edit the JSON itself: every other field stays
        art = raw["artifacts"]["model.onnx"]
        keras_out = {k: np.asarray(v) for k, v in model.predict_on_batch(flux).items()}
        art["sha256"] = sha256(old)
        art["max_abs_diff_vs_keras"] = max(float(np.max(np.abs(got[k] - keras_out[k]))) for k in keras_out)
        art["metadata_props"] = meta
        art["reexported"] = {"command": f"python -m zoo reexport {name}", "date": time.strftime("%Y-%m-%d"),
                             "code_version": _code_version(), "speedup": report["speedup"],
                             "max_abs_diff_vs_recorded": diff_rec}
        with open(card_file, "w") as fh:
            json.dump(raw, fh, indent=2)
            fh.write("\n")
        report["action"] = "replaced"
        from . import hub
        if publish and hub.release_info(name) is not None:
            rel, path = hub.publish(name, directory=directory)
            report["published"] = f"{path} (upload it to the release URL)"
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
