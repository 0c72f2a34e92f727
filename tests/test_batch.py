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
from zoo.families.autoclassmk.atlas import atlas_dir

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
        assert r == {k: (repr(v) if isinstance(v, float) else "" if v is None else str(v)) for k, v in q.items()}
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
    children = _children(proc.pid)                  # the worker processes (Linux: /proc)
    assert children or not os.path.isdir("/proc")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t = time.time()
    while time.time() - t < 10 and any(os.path.exists(f"/proc/{c}") for c in children):
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{c}") for c in children), "workers outlived their killed main process"
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert 0 < len(before) < 20, len(before)                                    # killed mid-run
    r = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{len(before)} were done before" in r.stderr
    assert before == {n: (out / n).stat().st_mtime_ns for n in before}          # not redone
    paths = read_table(out).column("path").to_pylist()
    assert paths == sorted(files) and len(set(paths)) == 40                      # none lost, none twice
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def _children(pid):
    import glob
    out = []
    for f in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            out += [int(c) for c in open(f).read().split()]
        except OSError:
            pass
    return out


# --------------------------------------------------------------------------- races in fresh processes
def _two_format_archive(root, copies):
    """``copies`` symlinks to each bundled LAMOST and Ondrejov file: two formats, both read by
    emission_cnn, whose normalization and Ondrejov step its family registers (not the core)."""
    from importlib import resources
    src = sorted(str(p) for d in (resources.files("zoo") / "data" / "lamost",
                                  resources.files("zoo") / "families" / "bestars" / "data" / "ondrejov")
                 for p in d.iterdir() if str(p).endswith(".fits"))
    for k in range(copies):
        for s in src:
            os.symlink(s, root / f"{k:03d}-{os.path.basename(s)}")
    return len(src) * copies


def test_family_registry_is_thread_safe_in_a_fresh_process():
    """Many threads of a fresh process prepare files of a model whose normalization is registered
    by its family: none may find the registry half filled (it failed 3 runs in 3 before)."""
    import subprocess
    import sys
    code = r"""
import glob, threading
from importlib import resources
from zoo.predictor import Predictor, exported_dir
p = Predictor(exported_dir("apogeenet"), backend="onnx")
files = sorted(glob.glob(str(resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee" / "*.fits"))) * 2
errs, go = [], threading.Barrier(len(files))
def work(f):
    go.wait()
    try:
        p.prepare(f)
    except Exception as e:
        errs.append(repr(e))
ts = [threading.Thread(target=work, args=(f,)) for f in files]
[t.start() for t in ts]; [t.join() for t in ts]
print("ERRORS", len(errs), errs[:1])
"""
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "ERRORS 0 " in r.stdout, r.stdout


def test_dask_fresh_workers_lose_no_spectra(tmp_path):
    """The Dask engine (LocalCluster, 2 worker processes, 4 reader threads each) on ~300 files of two
    formats returns the local engine's rows exactly, in repeated runs with fresh workers: family
    discovery in a worker must not race its reader threads."""
    pytest.importorskip("distributed")
    name = "emission_cnn"
    src = tmp_path / "archive"
    src.mkdir()
    n = _two_format_archive(src, 33)
    kw = dict(shard_size=50, batch_size=32, progress=False, readers=4, prefetch=64)
    local = predict_archive(name, [str(src)], tmp_path / "local", **kw)
    assert local.rows == n and local.failed == 0, open(tmp_path / "local" / "errors.jsonl").read()[:500]
    want = read_table(tmp_path / "local")
    rows = want.to_pylist()          # every row names its object and position (LAMOST and Ondrejov)
    assert all(r["object"] and -90 <= r["dec"] <= 90 and 0 <= r["ra"] < 360 for r in rows)
    assert {r["object"] for r in rows} >= {"gamma Cas", "LAMOST J075703.80+025653.6"}
    for run in range(3):
        out = tmp_path / f"dask{run}"
        res = predict_archive(name, [str(src)], out, engine="dask", workers=2, onnx_threads=1, **kw)
        errors = open(out / "errors.jsonl").read()
        assert (res.rows, res.failed, res.failed_shards) == (n, 0, []), (run, errors[:500])
        assert read_table(out).equals(want), run


