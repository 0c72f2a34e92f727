"""The card's input contract is enough to port a model (issue 17).

``tests/port/contract_port.py`` is an independent implementation of the contract (numpy and
onnxruntime only, written from docs/deploy.md): it reads only an exported model's
``card.json`` and ``model.onnx``.  Here it runs on every exported model (found in
``exported/``) and every bundled real file a zoo reader claims (LAMOST, Ondřejov, apStar,
and all 251 ``.rbn`` files of the two MK atlases; ~10 s on 2 cores), given the arrays the zoo's reader documents for the file.  Where the zoo answers,
the port's network input equals the zoo's (to 1e-6 of its largest value; measured: bitwise),
its network outputs match the zoo's (``zoo.load_model(name, backend="onnx")``) to 1e-4 and
its decoded classes / labels agree (to 1e-4); where the zoo refuses a file, the port refuses
it for the same reason.  The last tests change one card field at a time and check that the
port then disagrees with the zoo (so each field is read, and the comparison can fail).
"""
import ast
import copy
import glob
import os
import sys

import numpy as np
import pytest

import zoo
from zoo import errors
from zoo.io import read, readers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "port"))
import contract_port as port  # noqa: E402

EXPORTED = sorted(os.path.basename(os.path.dirname(p))
                  for p in glob.glob(os.path.join(REPO, "exported", "*", "card.json"))
                  if os.path.exists(os.path.join(os.path.dirname(p), "model.onnx")))
RBN_EVERY = 1


def _files():
    import zoo
    out = []
    for path in zoo.example_files():
        if path.endswith(".rbn") and (sorted(os.listdir(os.path.dirname(path))).index(os.path.basename(path))
                                      % RBN_EVERY):
            continue
        if any(looks(path) for looks, _ in readers().values()):
            out.append(path)
    return out


FILES = _files()
KIND = [(errors.NonFiniteFluxError, "nonfinite"), (errors.SpectrumLengthError, "length"),
        (errors.NonMonotonicWavelengthError, "wavelength"), (errors.WavelengthUnitError, "wavelength"),
        (errors.WavelengthCoverageError, "coverage"), (errors.InsufficientDataError, "insufficient"),
        (errors.UnphysicalFluxError, "unphysical")]


@pytest.fixture(scope="module")
def spectra():
    return {f: read(f) for f in FILES}


@pytest.fixture(scope="module")
def zoo_answers(spectra):
    """{model: {file: {"input": the network input, "raw": outputs}, or the kind of refusal}}
    from the zoo itself."""
    out = {}
    for name in EXPORTED:
        m = zoo.load_model(name, backend="onnx")
        answers = {}
        for f, s in spectra.items():
            try:
                x = m.prepare(s).flux
                answers[f] = {"input": x, "raw": m.forward(x)}
            except errors.SpectrumError as exc:
                answers[f] = next(k for t, k in KIND if isinstance(exc, t))
        out[name] = answers
    return out


def _port_model(name, change=None):
    model = port.load(os.path.join(REPO, "exported", name))
    if change is not None:
        model["card"] = copy.deepcopy(model["card"])
        change(model["card"]["input"])
    return model


def _disagreements(name, spectra, answers, change=None, files=None):
    """Files on which the port (card changed by ``change``) and the zoo disagree, with why."""
    model = _port_model(name, change)
    bad = []
    for f in files or FILES:
        s = spectra[f]
        want = answers[name][f]
        try:
            got = port.predict(model, s.angstrom, s.flux, s.error, s.mask, s.medium, s.meta.get("instrument"))
        except port.Refused as exc:
            if want != exc.kind:
                bad.append((f, f"port refused ({exc}), zoo {'answered' if isinstance(want, dict) else want}"))
            continue
        if not isinstance(want, dict):
            bad.append((f, f"zoo refused ({want}), the port answered"))
            continue
        x = np.asarray(want["input"], float)
        diff = float(np.max(np.abs(got["input"] - x))) / max(float(np.max(np.abs(x))), 1e-30)
        if diff > 1e-6:    # measured: 0 (bitwise equal) on every model and file
            bad.append((f, f"network input differs by {diff:.3g} of its largest value"))
        for k, v in want["raw"].items():
            diff = float(np.max(np.abs(np.asarray(got["raw"][k], float) - np.asarray(v, float))))
            if diff > 1e-4:
                bad.append((f, f"{k} differs by {diff:.3g}"))
        decoded = zoo.onnx_kit.decode(zoo.get_card(name).outputs, want["raw"])
        mine = port.decode(model["card"]["outputs"], got["raw"])
        for k, v in decoded.items():
            if v.dtype.kind in "US":
                if not (v == mine[k]).all():
                    bad.append((f, f"{k}: port {mine[k]}, zoo {v}"))
            elif not np.allclose(mine[k], v, rtol=1e-4, atol=1e-4):
                bad.append((f, f"{k}: port {mine[k]}, zoo {v}"))
    return bad


