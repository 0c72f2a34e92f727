"""Archive-scale batch inference (zoo.batch, `python -m zoo predict NAME INPUTS --out DIR`): Parquet
shards equal to Predictor.predict, CSV, the error log and exit status, resume after an
interruption, and a 2-worker Dask LocalCluster giving exactly the local engine's table."""
import json
import os
import shutil

import numpy as np
import pytest

import zoo
from zoo.batch import BatchStateError, MissingExtraError, expand_inputs, predict_archive, read_rows, read_table
from zoo.families.mk.atlas import atlas_dir

pytest.importorskip("pyarrow")
MODEL = "autoclassmk"
KW = dict(shard_size=4, batch_size=3, progress=False)      # 3 shards, batches split inside shards


@pytest.fixture(scope="module")
def archive(tmp_path_factory, autoclassmk_exported):
    """10 real MKCLASS spectra (two in a subfolder) and one corrupt file."""
    d = tmp_path_factory.mktemp("archive")
    src = sorted(os.listdir(atlas_dir("libr18_27")))[::10][:10]
    (d / "sub").mkdir()
    for i, f in enumerate(src):
        shutil.copy(os.path.join(atlas_dir("libr18_27"), f), d / ("sub" if i < 2 else ".") / f)
    (d / "broken.rbn").write_text("3800.0 1.0\nnot numbers\n")
    return d


@pytest.fixture(scope="module")
def local_run(archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    res = predict_archive(MODEL, [str(archive)], out, **KW)
    return out, res


def _good(archive):
    return [p for p in expand_inputs([str(archive)]) if not p.endswith("broken.rbn")]


def test_expand_inputs(archive):
    files = expand_inputs([str(archive)])
    assert len(files) == 11 and files == sorted(files) and all(os.path.isabs(f) for f in files)
    assert expand_inputs([str(archive / "sub" / "*.rbn"), str(archive / "nothing-*.fits")]) == \
        sorted([*(str(p) for p in (archive / "sub").iterdir()), str(archive / "nothing-*.fits")])


def test_parquet_equals_predict_and_bad_file_is_logged(archive, local_run):
    out, res = local_run
    assert (res.n_files, res.n_shards, res.shards_written, res.rows, res.failed) == (11, 3, 3, 10, 1)
    assert sorted(os.listdir(out)) == ["errors", "errors.jsonl", "manifest.json", "part-000000.parquet",
                                       "part-000001.parquet", "part-000002.parquet"]
    err = [json.loads(line) for line in open(out / "errors.jsonl")]
    assert len(err) == 1 and err[0]["path"].endswith("broken.rbn") and err[0]["error"] == "CorruptFileError"
    table = read_table(out).to_pydict()
    good = _good(archive)
    assert table["path"] == good                                   # every good file once, in order
    model = zoo.load_model(MODEL, backend="onnx")
    want, proba = model.predict(good), model.predict_proba(good)
    for k, v in want.items():
        if v.dtype.kind in "USOb":
            assert list(table[k]) == list(v), k
        else:
            np.testing.assert_allclose(table[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
    for head, p in proba.items():
        for j, c in enumerate(model.labels[head]):
            np.testing.assert_allclose(table[f"{head}_p_{c}"], p[:, j], rtol=1e-5, atol=1e-6)
    assert list(table)[-2:] == ["domain_score", "out_of_domain"]


def test_cli_csv_exit_status_and_same_values(archive, local_run, tmp_path, capsys):
    from zoo.__main__ import main
    out = tmp_path / "csv"
    rc = main(["predict", MODEL, str(archive), "--out", str(out), "--format", "csv", "--shard-size", "4",
               "--batch-size", "3", "--no-progress"])
    assert rc == 1 and "1 files failed" in capsys.readouterr().err
    rows, ref = read_rows(out), read_table(local_run[0]).to_pylist()
    assert [r["path"] for r in rows] == [r["path"] for r in ref]
    for r, q in zip(rows, ref):       # CSV holds every float to the last bit (repr)
        assert r == {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in q.items()}
    assert main(["predict", MODEL, str(archive), "--out", str(tmp_path / "t.csv")]) == 2   # was a CSV file
    assert "is a directory" in capsys.readouterr().err


def test_interrupted_run_resumes_without_redoing_or_losing(archive, local_run, tmp_path):
    out = tmp_path / "out"
    first = predict_archive(MODEL, [str(archive)], out, max_shards=1, **KW)    # "killed" after one shard
    assert (first.shards_written, first.complete) == (1, False)
    done = os.stat(out / "part-000000.parquet").st_mtime_ns
    (out / ".part-000001.parquet.999-deadbeef.tmp").write_bytes(b"half a shard")  # died mid-write
    second = predict_archive(MODEL, [str(archive)], out, **KW)
    assert (second.shards_skipped, second.shards_written, second.rows) == (1, 2, 7) and second.complete
    assert os.stat(out / "part-000000.parquet").st_mtime_ns == done             # nothing redone
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    os.remove(out / "part-000001.parquet")                                       # a lost shard is redone
    kept = {f: os.stat(out / f).st_mtime_ns for f in ("part-000000.parquet", "part-000002.parquet")}
    third = predict_archive(MODEL, [str(archive)], out, **KW)
    assert (third.shards_skipped, third.shards_written, third.failed) == (2, 1, 1)
    assert kept == {f: os.stat(out / f).st_mtime_ns for f in kept}
    assert read_table(out).equals(read_table(local_run[0]))                      # nothing lost, no duplicate
    with pytest.raises(BatchStateError, match="shard_size"):                     # another run's directory
        predict_archive(MODEL, [str(archive)], out, shard_size=5, batch_size=3, progress=False)


def test_dask_two_workers_match_local_exactly(archive, local_run, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    res = predict_archive(MODEL, [str(archive)], out, engine="dask", workers=2, onnx_threads=1, **KW)
    assert (res.shards_written, res.rows, res.failed, res.failed_shards) == (3, 10, 1, [])
    assert read_table(out).equals(read_table(local_run[0]))
    assert open(out / "errors.jsonl").read() == open(local_run[0] / "errors.jsonl").read()


def test_missing_extra_is_a_clear_error(archive, tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"stellar-spectra-zoo\[scale\]"):
        predict_archive(MODEL, [str(archive)], tmp_path / "p", **KW)
    with pytest.raises(MissingExtraError, match=r"stellar-spectra-zoo\[scale\]"):
        predict_archive(MODEL, [str(archive)], tmp_path / "d", engine="dask", fmt="csv", **KW)
    res = predict_archive(MODEL, [str(archive)], tmp_path / "c", fmt="csv", **KW)   # CSV needs neither
    assert res.rows == 10


def test_killed_process_resumes(autoclassmk_exported, tmp_path):
    """A real `python -m zoo predict ... --out DIR` killed with SIGKILL mid-run, then run again."""
    import signal
    import subprocess
    import sys
    import time
    files = sorted(os.path.join(atlas_dir("libr18_27"), f) for f in os.listdir(atlas_dir("libr18_27")))[:40]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "zoo", "predict", MODEL, *files, "--out", str(out), "--shard-size", "2",
           "--batch-size", "1", "--no-progress"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.time()
    while proc.poll() is None and time.time() - t < 120 and len(list(out.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert 0 < len(before) < 20, len(before)                                    # killed mid-run
    r = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{len(before)} were done before" in r.stderr
    assert before == {n: (out / n).stat().st_mtime_ns for n in before}          # not redone
    paths = read_table(out).column("path").to_pylist()
    assert paths == sorted(files) and len(set(paths)) == 40                      # none lost, none twice
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