def test_failure_not_the_files_fault_is_retried_and_redone_on_resume(archive, local_run, tmp_path, monkeypatch):
    """An error of the zoo's own state is retried at once; should it persist it is logged with
    cause "zoo" and its shard is redone by the next run, not kept as a bad file.  (In this process:
    workers=0, so that the patched method is the one that runs.)"""
    import zoo.predictor as zp
    real = zp.Predictor.prepare_many
    calls = {"n": 0}

    def flaky(self, items, *a, **k):      # the first call fails for its first spectrum as the registry race did
        calls["n"] += 1
        out = real(self, items, *a, **k)
        if calls["n"] == 1:
            out[0] = ValueError("unknown flux normalization 'x'; known: ['rectified']")
        return out
    monkeypatch.setattr(zp.Predictor, "prepare_many", flaky)
    out = tmp_path / "out"
    res = predict_archive(MODEL, [str(archive)], out, readers=1, workers=0, **KW)
    assert (res.rows, res.failed) == (10, 1) and calls["n"] == 3 + 1     # a call per chunk (shard), one retry
    assert read_table(out).equals(read_table(local_run[0]))

    def broken(self, items, *a, **k):      # a zoo failure that persists for the files of shard 0
        out = real(self, items, *a, **k)
        return [RuntimeError("worker state lost") if os.path.basename(s.meta["file"]) in names else p
                for s, p in zip(items, out)]
    shard0 = [p for p in expand_inputs([str(archive)])[:4] if not p.endswith("broken.rbn")]
    names = {os.path.basename(p) for p in shard0}
    assert len(shard0) == 3
    monkeypatch.setattr(zp.Predictor, "prepare_many", broken)
    out2 = tmp_path / "out2"
    res = predict_archive(MODEL, [str(archive)], out2, readers=1, workers=0, **KW)
    err = [json.loads(line) for line in open(out2 / "errors.jsonl")]
    assert res.failed == 4 and sorted(e["cause"] for e in err) == ["file"] + ["zoo"] * 3
    monkeypatch.setattr(zp.Predictor, "prepare_many", real)
    again = predict_archive(MODEL, [str(archive)], out2, readers=1, workers=0, **KW)  # resume: shard 0 is redone
    assert (again.shards_skipped, again.shards_written, again.failed) == (2, 1, 1)
    assert read_table(out2).equals(read_table(local_run[0]))


def test_parquet_carries_units_identifiers_and_provenance(tmp_path):
    """APOGEE Net on the bundled apStar files: K and dex in the Parquet column metadata, the APOGEE
    id per row, the model / card sha256 / zoo version in the file metadata."""
    import glob
    from importlib import resources

    import pyarrow.parquet as pq

    from zoo.export import sha256
    from zoo.predictor import exported_dir
    files = sorted(glob.glob(str(resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee" / "*.fits")))
    res = predict_archive("apogeenet", files, tmp_path / "out", progress=False)
    assert (res.rows, res.failed) == (len(files), 0)
    t = pq.read_table(tmp_path / "out" / "part-000000.parquet")
    unit = {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in t.schema}
    assert (unit["teff"], unit["teff_std"], unit["logg"], unit["feh_std"], unit["ra"]) == ("K", "K", "dex", "dex", "deg")
    meta = {k.decode(): v.decode() for k, v in t.schema.metadata.items() if k.startswith(b"zoo.")}
    assert meta["zoo.model"] == "apogeenet" and meta["zoo.version"] == zoo.__version__
    assert meta["zoo.card_sha256"] == sha256(os.path.join(exported_dir("apogeenet"), "card.json"))
    assert [r["object"] for r in t.to_pylist()] == [os.path.basename(f)[len("apStar-r6-"):-5].split("-", 1)[-1]
                                                     if "-r6-" in f else os.path.basename(f)[len("apStar-dr17-"):-5]
                                                     for f in files]
