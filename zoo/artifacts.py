"""Artifacts of an exported model, as files: checksums and the ONNX-standard test data.

A leaf of the core (it imports no other zoo module): the card, export, derive, hub, predictor
and batch modules all read and check artifacts through it.
"""
from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np

__all__ = ["sha256", "write_test_data", "read_test_data", "EXPORTED_BUDGET_MB"]

#: the most ``exported/`` may hold in git, in MB (10^6 bytes): every retrain adds to the history, so what can
#: be derived is derived (tests/test_layout.py checks the tracked files)
EXPORTED_BUDGET_MB = 150


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_test_data(directory, flux: np.ndarray, outputs: dict[str, np.ndarray], output_names) -> str:
    """ONNX-standard test data: ``input_0.pb`` and ``output_<i>.pb`` (outputs in ``output_names`` order)."""
    from onnx import numpy_helper
    d = os.path.join(directory, "test_data_set_0")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "input_0.pb"), "wb") as fh:
        fh.write(numpy_helper.from_array(np.asarray(flux, np.float32), "flux").SerializeToString())
    for i, name in enumerate(output_names):
        with open(os.path.join(d, f"output_{i}.pb"), "wb") as fh:
            fh.write(numpy_helper.from_array(np.asarray(outputs[name], np.float32), name).SerializeToString())
    return d


def read_test_data(directory):
    """Inverse of :func:`write_test_data`: ``(flux, {output name: array})``."""
    import onnx
    from onnx import numpy_helper
    d = os.path.join(directory, "test_data_set_0")
    t = onnx.TensorProto()
    with open(os.path.join(d, "input_0.pb"), "rb") as fh:
        t.ParseFromString(fh.read())
    flux = numpy_helper.to_array(t)
    outs = {}
    i = 0
    while os.path.exists(os.path.join(d, f"output_{i}.pb")):
        t = onnx.TensorProto()
        with open(os.path.join(d, f"output_{i}.pb"), "rb") as fh:
            t.ParseFromString(fh.read())
        outs[t.name] = numpy_helper.to_array(t)
        i += 1
    return flux, outs
