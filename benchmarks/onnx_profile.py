"""Where ONNX Runtime spends its time in an exported model: per op type and per node.

    python -m benchmarks.onnx_profile NAME [--batch 512] [--threads 2] [--runs 3] [--top 12] [--onnx FILE]

``--onnx`` profiles another file with NAME's test spectra (an older export, for instance:
``git show REV:exported/NAME/model.onnx > old.onnx``).

Runs ``exported/NAME/model.onnx`` with ONNX Runtime's profiler (``--runs`` calls of one batch of
the stored real test spectra, tiled, after a warm-up), then prints the share of the kernel time
per op type (after ONNX Runtime's own fusions: ``FusedConv``/``Conv`` in its blocked layout,
``ReorderInput``/``ReorderOutput`` = conversions to and from it), the slowest nodes, and for the
convolutions and matrix products their GFLOP/s (FLOPs from the graph's shapes:
``benchmarks/performance.py``'s ``node_flops``).  The numbers quoted in docs/deploy.md ("Speed") come from here.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from performance import node_flops  # noqa: E402  (benchmarks/performance.py: the same FLOP count)


def profile(name: str, batch: int = 512, threads: int = 2, runs: int = 3, onnx_path=None) -> dict:
    import onnxruntime as ort

    from zoo.export import read_test_data
    from zoo.predictor import exported_dir
    d = exported_dir(name)
    path = onnx_path or os.path.join(d, "model.onnx")
    flux, _ = read_test_data(d)
    x = np.ascontiguousarray(np.resize(flux, (batch, flux.shape[1])), np.float32)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ort_profile_{name}")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    sess.run(None, feed)
    t = time.perf_counter()
    for _ in range(runs):
        sess.run(None, feed)
    wall = (time.perf_counter() - t) / runs
    trace = sess.end_profiling()
    with open(trace) as fh:
        events = json.load(fh)
    os.remove(trace)
    # skip the warm-up call: keep the last ``runs`` occurrences of each node
    per_node: dict[tuple, list] = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[(e["name"][:-len("_kernel_time")], e["args"]["op_name"])].append(e["dur"] * 1e-6)
    node_time = {k: sum(v[-runs:]) / runs for k, v in per_node.items()}
    total = sum(node_time.values())
    by_op = collections.Counter()
    for (_, op), s in node_time.items():
        by_op[op] += s
    # ONNX Runtime renames fused / blocked-layout nodes: match them to graph nodes by their Keras
    # layer (the first two segments of tf2onnx's node names, "<model>_1/<layer>_1/...")
    def layer(node):
        return "/".join(node.removeprefix("fused ").split("/")[:2])
    flops: dict[str, float] = collections.Counter()
    for k, v in node_flops(path).items():
        flops[layer(k)] += v
    conv_rows = [(node, op, s, flops.get(layer(node))) for (node, op), s in node_time.items()
                 if op in ("Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul")]
    return {"model": name, "batch": batch, "threads": threads, "spectra_per_s": batch / wall,
            "kernel_time_s": total, "by_op": dict(by_op), "nodes": node_time, "flop_nodes": conv_rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--onnx", default=None, help="profile this file instead of exported/NAME/model.onnx")
    args = ap.parse_args(argv)
    r = profile(args.name, args.batch, args.threads, args.runs, args.onnx)
    total = r["kernel_time_s"]
    import onnxruntime as ort
    print(f"# python -m benchmarks.onnx_profile {' '.join(argv or sys.argv[1:])}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, ONNX Runtime {ort.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{args.onnx or args.name}: batch {args.batch}, {args.threads} threads, {r['spectra_per_s']:,.0f} spectra/s "
          f"(profiled; kernel time {total * 1e3:.0f} ms per batch)")
    print("\nshare of kernel time by op type:")
    for op, s in sorted(r["by_op"].items(), key=lambda kv: -kv[1]):
        print(f"  {op:18s} {s / total:6.1%}")
    print(f"\nslowest {args.top} nodes:")
    for (node, op), s in sorted(r["nodes"].items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {s / total:6.1%}  {op:14s} {node[-70:]}")
    rows = [row for row in r["flop_nodes"] if row[3]]
    if rows:
        f_all = sum(f for *_, f in rows) * args.batch
        t_all = sum(s for _, _, s, _ in rows)
        print(f"\nconvolutions and matrix products: {t_all / total:.1%} of the kernel time, "
              f"{f_all / t_all / 1e9:.1f} GFLOP/s together")
        for node, op, s, f in sorted(rows, key=lambda row: -row[2])[:args.top]:
            print(f"  {f * args.batch / s / 1e9:7.1f} GFLOP/s  {s / total:6.1%}  {op:10s} {node[-60:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
