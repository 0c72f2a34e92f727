"""The batch engine's worker processes (zoo.batch: --workers, chunks prepared together, the trust score in
the workers) on the bundled real LAMOST files (three wavelength grids): the same table as one process, a
corrupt file and a refused one reported while the rest is written, resume, a dead worker, --trust fast."""
import json
import os
from importlib import resources

import numpy as np
import pytest

import zoo
from zoo.batch import BatchStateError, expand_inputs, predict_archive, read_table

pytest.importorskip("pyarrow")
MODEL = "racnet_ds2"
DEV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "lamost_dev")
# 3 shards, chunks of 3 files (across shard boundaries), batches of 2 good files
KW = dict(shard_size=5, batch_size=2, chunk_size=3, progress=False)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from zoo.predictor import exported_dir
    if not os.path.exists(os.path.join(exported_dir(MODEL), "card.json")):
        pytest.skip(f"exported/{MODEL} is not there")
    d = tmp_path_factory.mktemp("lamost")
    src = sorted(os.path.join(DEV, f) for f in os.listdir(DEV) if f.endswith(".fits"))
    src += sorted(str(p) for p in (resources.files("zoo") / "data" / "lamost").iterdir() if p.name.endswith(".fits"))
    for f in src:
        os.symlink(f, d / os.path.basename(f))
    (d / "spec-00000-corrupt_sp01-001.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50 + b"\0" * 100)
    apogee = sorted(p for p in (resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee").iterdir() if p.name.endswith(".fits"))[0]
    os.symlink(str(apogee), d / "apStar-wrong-range.fits")     # read, then refused by the contract
    return d


@pytest.fixture(scope="module")
def runs(archive, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    two = predict_archive(MODEL, [str(archive)], root / "two", workers=2, **KW)
    zero = predict_archive(MODEL, [str(archive)], root / "zero", workers=0, readers=2, **KW)
    return root, two, zero


def _good(archive):
    return [p for p in expand_inputs([str(archive)]) if "corrupt" not in p and "apStar" not in p]


def test_workers_write_every_good_file_and_report_the_bad_ones(archive, runs):
    root, two, zero = runs
    good = _good(archive)
    assert (two.n_files, two.n_shards, two.rows, two.failed) == (13, 3, 11, 2)
    err = {os.path.basename(e["path"]): e for e in map(json.loads, open(root / "two" / "errors.jsonl"))}
    assert err["spec-00000-corrupt_sp01-001.fits"]["cause"] == "file"
    assert err["apStar-wrong-range.fits"]["error"] == "WavelengthCoverageError"
    assert open(root / "two" / "errors.jsonl").read() == open(root / "zero" / "errors.jsonl").read()
    a, b = read_table(root / "two"), read_table(root / "zero")
    assert a.column("path").to_pylist() == good
    # the same table as one process: everything to the bit but the trust score, whose BLAS runs one thread in
    # the workers and the library's default here (equal to 1e-9)
    for k in a.column_names:
        if k == "domain_score":
            np.testing.assert_allclose(a.column(k).to_numpy(), b.column(k).to_numpy(), rtol=1e-9)
        else:
            assert a.column(k).equals(b.column(k)), k
    model = zoo.load_model(MODEL, backend="onnx")
    want = model.predict(good)
    assert list(a.column("class").to_pylist()) == list(want["class"])
    assert a.column("out_of_domain").to_pylist() == list(want["out_of_domain"])
    np.testing.assert_allclose(a.column("domain_score").to_numpy(), want["domain_score"], rtol=1e-6)
    meta = {k.decode(): v.decode() for k, v in
            __import__("pyarrow.parquet").parquet.read_schema(root / "two" / "part-000000.parquet").metadata.items()}
    assert meta["zoo.trust_method"] == "pca_knn_tpl" and "zoo.trust_description" not in meta


def test_workers_resume_without_redoing_or_losing(archive, runs, tmp_path):
    root = runs[0]
    out = tmp_path / "out"
    first = predict_archive(MODEL, [str(archive)], out, workers=2, max_shards=1, **KW)
    assert (first.shards_written, first.complete) == (1, False)
    done = os.stat(out / "part-000000.parquet").st_mtime_ns
    second = predict_archive(MODEL, [str(archive)], out, workers=1, **KW)     # any number of workers
    assert (second.shards_skipped, second.shards_written, second.failed) == (1, 2, 2) and second.complete
    assert os.stat(out / "part-000000.parquet").st_mtime_ns == done
    assert read_table(out).equals(read_table(root / "two"))


def test_a_dead_worker_costs_its_chunk_once_then_the_shard_is_redone(archive, runs, tmp_path, monkeypatch):
    """A chunk whose worker died (BrokenProcessPool) is tried once more in a new pool; when no new pool is
    left its files are logged with cause "zoo" and the next run redoes their shard."""
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool

    import zoo.batch as zb
    real = zb._Stages.prepare
    state = {"calls": 0}

    def dying(self, paths):
        state["calls"] += 1
        if state["calls"] == 2:
            fut = concurrent.futures.Future()
            fut.set_exception(BrokenProcessPool("a worker died"))
            return fut
        return real(self, paths)
    monkeypatch.setattr(zb._Stages, "prepare", dying)
    monkeypatch.setattr(zb._Stages, "restart", lambda self: True)           # threads here: nothing to restart
    out = tmp_path / "retried"
    res = predict_archive(MODEL, [str(archive)], out, workers=0, readers=2, **KW)
    assert (res.rows, res.failed) == (11, 2) and state["calls"] == 6        # 5 chunks, one again
    assert read_table(out).equals(read_table(runs[0] / "zero"))

    state["calls"] = 0
    monkeypatch.setattr(zb._Stages, "restart", lambda self: False)
    out = tmp_path / "lost"
    res = predict_archive(MODEL, [str(archive)], out, workers=0, readers=2, **KW)
    err = [json.loads(line) for line in open(out / "errors.jsonl")]
    assert [e["cause"] for e in err].count("zoo") == 2 and res.failed == 4     # chunk 2: files 4 and 5
    monkeypatch.setattr(zb._Stages, "prepare", real)
    again = predict_archive(MODEL, [str(archive)], out, workers=0, readers=2, **KW)
    assert (again.shards_skipped, again.shards_written, again.failed) == (2, 1, 2)  # shard 0 redone
    assert read_table(out).equals(read_table(runs[0] / "zero"))


def test_trust_fast_is_recorded_and_flags_a_subset(archive, runs, tmp_path):
    import pyarrow.parquet as pq
    out = tmp_path / "fast"
    res = predict_archive(MODEL, [str(archive)], out, workers=2, trust="fast", **KW)
    assert res.rows == 11
    assert json.load(open(out / "manifest.json"))["trust"] == "fast"
    meta = {k.decode(): v.decode() for k, v in pq.read_schema(out / "part-000000.parquet").metadata.items()}
    assert meta["zoo.trust_method"] == "pca_knn_tpl:fast" and "knn part alone" in meta["zoo.trust_description"]
    fast, full = read_table(out), read_table(runs[0] / "two")
    assert fast.drop(["domain_score", "out_of_domain"]).equals(full.drop(["domain_score", "out_of_domain"]))
    f, g = np.array(fast.column("out_of_domain").to_pylist()), np.array(full.column("out_of_domain").to_pylist())
    assert not (f & ~g).any() and (g & ~f).any()         # a subset of the full method's flags, not all of them
    assert np.all(fast.column("domain_score").to_numpy() <= full.column("domain_score").to_numpy() + 1e-12)
    with pytest.raises(BatchStateError, match="trust"):     # resuming with the other method is refused
        predict_archive(MODEL, [str(archive)], out, workers=0, **KW)


def test_an_unguarded_script_is_not_run_again_in_the_workers(archive, tmp_path):
    """spawn re-imports the main module in each worker; the engine starts its workers without it, so that a
    script without ``if __name__ == "__main__"`` runs once (not once more per worker, nor fails to start them)."""
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = tmp_path / "run.py"
    script.write_text(f"import sys\nsys.path.insert(0, {repo!r})\nprint('TOP LEVEL', flush=True)\n"
                      "from zoo.batch import predict_archive\n"
                      f"r = predict_archive({MODEL!r}, [{str(archive)!r}], {str(tmp_path / 'out')!r}, workers=2, "
                      "trust='fast', progress=False)\nprint('ROWS', r.rows, r.failed)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("TOP LEVEL") == 1 and "ROWS 11 2" in r.stdout, (r.stdout, r.stderr[-2000:])
    assert "could not start" not in r.stderr
