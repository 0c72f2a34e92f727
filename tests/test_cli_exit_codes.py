"""Exit codes of `python -m zoo`, one table: 0 only when everything asked for was done.

| situation                                    | exit |
|----------------------------------------------|------|
| predict, every file predicted (table/archive)|  0   |
| predict, some file failed (table/archive)    |  1   |
| predict, every file failed (table)           |  1   |
| predict --out, a Dask shard crashed          |  1   |
| predict --out, interrupted (Ctrl-C)          | 130  |
| verify, outputs differ from the test data    |  1   |
| verify, a checksum does not match            |  2   |
| publish, one model of several fails          |  1   |
| unknown model, bad flag value                |  2   |
| stdout closed early (`... | head`)           | 141  |
"""
import os
import shutil
import subprocess
import sys

import pytest

import zoo
from zoo.__main__ import main
from zoo.predictor import exported_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "autoclassmk"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    good = zoo.example_files("mk_atlas/libr18_27/t*l50p00.rbn")[:2]
    bad = d / "broken.rbn"
    bad.write_text("3800.0 1.0\nnot numbers\n")
    return good, str(bad)


@pytest.mark.parametrize("mode", ["table", "archive"])
def test_success_and_partial_failure(files, tmp_path, mode, capsys):
    good, bad = files
    extra = ["--out", str(tmp_path / "ok"), "--format", "csv"] if mode == "archive" else []
    assert main(["predict", MODEL, *good, "--no-progress", *extra]) == 0
    extra = ["--out", str(tmp_path / "partial"), "--format", "csv"] if mode == "archive" else []
    assert main(["predict", MODEL, good[0], bad, "--no-progress", *extra]) == 1
    assert "broken.rbn" in capsys.readouterr().err or mode == "archive"


def test_every_file_failed_table(files):
    assert main(["predict", MODEL, files[1], "--no-progress"]) == 1


def test_crashed_dask_shard(files, tmp_path, monkeypatch):
    """A shard task that crashes (a lost worker, a bug) makes the run incomplete: exit 1, and the
    next run redoes that shard."""
    distributed = pytest.importorskip("distributed")
    import zoo.batch as zb
    orig = distributed.LocalCluster                                    # in-process workers see the patch
    monkeypatch.setattr(distributed, "LocalCluster", lambda **kw: orig(**{**kw, "processes": False}))
    real = zb._process_shard

    def crash(predictor, out, index, *a, **k):
        if index == 1:
            raise RuntimeError("worker lost")
        return real(predictor, out, index, *a, **k)
    monkeypatch.setattr(zb, "_process_shard", crash)
    good, _ = files
    out = tmp_path / "dask"
    args = ["predict", MODEL, *good, "--out", str(out), "--format", "csv", "--engine", "dask", "--shard-size", "1",
            "--no-progress"]
    assert main(args) == 1
    assert sorted(f for f in os.listdir(out) if f.startswith("part-")) == ["part-000000.csv"]
    monkeypatch.setattr(zb, "_process_shard", real)
    assert main(args) == 0 and os.path.exists(out / "part-000001.csv")


def test_interrupt(files, tmp_path, monkeypatch, capsys):
    import zoo.batch as zb

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(zb, "_run_local", interrupted)
    assert main(["predict", MODEL, files[0][0], "--out", str(tmp_path / "o"), "--format", "csv",
                 "--no-progress"]) == 130
    assert "run the same command again" in capsys.readouterr().err


def _copy(tmp_path, name=MODEL):
    d = tmp_path / "exported" / name
    shutil.copytree(exported_dir(name), d, ignore=shutil.ignore_patterns("saved_model", "model.keras"))
    return d


def test_verify_mismatch_and_checksum(tmp_path, monkeypatch):
    from zoo.export import read_test_data
    d = _copy(tmp_path)
    monkeypatch.setenv("ZOO_EXPORTED", str(tmp_path / "exported"))
    assert main(["verify", MODEL]) == 0
    out_dir = d / "test_data_set_0"
    flux, expected = read_test_data(str(d))
    import onnx
    from onnx import numpy_helper
    for f in sorted(os.listdir(out_dir)):
        if f.startswith("output_"):
            t = onnx.load_tensor(str(out_dir / f))
            arr = numpy_helper.to_array(t).copy()
            arr[0, 0] += 0.5
            new = numpy_helper.from_array(arr, t.name)
            (out_dir / f).write_bytes(new.SerializeToString())
            break
    assert main(["verify", MODEL]) == 1                     # outputs no longer match the test data
    with open(d / "model.onnx", "r+b") as fh:                # a damaged model file
        fh.seek(-8, 2)
        fh.write(b"\x00" * 8)
    assert main(["verify", MODEL]) == 2


def test_unknown_model_and_bad_flag(files, capsys):
    assert main(["predict", "no_such_model", files[0][0]]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["predict", MODEL, files[0][0], "--instrument", "hubble"]) == 2
    with pytest.raises(SystemExit) as e:
        main(["predict", MODEL, files[0][0], "--backend", "tpu"])
    assert e.value.code == 2


def test_closed_pipe_is_quiet():
    """The reader of stdout goes away before the output is written (`python -m zoo cache | head`)."""
    p = subprocess.Popen([sys.executable, "-m", "zoo", "cache"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=REPO)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_publish_failing_midway(tmp_path, monkeypatch, capsys):
    """Two models published, the second damaged: the first is written, the second named, exit 1;
    --all writes no index when one fails."""
    a = _copy(tmp_path, "autoclassmk")
    b = _copy(tmp_path, "emission_fc")
    monkeypatch.setenv("ZOO_EXPORTED", str(tmp_path / "exported"))
    with open(b / "model.onnx", "r+b") as fh:
        fh.seek(-8, 2)
        fh.write(b"\x00" * 8)
    import zoo.hub as hub
    index = tmp_path / "index"
    index.mkdir()
    monkeypatch.setattr(hub, "RELEASES_DIR", str(index))
    out = tmp_path / "dist"
    assert main(["publish", "autoclassmk", "emission_fc", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "emission_fc: not published" in err and any(f.startswith("autoclassmk-") for f in os.listdir(out))
    before = sorted(os.listdir(index))
    assert main(["publish", "--all", "--out", str(out)]) == 1
    assert sorted(os.listdir(index)) == before and "left as it was" in capsys.readouterr().err
    assert a.exists()