def test_models_and_files_are_discovered():
    assert len(EXPORTED) >= 9 and {"autoclassmk", "apogeenet", "racnet_fgk", "emission_cnn"} <= set(EXPORTED)
    kinds = {os.path.basename(os.path.dirname(f)) for f in FILES}
    assert {"lamost", "ondrejov", "apogee", "libr18", "libr18_27"} <= kinds
    assert sum(f.endswith(".rbn") for f in FILES) >= 60


def test_port_imports_neither_zoo_nor_anything_but_numpy_and_onnxruntime():
    tree = ast.parse(open(port.__file__, encoding="utf-8").read())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert mods <= {"__future__", "json", "os", "numpy", "onnxruntime"}, mods


@pytest.mark.parametrize("name", EXPORTED)
def test_port_matches_the_zoo(name, spectra, zoo_answers):
    answered = [f for f, a in zoo_answers[name].items() if isinstance(a, dict)]
    assert answered, f"{name}: no bundled file is read by this model"
    bad = _disagreements(name, spectra, zoo_answers)
    assert not bad, f"{name}: the port and the zoo disagree on {len(bad)} file(s): {bad[:5]}"


# --------------------------------------------------------------------------- the fields are read
def _set(path, value):
    def change(inp):
        d = inp
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return change


@pytest.mark.parametrize("name, path, value, where", [
    # AutoClassMK without its edge rules (issue 17: p(G5) 0.918 instead of 0.991)
    ("autoclassmk", ("edge_guard",), 0.0, "libr18_27"),
    ("autoclassmk", ("edge_floor",), None, "libr18_27"),
    # LAMOST inverse variance 0 taken as missing (the reader's error 1e10): RAC-Net answers move
    ("racnet_fgk", ("missing", "error_at_least"), 1e9, "lamost"),
    # the Ondřejov step's blur and air->vacuum rule
    ("emission_cnn", ("instrument_step_params", "emission_ondrejov", "blur_stddev_px"), 3.0, "ondrejov"),
    ("emission_fc", ("instrument_step_params", "emission_ondrejov", "air_to_vacuum", "coefficients"),
     [0.0, 0.0, 130.0, 0.0, 38.9], "ondrejov"),
    # the APOGEE continuum: degree, continuum pixels, clipping
    ("apogeenet", ("normalization_params", "degree"), 3, "apogee"),
    ("starnet", ("normalization_params", "clip"), [0.0, 1.05], "apogee"),
    # resampling onto the log grid is linear in wavelength: a coarser coverage rule refuses files
    ("racnet_ds1", ("coverage_tolerance",), -30.0, "lamost"),
])
def test_a_wrong_card_field_makes_the_port_disagree(name, path, value, where, spectra, zoo_answers):
    files = [f for f in FILES if os.path.basename(os.path.dirname(f)) == where]
    assert not _disagreements(name, spectra, zoo_answers, files=files)
    bad = _disagreements(name, spectra, zoo_answers, _set(path, value), files=files)
    assert bad, f"{name}: changing {path} to {value!r} changed nothing on {where} files"


@pytest.mark.parametrize("field", ["missing", "edge_method", "resampling", "coverage_tolerance",
                                   "medium_conversion", "normalization_params", "instrument_step_params",
                                   "edge_guard", "edge_floor"])
def test_a_card_without_a_field_cannot_be_ported(field, spectra, zoo_answers):
    """The port reads every field from the card and has no defaults: a card without one fails."""
    name = {"instrument_step_params": "emission_cnn", "normalization_params": "apogeenet",
            "medium_conversion": "autoclassmk"}.get(field, "autoclassmk")
    where = {"emission_cnn": "ondrejov", "apogeenet": "apogee"}.get(name, "libr18_27")
    files = [f for f in FILES if os.path.basename(os.path.dirname(f)) == where][:2]
    if field == "medium_conversion":     # only spectra in another medium need it: a vacuum LAMOST file
        files = [f for f in FILES if os.path.basename(os.path.dirname(f)) == "lamost"][:1]
    with pytest.raises(KeyError):
        _disagreements(name, spectra, zoo_answers, lambda inp: inp.pop(field), files=files)
