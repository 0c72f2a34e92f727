"""The card's trust block as a typed structure, and the one hash-checked way to its files (issue 21,
"A smaller, typed public API").

Every exported card's ``trust`` block reads into :class:`zoo.card.TrustSpec` (the same fields for every
family) and back unchanged; a block without ``method`` or ``threshold`` is a
:class:`zoo.errors.TrustSpecError`; a trust method reads ``trust.npz`` only through
:meth:`zoo.predictor.Predictor.artifact_arrays`, which checks the card's sha256 (a damaged file makes
``predict`` raise :class:`zoo.errors.ChecksumMismatchError` naming it) and reads a file once.
"""
import dataclasses
import glob
import json
import os
import shutil

import numpy as np
import pytest

from zoo.card import ModelCard, TrustFit, TrustSpec
from zoo.errors import ArtifactError, ChecksumMismatchError, TrustSpecError
from zoo.predictor import Predictor, exported_dir

CARDS = sorted(glob.glob(os.path.join(exported_dir(), "*", "card.json")))
FIELDS = ["method", "threshold", "description", "fit", "false_flag_rate", "false_flag_on", "flag_rates",
          "uncertainty_calibration", "extra"]


def _trust(path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["trust"]


def _model(name):
    d = exported_dir(name)
    if not os.path.exists(os.path.join(d, "card.json")):
        pytest.skip(f"exported/{name} is not there")
    return d


@pytest.mark.parametrize("path", CARDS, ids=[os.path.basename(os.path.dirname(p)) for p in CARDS])
def test_every_exported_trust_block_is_a_trust_spec(path):
    """Same field names for every family, method and threshold set, the measured rates found, and the
    card's block given back unchanged."""
    d = _trust(path)
    spec = ModelCard.from_json(path).trust_spec
    assert [f.name for f in dataclasses.fields(spec)] == FIELDS
    assert [f.name for f in dataclasses.fields(spec.fit)] == ["command", "data", "date", "extra"]
    assert isinstance(spec.method, str) and spec.method and isinstance(spec.threshold, float)
    assert spec.method == d["method"] and spec.threshold == d["threshold"]
    assert spec.description
    assert spec.false_flag_rate is not None and 0 <= spec.false_flag_rate <= 1 and spec.false_flag_on
    assert all(0 <= r <= 1 for r in spec.flag_rates.values())
    assert not set(spec.extra) & {"method", "threshold", "description", "uncertainty"}
    assert spec.to_dict() == d
    assert TrustSpec.from_dict(spec.to_dict()) == spec


def test_each_family_maps_to_the_typed_fields():
    """The per-family keys behind the typed fields (see TrustSpec / _trust_views)."""
    names = {os.path.basename(os.path.dirname(p)): p for p in CARDS}
    if "starnet" in names:
        s = TrustSpec.from_dict(_trust(names["starnet"]))
        assert s.fit.command == "python scripts/trust_evaluate.py" and s.fit.data.startswith("validation")
        assert s.false_flag_on.startswith("test") and "pure noise" in s.flag_rates
        assert set(s.uncertainty_calibration) >= {"noise_scale", "sigma_model"}
    if "racnet_fgk" in names:
        d = _trust(names["racnet_fgk"])
        s = TrustSpec.from_dict(d)
        assert (s.fit.command, s.fit.date, s.fit.extra) == (d["fit"]["command"], d["fit"]["date"],
                                                            {"seconds": d["fit"]["seconds"]})
        assert s.false_flag_rate == d["false_flag_rate_test"] and "seed 202" in s.false_flag_on
        assert s.flag_rates["flat"] == 1.0 and s.uncertainty_calibration is None and "knn" in s.extra
    if "emission_cnn" in names:
        d = _trust(names["emission_cnn"])
        s = TrustSpec.from_dict(d)
        assert s.false_flag_rate == d["test_false_flag_rate"] and s.flag_rates == d["hit_rate"]
        assert s.fit == TrustFit()
    if "emission_cnn_lamost" in names:
        d = _trust(names["emission_cnn_lamost"])
        s = TrustSpec.from_dict(d)
        assert s.fit.command == d["refit"]["command"] and d["refit"]["table"] in s.fit.data
        assert s.false_flag_rate == d["refit"]["false_flag_rate_held_out"] and "held-out" in s.false_flag_on


def test_a_spec_built_in_code_round_trips():
    spec = TrustSpec("toy", 2.0, description="x", fit=TrustFit("python make.py", "validation", "2026-01-01"),
                     false_flag_rate=0.02, false_flag_on="validation", flag_rates={"noise": 1.0},
                     uncertainty_calibration={"noise_scale": {"a": 1.0}}, extra={"cut": 3})
    d = spec.to_dict()
    assert d["fit"] == {"command": "python make.py", "data": "validation", "date": "2026-01-01"}
    assert TrustSpec.from_dict(d) == spec
    # a changed view of a card's block writes the typed key beside the family's own
    old = {"method": "m", "threshold": 1, "test_false_flag_rate": 0.1, "hit_rate": {"flat": 1.0}}
    new = dataclasses.replace(TrustSpec.from_dict(old), false_flag_rate=0.2, false_flag_on="another test")
    assert TrustSpec.from_dict(new.to_dict()) == new and new.to_dict()["test_false_flag_rate"] == 0.1


@pytest.mark.parametrize("block", [{"threshold": 1.0, "description": "no method"},
                                   {"method": "", "threshold": 1.0},
                                   {"method": "pca_knn", "description": "no threshold"},
                                   {"method": "pca_knn", "threshold": None},
                                   {"method": "pca_knn", "threshold": "1.0"}])
def test_a_block_without_method_or_threshold_is_a_typed_error(block):
    with pytest.raises(TrustSpecError, match="method|threshold"):
        TrustSpec.from_dict(block)
    card = ModelCard.from_json(CARDS[0]).replace(trust=block) if CARDS else None
    if card is not None:
        with pytest.raises(TrustSpecError):
            card.trust_spec
        assert isinstance(TrustSpecError("x"), ValueError)


def test_a_card_without_trust_has_no_spec():
    if not CARDS:
        pytest.skip("no exported models")
    assert ModelCard.from_json(CARDS[0]).replace(trust={}).trust_spec is None


def _tampered_copy(name, tmp_path):
    src = _model(name)
    dst = tmp_path / name
    dst.mkdir()
    for f in ("card.json", "model.onnx", "trust.npz"):
        shutil.copy(os.path.join(src, f), dst / f)
    raw = bytearray((dst / "trust.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (dst / "trust.npz").write_bytes(bytes(raw))
    return dst


@pytest.mark.parametrize("name", ["racnet_fgk", "emission_cnn"])
def test_a_damaged_trust_file_stops_predict(name, tmp_path):
    """The network loads (its own file is intact); the trust score refuses the damaged reference."""
    pred = Predictor(_tampered_copy(name, tmp_path), backend="onnx")
    c = pred.card.input
    flux = 1.0 + 0.05 * np.random.default_rng(0).normal(size=(2, c.n_pixels))
    intact = Predictor(_model(name), backend="onnx").predict(flux, wavelength=c.wavelength())
    assert intact["out_of_domain"].shape == (2,)
    with pytest.raises(ChecksumMismatchError, match="trust.npz"):
        pred.predict(flux, wavelength=c.wavelength())


def test_artifact_checks_what_the_card_lists(tmp_path):
    pred = Predictor.without_network(_model("emission_cnn"))
    assert pred.artifact("trust.npz").endswith("trust.npz")
    with pytest.raises(ArtifactError, match="no sha256"):
        pred.artifact("card.json")
    with pytest.raises(ArtifactError, match="missing"):
        pred.artifact("nothing.npz")
    pred.directory = None
    with pytest.raises(ArtifactError, match="no directory"):
        pred.artifact_arrays("trust.npz")


def test_artifact_arrays_are_read_once(tmp_path, monkeypatch):
    """Verified and read on the first call; later calls (any predictor over the same file and sha256)
    return the cached arrays, read-only, without opening the file; a new sha256 reads it again."""
    src = _model("racnet_fgk")
    d = tmp_path / "m"
    d.mkdir()
    for f in ("card.json", "trust.npz"):
        shutil.copy(os.path.join(src, f), d / f)
    calls = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(a[0]) or real_load(*a, **k))
    a = Predictor.without_network(d).artifact_arrays("trust.npz", dtype=np.float64)
    b = Predictor.without_network(d).artifact_arrays("trust.npz", dtype=np.float64)
    assert len(calls) == 1
    assert a is not b and all(a[k] is b[k] for k in a)
    assert a["mean"].dtype == np.float64 and a["k_nn"].dtype.kind == "i" and not a["mean"].flags.writeable
    raw = Predictor.without_network(d).artifact_arrays("trust.npz")        # as stored: another entry
    assert raw["mean"].dtype == np.float32 and len(calls) == 2
    # the file rewritten and its new sha256 in the card: read (and checked) again
    from zoo.artifacts import sha256
    np.savez(d / "trust.npz", **{k: np.asarray(v) for k, v in raw.items()}, extra=np.ones(1))
    card = json.loads((d / "card.json").read_text())
    card["artifacts"]["trust.npz"]["sha256"] = sha256(str(d / "trust.npz"))
    (d / "card.json").write_text(json.dumps(card))
    assert "extra" in Predictor.without_network(d).artifact_arrays("trust.npz") and len(calls) == 3
