"""`python -m training.<model> --train-table TABLE` on every exported model, end to end on the
bundled real files: a table of them, a fine-tune of a few steps, and (for one model) the export
under a name of its own that zoo.load_model finds, whose card records the table and the base."""
import csv
import importlib
import json
import os
import shlex

import numpy as np
import pytest

import zoo
from zoo.predictor import exported_dir
from zoo.registry import get_entry

pytest.importorskip("keras")

#: the bundled real files each family reads
FILES = {"racnet": ["lamost/*.fits"], "emission": ["ondrejov/*.fits", "lamost/*.fits"],
         "autoclassmk": ["mk_atlas/libr18/t*l50p00.rbn"], "apogee": ["apogee/apStar-*.fits"]}


def _exported():
    """One exported model per training module and factory (variants that differ only in their
    recipe numbers or classes, e.g. racnet_ds1/ds2/fgk, run the same code)."""
    seen, out = set(), []
    for n in zoo.list_models():
        if os.path.exists(os.path.join(exported_dir(n), "card.json")):
            e = get_entry(n)
            key = (e.command.split()[2], e.factory.__qualname__)
            if key not in seen:
                seen.add(key)
                out.append(n)
    return out


def _files(name):
    key = next(k for k in FILES if k in name or (k == "apogee" and name in ("apogeenet", "starnet")))
    return [f for pattern in FILES[key] for f in zoo.example_files(pattern)][:8]


def _table(name, path, splits=None):
    """Labels: the base model's own answers on the files it reads (a smoke test of the plumbing;
    the real-data evaluation is `--cv` on a real labelled sample, docs)."""
    model = zoo.load_model(name)
    rows = []
    for f in _files(name):
        try:
            r = model.predict(f, return_uncertainty=False) if not any(
                o.kind == "class" for o in model.card.outputs) else model.predict(f)
        except zoo.ZooError:
            continue
        row = {"file": os.path.relpath(f, os.path.dirname(path)), "group": os.path.basename(f)}
        for o in model.card.outputs:
            if o.kind == "class":
                row[o.name] = str(r[o.name][0])
            else:
                row.update({lab: float(r[lab][0]) for lab in o.labels})
        rows.append(row)
    assert len(rows) >= 2, name
    for i, row in enumerate(rows):
        row["split"] = "val" if i % 2 else "train"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def _train(name, argv):
    """Run the model's training command in this process (as `python -m <module> ...` would)."""
    from training import skeleton
    cmd = shlex.split(get_entry(name).command)
    module = importlib.import_module(cmd[2])
    argv = cmd[3:] + (["--model", name] if "--model" not in cmd else []) + argv
    if getattr(module, "main", skeleton.main) is not skeleton.main:
        return module.main(argv)
    task = next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, skeleton.Task)
                and v is not skeleton.Task and v.__module__ == module.__name__)
    return skeleton.main(task, argv)


@pytest.mark.parametrize("name", _exported())
def test_train_table_fine_tunes_every_model(name, tmp_path):
    table = tmp_path / "table.csv"
    _table(name, str(table))
    res = _train(name, ["--train-table", str(table), "--out", str(tmp_path / "run"), "--finetune-epochs", "1",
                        "--finetune-batch-size", "4", "--no-export"])
    assert res["fit"]["epochs_run"] == 1 and res["start_from"] == "pretrained"
    assert res["table_sha256"] and "val" in res["evaluation"]
    assert json.load(open(tmp_path / "run" / "finetune.json"))["model"] == name


def test_fine_tuned_model_exports_under_its_own_name(tmp_path, monkeypatch):
    name, new = "racnet_ds2", "racnet_ds2_mytable"
    table = tmp_path / "table.csv"
    rows = _table(name, str(table))
    root = tmp_path / "exported"
    from zoo.export import sha256
    base_onnx = sha256(os.path.join(exported_dir(name), "model.onnx"))
    _train(name, ["--train-table", str(table), "--out", str(tmp_path / "run"), "--finetune-epochs", "2",
                  "--finetune-batch-size", "2", "--name", new, "--export-dir", str(root / new)])
    monkeypatch.setenv("ZOO_EXPORTED", str(root))
    card = zoo.get_card(new)
    assert card.name == new and card.recipe["base_model"] == name and card.recipe["architecture"] == name
    assert card.recipe["base_onnx_sha256"] == base_onnx
    assert card.data["table_sha256"] == sha256(str(table)) and card.data["counts"]["train"]["class"]
    for backend in ("onnx", "keras"):
        m = zoo.load_model(new, backend=backend)
        out = m.predict([os.path.join(tmp_path, r["file"]) for r in rows])
        assert out["class"].shape == (len(rows),) and "out_of_domain" in out
    from zoo.__main__ import main
    assert main(["verify", new]) == 0


def test_cannon_recovers_the_labels_of_a_quadratic_model():
    """The Cannon baseline on spectra made by its own model (plus a little noise) gives the labels back."""
    from types import SimpleNamespace
    from training.finetune import TableData, cannon
    rng = np.random.default_rng(1)
    n, pix, k = 120, 300, 3
    lab = rng.normal(size=(n, k))
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    v = np.hstack([np.ones((n, 1)), lab] + [lab[:, [i]] * lab[:, [j]] for i, j in pairs])
    theta = rng.normal(scale=0.1, size=(v.shape[1], pix))
    X = (v @ theta + rng.normal(scale=1e-3, size=(n, pix))).astype(np.float32)
    card = SimpleNamespace(outputs=[SimpleNamespace(kind="regression", name="labels", labels=["a", "b", "c"])])
    data = TableData(X=X, targets={"labels": lab.astype(np.float32)}, groups=np.arange(n).astype(str),
                     split=np.array([""] * n), files=[""] * n, labels={}, skipped=[])
    got = cannon(data, np.arange(100), np.arange(100, n), card)["labels"]
    assert np.max(np.abs(got - lab[100:])) < 0.05


def test_table_rows_may_hold_the_spectrum_as_arrays(tmp_path):
    """A Parquet table whose rows carry flux and wavelength arrays gives the same prepared input as
    the files they came from."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    from training.finetune import load_table_data
    files = zoo.example_files("lamost/spec-*.fits")[:3]
    rows = []
    for f in files:
        s = zoo.io.read(f)
        rows.append({"flux": s.flux.tolist(), "wavelength": s.wavelength.value.tolist(),
                     "mask": s.mask.tolist(), "medium": s.medium, "class": "STAR"})
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    model = zoo.load_model("racnet_ds2")
    data = load_table_data(str(tmp_path / "t.parquet"), model, progress=False, log=lambda *a: None)
    want = np.concatenate([model.prepare(f).flux for f in files])
    np.testing.assert_allclose(data.X, want, atol=1e-6)
    assert list(data.targets["class"]) == [0, 0, 0]
