"""``python -m training.<model> --distributed``: MultiWorkerMirroredStrategy from TF_CONFIG.

The end-to-end test starts two CPU worker processes on localhost (a TF_CONFIG each,
free ports) training ``emission_fc --quick`` together, and a one-worker run of the
same recipe beside them (``--distributed`` without TF_CONFIG); both workers must
exit 0, only the chief may write the run and the export, and the two-worker model
must reach the one-worker model's test accuracy.
"""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from training.common import cluster_spec
from training.skeleton import parser_for

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Test accuracy floor of a --quick emission_fc run (3 epochs on 730 simulated spectra; the
#: one-worker quick run measured 0.90, the two-worker run 0.93, on 73 test spectra).
FLOOR = 0.80
#: Largest allowed |two-worker - one-worker| test accuracy: ~2 binomial standard deviations
#: of the difference of two accuracies near 0.9 on 73 test spectra (sqrt(2 * 0.9 * 0.1 / 73) = 0.05).
TOLERANCE = 0.10
#: Wall-clock limit of the whole run.  Measured: 89 s of CPU time for the three processes
#: together (so roughly a minute of wall time on 2 idle cores), but 8 min of wall time on the
#: 2-core development machine shared with other jobs (load average ~14).
TIMEOUT_S = 900


def test_cluster_spec_from_tf_config():
    assert cluster_spec({}) == {"tf_config": False, "workers": 1, "task_type": "worker", "task_index": 0,
                                "is_chief": True}
    two = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    w0 = cluster_spec({"TF_CONFIG": json.dumps({"cluster": two, "task": {"type": "worker", "index": 0}})})
    w1 = cluster_spec({"TF_CONFIG": json.dumps({"cluster": two, "task": {"type": "worker", "index": 1}})})
    assert (w0["is_chief"], w1["is_chief"], w0["workers"], w1["task_index"]) == (True, False, 2, 1)
    with_chief = {"chief": ["h:1"], "worker": ["h:2", "h:3"]}
    c = cluster_spec({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "chief", "index": 0}})})
    w = cluster_spec({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}})})
    assert c["is_chief"] and not w["is_chief"] and c["workers"] == 3
    with pytest.raises(SystemExit, match="evaluator"):
        cluster_spec({"TF_CONFIG": json.dumps({"cluster": two, "task": {"type": "evaluator", "index": 0}})})


def test_every_training_cli_has_the_flag():
    from zoo.families.bestars.recipes import FC_RECIPE
    p = parser_for(FC_RECIPE)
    assert p.parse_args(["--distributed"]).distributed and not p.parse_args([]).distributed
    assert "MultiWorkerMirroredStrategy" in p.format_help()


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(args, log, tf_config=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    fh = open(log, "w")
    return subprocess.Popen([sys.executable, "-m", "training.emission_fc", *args], cwd=REPO, env=env,
                            stdout=fh, stderr=subprocess.STDOUT), fh


def test_two_workers_train_like_one(tmp_path):
    # the same recipe everywhere; the time cap is raised so that no worker stops on the clock
    # alone (the workers of one cluster must stop at the same epoch)
    recipe = ["--quick", "--max-minutes", "30"]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs, logs = [], []
    for i in range(2):
        out = tmp_path / f"worker{i}"
        logs.append(tmp_path / f"worker{i}.log")
        procs.append(_start([*recipe, "--distributed", "--out", str(out), "--export-dir", str(out / "exported")],
                            logs[-1], {"cluster": cluster, "task": {"type": "worker", "index": i}}))
    logs.append(tmp_path / "single.log")
    procs.append(_start([*recipe, "--distributed", "--no-export", "--out", str(tmp_path / "single")], logs[-1]))
    t0 = time.time()
    try:
        for p, fh in procs:
            p.wait(timeout=max(1, TIMEOUT_S - (time.time() - t0)))
            fh.close()
    finally:
        for p, fh in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            fh.close()
    text = [log.read_text() for log in logs]
    for (p, _), t in zip(procs, text):
        assert p.returncode == 0, t[-3000:]
    assert "(chief)" in text[0] and "worker 1 (not the chief)" in text[1] and "without TF_CONFIG" in text[2]

    # only the chief wrote the run and the export; worker 1's temporary directory is gone
    chief = tmp_path / "worker0_quick"
    assert (chief / "metrics.json").exists() and (chief / "report.md").exists()
    assert (tmp_path / "worker0" / "exported" / "card.json").exists()
    assert (tmp_path / "worker0" / "exported" / "model.onnx").exists()
    assert not (tmp_path / "worker1_quick").exists() and not (tmp_path / "worker1").exists()
    card = json.loads((tmp_path / "worker0" / "exported" / "card.json").read_text())
    dist = card["metrics"]["training_run"]["distributed"]
    assert dist["workers"] == 2 and dist["replicas"] == 2 and dist["is_chief"]
    assert "--distributed" in card["metrics"]["training_run"]["command"]

    two = json.loads((chief / "metrics.json").read_text())
    one = json.loads((tmp_path / "single_quick" / "metrics.json").read_text())
    assert one["training_run"]["distributed"]["workers"] == 1
    assert len(two["history"]["loss"]) == len(one["history"]["loss"]) == 3   # same recipe, all epochs
    a2, a1 = two["metrics"]["test"]["accuracy"], one["metrics"]["test"]["accuracy"]
    assert a2 >= FLOOR and a1 >= FLOOR, (a2, a1)
    assert abs(a2 - a1) <= TOLERANCE, (a2, a1)
    # the exported ONNX model scores what the trained Keras model scored
    assert two["metrics"]["exported_onnx_test_accuracy"] == pytest.approx(a2, abs=1 / 73 + 1e-9)
