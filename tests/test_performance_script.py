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
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "performance.py"), "--quick",
                           "--models", "emission_fc", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert "QUICK smoke-test mode" in text and "matmul roofline" in text
    for header in ("Keras predict", "predict_on_batch", "tf.function", "XLA", "SavedModel",
                   "ONNX RT 1 thr", "ONNX RT 2 thr", "MFLOP/spectrum", "of roofline",
                   "prepare [spectra/s]", "end to end [files/s]", "peak memory [MB]"):
        assert header in text, header
    rows = [line for line in text.splitlines() if line.startswith("| emission_fc |")]
    assert len(rows) == 2, rows                     # the network table and the preprocessing table
    assert "failed" not in rows[0]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[3] != "n/a" and cells[6] != "n/a"  # tf.function and ONNX Runtime ran
