"""benchmarks/performance.py --quick produces the docs/performance.md tables (not a timing test)."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_mode_writes_the_tables(tmp_path):
    if not os.path.exists(os.path.join(REPO, "exported", "emission_fc", "card.json")):
        import pytest
        pytest.skip("exported/emission_fc is not there")
    out = tmp_path / "performance.md"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    archive = os.path.exists(os.path.join(REPO, "exported", "racnet_ds2", "card.json"))
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "performance.py"), "--quick",
                           "--models", "emission_fc", "--out", str(out),
                           "--archive-models", *(["racnet_ds2", "--archive-files", "16"] if archive else [])],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert "QUICK smoke-test mode" in text and "matmul roofline" in text
    assert "NOT COMPARABLE" in text and "TF_ENABLE_ONEDNN_OPTS=unset" in text   # a smoke test is never a measurement
    for header in ("Keras predict", "predict_on_batch", "tf.function", "XLA", "SavedModel",
                   "ONNX RT 1 thr", "ONNX RT 2 thr", "MFLOP/spectrum", "of roofline",
                   "prepare [spectra/s]", "end to end [files/s]", "peak memory [MB]"):
        assert header in text, header
    rows = [line for line in text.splitlines() if line.startswith("| emission_fc |")]
    assert len(rows) == 2, rows                     # the network table and the preprocessing table
    assert "failed" not in rows[0]
    header = next(line for line in text.splitlines() if line.startswith("| model | Keras predict"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    cells = dict(zip(columns, (c.strip() for c in rows[0].strip("|").split("|"))))
    for column in ("tf.function", "ONNX RT 1 thr", "zoo ONNX (auto chunk)"):   # TF and ONNX Runtime ran
        assert cells[column] not in ("n/a", ""), (column, cells)
    if archive:                                     # archive mode: each stage beside end to end, 0 / 1 / 2 workers
        for header in ("## Archive mode", "read [files/s]", "contract [spectra/s]", "trust [spectra/s]",
                       "end to end, 0 / 1 / 2 workers [files/s]", "2 / 1 workers", "bound [files/s]"):
            assert header in text, header
        rows = [line for line in text.splitlines() if line.startswith("| racnet_ds2 |")]
        assert [r.split("|")[2].strip() for r in rows] == ["trust full", "trust fast"], rows
        assert "pca_knn_tpl:fast" in rows[1] and "failed" not in text.split("## Archive mode")[1]


def test_onnx_profile_accounts_for_the_kernel_time():
    """benchmarks/onnx_profile.py: op-type shares add up, convolutions get a FLOP rate."""
    import pytest
    if not os.path.exists(os.path.join(REPO, "exported", "emission_cnn", "card.json")):
        pytest.skip("exported/emission_cnn is not there")
    sys.path.insert(0, REPO)
    from benchmarks.onnx_profile import profile
    r = profile("emission_cnn", batch=8, threads=1, runs=2)
    assert r["spectra_per_s"] > 0 and r["kernel_time_s"] > 0
    assert abs(sum(r["by_op"].values()) - r["kernel_time_s"]) < 1e-9
    assert any(op.endswith("Conv") for op in r["by_op"])
    rated = [row for row in r["flop_nodes"] if row[3]]
    assert len(rated) >= 6                 # every Conv and MatMul of the graph found its FLOPs


def test_interleaved_best_reports_a_failing_backend_and_times_the_others():
    sys.path.insert(0, REPO)
    from benchmarks._timing import interleaved_best
    calls = []

    def bad():
        raise RuntimeError("no kernel for this op")
    best, errors = interleaved_best({"a": lambda: calls.append("a"), "b": lambda: calls.append("b"),
                                     "bad": bad}, rounds=3, pause=0.0)
    assert set(best) == {"a", "b"} and errors == {"bad": "RuntimeError: no kernel for this op"}
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]   # warm-up, then rotated rounds


def test_busy_machine_is_refused_and_children_run_at_tensorflow_defaults(tmp_path, monkeypatch):
    """A run that starts above --max-load writes nothing (exit 3); the model processes never inherit the
    training switch TF_ENABLE_ONEDNN_OPTS (the table then measured TensorFlow with its fast kernels off)."""
    out = tmp_path / "performance.md"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "performance.py"), "--max-load", "-1",
                           "--models", "emission_fc", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3 and "refused" in proc.stderr and not out.exists()
    sys.path.insert(0, REPO)
    from benchmarks import performance
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert "TF_ENABLE_ONEDNN_OPTS" not in performance.child_env()
    assert performance.run_environment()["TF_ENABLE_ONEDNN_OPTS"].startswith("unset")


def test_onnx_profile_variants_are_the_same_function():
    """benchmarks/onnx_profile.py's graph variants of StarNet: the blocked one has no 1-D convolution
    left (the export before zoo.onnx_graph.narrow_convs_1d), the 1-D one no 2-D convolution, and all
    three give the exported outputs."""
    import numpy as np
    import onnxruntime as ort
    sys.path.insert(0, REPO)
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    from benchmarks.onnx_profile import _spectra, variants
    x = _spectra("starnet", 3)
    vs = variants("starnet")
    dims = {}
    for k, proto in vs.items():
        inits = {t.name: len(t.dims) for t in proto.graph.initializer}
        dims[k] = sorted(inits[n.input[1]] for n in proto.graph.node if n.op_type == "Conv")
    assert dims == {"exported": [3, 4], "blocked": [4, 4], "all_1d": [3, 3]}
    out = {k: ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"flux": x})[0]
           for k, p in vs.items()}
    for k in ("blocked", "all_1d"):
        np.testing.assert_allclose(out[k], out["exported"], atol=1e-5)
