"""``python -m zoo reexport`` (zoo.reexport): a model's ONNX file converted again from its committed
weights, replaced only when the graph changed and it is faster, the card naming the command; and no
script, benchmark or evaluation writes into exported/ (issue "One home per paper")."""
import ast
import json
import os
import shutil

import numpy as np
import pytest

from zoo.predictor import exported_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "racnet_ds2"   # a small conv net (3 MB) whose Keras model is derived from its ONNX file


@pytest.fixture()
def copy(tmp_path):
    src = exported_dir(NAME)
    if not os.path.exists(os.path.join(src, "card.json")):
        pytest.skip(f"{NAME} is not exported in this clone")
    dst = tmp_path / NAME
    shutil.copytree(src, dst)
    return str(dst)


def test_an_unchanged_graph_is_kept_and_the_card_untouched(copy):
    pytest.importorskip("tf2onnx")
    from zoo.reexport import reexport
    before = {f: open(os.path.join(copy, f), "rb").read() for f in ("card.json", "model.onnx")}
    report = reexport(NAME, copy, publish=False)
    assert report["action"] == "kept (the graph did not change)", report
    assert report["max_abs_diff_vs_recorded"] <= 1e-5
    assert {f: open(os.path.join(copy, f), "rb").read() for f in before} == before


def test_a_slower_graph_is_replaced_and_the_card_names_the_command(copy):
    """The copy's model.onnx is swapped for an unfused conversion of the same weights (ONNX Runtime's
    plain Conv path): the re-export writes the fused graph back and records itself in the card."""
    pytest.importorskip("tf2onnx")
    from zoo.card import ModelCard
    from zoo.export import export_onnx, read_test_data, sha256
    from zoo.predictor import Predictor
    from zoo.reexport import reexport
    card = ModelCard.from_json(os.path.join(copy, "card.json"))
    model = Predictor(copy, backend="keras").model
    export_onnx(model, os.path.join(copy, "model.onnx"), card.input.n_pixels, card=card, fuse=False)
    raw = json.load(open(os.path.join(copy, "card.json")))
    raw["artifacts"]["model.onnx"]["sha256"] = sha256(os.path.join(copy, "model.onnx"))
    json.dump(raw, open(os.path.join(copy, "card.json"), "w"), indent=2)

    report = reexport(NAME, copy, min_speedup=0.0, publish=False)
    assert report["action"] == "replaced", report
    assert report["ops_old"] != report["ops_new"]
    art = json.load(open(os.path.join(copy, "card.json")))["artifacts"]["model.onnx"]
    assert art["sha256"] == sha256(os.path.join(copy, "model.onnx"))
    assert art["reexported"]["command"] == f"python -m zoo reexport {NAME}"
    assert art["reexported"]["max_abs_diff_vs_recorded"] <= 1e-5
    flux, expected = read_test_data(copy)
    got = Predictor(copy, backend="onnx").forward(flux)
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, atol=1e-5)


def test_the_dry_run_writes_nothing(copy):
    pytest.importorskip("tf2onnx")
    from zoo.reexport import reexport
    before = open(os.path.join(copy, "card.json"), "rb").read()
    report = reexport(NAME, copy, dry_run=True, min_speedup=0.0, publish=False)
    assert report["action"].startswith("kept") or report["action"] == "would replace (dry run)"
    assert open(os.path.join(copy, "card.json"), "rb").read() == before


# ---------------------------------------------------------------- no script writes into exported/
WRITERS = {"reexport", "publish", "publish_all", "to_json", "refit_domain"}   # always into exported/ or hub
EXPORTERS = {"export_onnx", "export_saved_model", "save"}                      # into the folder given


def writes_into_exported(source: str) -> list[str]:
    """Calls in ``source`` that write into an exported model: a write (open for writing, json.dump,
    np.save*, shutil.copy*, Path.write_*) whose arguments name ``exported`` or ``card.json`` or a
    path from ``exported_dir``, or a call of the zoo's export/publish/re-export functions."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        seg = ast.unparse(node)
        if name in WRITERS or (name in EXPORTERS and "exported" in seg):
            hits.append(f"{node.lineno}: {seg[:80]}")
            continue
        mode = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)] + \
               [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
        write = (name == "open" and any(isinstance(m, str) and set(m) & set("wax") for m in mode)) or \
            name in {"dump", "savez", "savez_compressed", "copyfile", "copy", "copy2", "copytree", "move",
                     "write_text", "write_bytes"}
        if write and any(w in seg for w in ("exported", "card.json", "card_file")):
            hits.append(f"{node.lineno}: {seg[:80]}")
    return hits


def test_the_checker_catches_a_card_write():
    bad = ('import json, os\nfrom zoo.predictor import exported_dir\n'
           'd = exported_dir("x")\njson.dump({}, open(os.path.join(d, "card.json"), "w"))\n')
    assert writes_into_exported(bad)
    assert writes_into_exported('from zoo.hub import publish\npublish("x")\n')
    assert writes_into_exported('export_onnx(model, os.path.join(exported_dir("x"), "model.onnx"), 9)\n')
    assert not writes_into_exported('import json\njson.dump({}, open("docs/results/x.json", "w"))\n')
    assert not writes_into_exported('export_onnx(model, os.path.join(tmp, "model.onnx"), 9)\n')


@pytest.mark.parametrize("top", ["scripts", "benchmarks", "evaluation"])
def test_no_script_writes_into_exported(top):
    hits = {}
    for d, _, files in os.walk(os.path.join(REPO, top)):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                h = writes_into_exported(open(path, encoding="utf-8").read())
                if h:
                    hits[os.path.relpath(path, REPO)] = h
    assert not hits, hits
