"""Where ONNX Runtime spends its time in an exported model: per op type and per node.

    python -m benchmarks.onnx_profile NAME [--batch 512] [--threads 2] [--runs 3] [--top 12] [--onnx FILE]
    python -m benchmarks.onnx_profile --record [--models apogeenet starnet racnet_ds1]   # docs/results/onnx_profile.json

``--onnx`` profiles another file with NAME's test spectra (an older export, for instance:
``git show REV:exported/NAME/model.onnx > old.onnx``).

Runs ``exported/NAME/model.onnx`` with ONNX Runtime's profiler (``--runs`` calls of one batch of
the stored real test spectra, tiled, after a warm-up), then prints the share of the kernel time
per op type (after ONNX Runtime's own fusions: ``FusedConv``/``Conv`` in its blocked layout,
``ReorderInput``/``ReorderOutput`` = conversions to and from it), the slowest nodes, and for the
convolutions and matrix products their GFLOP/s (FLOPs from the graph's shapes:
``benchmarks/performance.py``'s ``node_flops``).

``--record`` writes docs/results/onnx_profile.json, which docs/deploy.md ("Where the time goes")
is rendered from: for each model the profile of its exported file (batch ``--batch``, default 128
there, a size the zoo's tuned plans use) and the speed of graph variants of the same weights, timed
in interleaved rounds in one process (:func:`variants`): the file as exported, its convolutions all in
ONNX Runtime's blocked layout (:func:`blocked`: the export before
:func:`zoo.onnx_graph.narrow_convs_1d`), and every convolution 1-D.
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


def _spectra(name: str, batch: int):
    from zoo.export import read_test_data
    from zoo.predictor import exported_dir
    flux, _ = read_test_data(exported_dir(name))
    return np.ascontiguousarray(np.resize(flux, (batch, flux.shape[1])), np.float32)


def profile(name: str, batch: int = 512, threads: int = 2, runs: int = 3, onnx_path=None) -> dict:
    """ONNX Runtime's profile of ``exported/NAME/model.onnx`` (or ``onnx_path``) on ``batch`` of the
    model's stored test spectra: kernel time per op type and per node, FLOP rates of the convolutions
    and matrix products."""
    import onnxruntime as ort

    from zoo.predictor import exported_dir
    d = exported_dir(name)
    path = onnx_path or os.path.join(d, "model.onnx")
    x = _spectra(name, batch)
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


def blocked(proto):
    """The graph with every 1-D convolution back in 2-D form (``(N, C, 1, L)``, ONNX Runtime's blocked
    layout): the inverse of :func:`zoo.onnx_graph.narrow_convs_1d`, same weights, same function."""
    import onnx
    from onnx import helper, numpy_helper
    proto = onnx.load_from_string(proto.SerializeToString())
    g = proto.graph
    inits = {t.name: t for t in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    one_d = set()
    for n in g.node:
        if n.op_type == "Conv" and n.input[1] in inits and len(inits[n.input[1]].dims) == 3:
            w = numpy_helper.to_array(inits[n.input[1]])
            inits[n.input[1]].CopyFrom(numpy_helper.from_array(w[:, :, None, :], n.input[1]))
            a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
            del n.attribute[:]
            p = list(a.get("pads", [0, 0]))
            n.attribute.extend([helper.make_attribute("kernel_shape", [1, int(w.shape[2])]),
                                helper.make_attribute("pads", [0, p[0], 0, p[1]]),
                                helper.make_attribute("strides", [1, list(a.get("strides", [1]))[0]]),
                                helper.make_attribute("dilations", [1, list(a.get("dilations", [1]))[0]])])
            one_d.add(n.output[0])
    # the Squeeze before such a chain and the Unsqueeze after it go (their consumers read through)
    bypass = {}
    for n in g.node:
        if n.op_type == "Squeeze" and any(c.op_type == "Conv" and c.output[0] in one_d and c.input[0] == n.output[0]
                                          for c in g.node):
            bypass[n.output[0]] = n.input[0]
        if n.op_type == "Unsqueeze":
            src, seen = n.input[0], 0
            while src in prod and prod[src].op_type != "Conv" and len(prod[src].input) >= 1 and seen < 4:
                src, seen = prod[src].input[0], seen + 1
            if src in one_d:
                bypass[n.output[0]] = n.input[0]
    for n in g.node:
        n.input[:] = [bypass.get(i, i) for i in n.input]
    keep = [n for n in g.node if not (n.output[0] in bypass)]
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
    del g.value_info[:]
    onnx.checker.check_model(proto)
    return proto


def variants(name: str) -> dict:
    """Graph variants of one export, same weights: ``exported``; ``blocked`` (every convolution in the
    blocked layout, :func:`blocked`); ``all_1d`` (every convolution 1-D, plain layout)."""
    import onnx

    from zoo.onnx_graph import narrow_convs_1d
    from zoo.predictor import exported_dir
    exported = onnx.load(os.path.join(exported_dir(name), "model.onnx"))
    b = blocked(exported)
    return {"exported": exported, "blocked": b, "all_1d": narrow_convs_1d(b, block=1 << 30)[0]}


def record(models, batch: int = 128, threads: int = 2, runs: int = 5, rounds: int = 7) -> dict:
    """The results of ``--record`` (see the module docstring)."""
    import onnxruntime as ort

    from _timing import interleaved_best
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)
    out = {"experiment": "onnx_profile", "onnxruntime": ort.__version__, "batch": batch, "threads": threads,
           "rounds": rounds, "models": {}}
    for name in models:
        r = profile(name, batch, threads, runs)
        total = r["kernel_time_s"]
        rated = [{"node": node, "op": op, "share": s / total, "gflops": f * batch / s / 1e9}
                 for node, op, s, f in r["flop_nodes"] if f]
        x = _spectra(name, batch)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sessions, outs = {}, {}
        vs = variants(name)
        inits = {t.name: len(t.dims) for t in vs["exported"].graph.initializer}
        if not any(n.op_type == "Conv" and inits.get(n.input[1]) == 3 for n in vs["exported"].graph.node):
            vs = {"exported": vs["exported"]}       # no 1-D convolution: no variant to compare
        for k, proto in vs.items():
            sessions[k] = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
            outs[k] = sessions[k].run(None, {"flux": x})
        diff = {k: max(float(np.max(np.abs(a - b))) for a, b in zip(o, outs["exported"])) for k, o in outs.items()}
        best, errors = interleaved_best({k: (lambda s=s: s.run(None, {"flux": x})) for k, s in sessions.items()},
                                        rounds=rounds)
        out["models"][name] = {
            "profiled_spectra_per_s": r["spectra_per_s"], "kernel_ms_per_batch": total * 1e3,
            "by_op": {op: v / total for op, v in sorted(r["by_op"].items(), key=lambda kv: -kv[1])},
            "nodes": [{"node": node, "op": op, "share": v / total}
                      for (node, op), v in sorted(r["nodes"].items(), key=lambda kv: -kv[1])[:8]],
            "flop_nodes": sorted(rated, key=lambda row: -row["share"]),
            "variants_spectra_per_s": {k: batch / v for k, v in best.items()},
            "variants_max_abs_diff": diff, "variant_errors": errors}
    from training.common import recorded_result
    return recorded_result(f"python -m benchmarks.onnx_profile --record --models {' '.join(models)}", t0, load0, out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", nargs="?")
    ap.add_argument("--record", action="store_true", help="write docs/results/onnx_profile.json")
    ap.add_argument("--models", nargs="+", default=["apogeenet", "starnet", "racnet_ds1"])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--onnx", default=None, help="profile this file instead of exported/NAME/model.onnx")
    args = ap.parse_args(argv)
    if args.record:
        sys.path.insert(0, os.path.dirname(HERE))
        res = record(args.models, batch=128 if args.batch == 512 else args.batch, threads=args.threads)
        path = os.path.join(os.path.dirname(HERE), "docs", "results", "onnx_profile.json")
        with open(path, "w") as fh:
            json.dump(res, fh, indent=1)
            fh.write("\n")
        print(f"wrote {path} ({res['duration_s']:.0f} s)")
        return 0
    if not args.name:
        ap.error("NAME or --record")
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
