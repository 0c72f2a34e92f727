"""Exact rewrites of tf2onnx graphs for ONNX Runtime's CPU kernels (used by :mod:`zoo.export`).

Keras lays a 1-D convolutional network out channels-last, ``(N, L, C)``; ONNX Runtime
convolves channels-first, ``(N, C, 1, L)`` (and, inside, in its blocked ``NCHWc`` layout).
tf2onnx therefore brackets every convolution with transposes, and everything between two
convolutions -- residual additions, attention weights, pooling over the length -- runs on
transposed copies.  :func:`zoo.export.fuse_conv1d` removes the brackets between directly
chained convolutions; the passes here remove the rest:

* :func:`channels_first` -- layout propagation.  Every ``(N, L, C)`` tensor that is a
  transpose of a ``(N, C, 1, L)`` convolution output is replaced, in each consumer that has a
  channels-first equivalent, by the 4-D tensor itself: element-wise ops run on it, reductions
  over the length become reductions over the last two axes, a Keras ``RepeatVector`` of
  per-channel weights (tf2onnx: ``Reshape -> Unsqueeze -> Tile -> Reshape``) becomes a
  broadcast ``(N, C, 1, 1)`` operand, and the transpose back before the next convolution or
  pooling disappears.  (RAC-Net's attention blocks and residual additions: 25 transposes and
  8 tiles.)
* :func:`fold_flatten_transpose` -- ``Flatten`` of a channels-last feature map before a
  ``Dense`` layer: the transpose is folded into a row permutation of the dense weights.
* :func:`narrow_convs_1d` -- the first convolutions of a network, while they have fewer output
  channels than ONNX Runtime's blocked layout holds in one block (16 floats on AVX-512 CPUs),
  run as 1-D convolutions in plain ``(N, C, L)`` layout.  In the blocked layout such a
  convolution computes and stores 16 channels for its 4 or 8, and the next one reads them back
  through a layout conversion (StarNet's first convolution: 4 channels; APOGEE Net's first two:
  8).  Run 1-D (im2col and one matrix product) they cost much less; docs/deploy.md ("Where the
  time goes", ``python -m benchmarks.onnx_profile --record``) times the graph with and without it.
* :func:`rank_scalar_constants` -- element-wise ops with a 0-d constant on a tensor whose last
  axis has length 1 (Keras ``Rescaling`` after ``Reshape((n, 1))``) take a slow broadcast path in
  ONNX Runtime 1.31 (11 % of APOGEE Net's time: docs/profiles/apogeenet_before.txt); the constant
  is given the tensor's rank.

Each pass only adds equivalent nodes and redirects consumers; the original nodes that lose all
consumers are then removed.  The function computed is unchanged (same float32 operations,
except that the dense weights are permuted).  :func:`optimize` runs all of them and reports
what it did.
"""
from __future__ import annotations

from collections import Counter

from .errors import ArtifactError

#: element-wise single-input ops that commute with any layout change
UNARY = ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Softplus", "HardSigmoid",
         "Clip", "Identity", "Neg", "Abs", "Exp", "Log", "Sqrt")
#: element-wise two-input ops
BINARY = ("Add", "Sub", "Mul", "Div", "Max", "Min")
#: a dense kernel whose rows :func:`fold_flatten_transpose` permuted is named
#: ``<name><PERMUTED_SUFFIX><C>x<L>`` (rows in channels-first order instead of Keras' (L, C))
PERMUTED_SUFFIX = "__channels_first_"


class _Graph:
    """Indexes of one ONNX graph, rebuilt after every batch of edits."""

    def __init__(self, proto):
        import onnx
        self.proto = onnx.shape_inference.infer_shapes(proto)
        self.g = self.proto.graph
        self.counter = 0
        self.refresh()

    def refresh(self):
        from onnx import numpy_helper
        g = self.g
        self.inits = {t.name: t for t in g.initializer}
        self.const = lambda name: numpy_helper.to_array(self.inits[name]) if name in self.inits else None
        self.outs = {o.name for o in g.output}
        self.prod = {o: n for n in g.node for o in n.output}
        self.taken = set(self.inits) | set(self.prod) | {i.name for i in g.input}   # names in use
        self.cons: dict[str, list] = {}
        for n in g.node:
            for i in n.input:
                self.cons.setdefault(i, []).append(n)
        self.shape = {}
        for v in list(g.value_info) + list(g.input) + list(g.output):
            dims = v.type.tensor_type.shape.dim
            self.shape[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims] \
                if v.type.tensor_type.HasField("shape") else None
        for t in g.initializer:
            self.shape[t.name] = list(t.dims)

    def rank(self, name):
        s = self.shape.get(name)
        return None if s is None else len(s)

    def fresh(self, base):
        """A tensor name not yet in the graph (an earlier pass may have used ``<base>__cf<n>``)."""
        while True:
            self.counter += 1
            name = f"{base.rsplit(':', 1)[0]}__cf{self.counter}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def add_const(self, array, base):
        from onnx import numpy_helper
        name = self.fresh(base)
        self.g.initializer.append(numpy_helper.from_array(array, name))
        self.inits[name] = self.g.initializer[-1]
        return name

    def node(self, op, inputs, base, **attrs):
        from onnx import helper
        out = self.fresh(base)
        self.g.node.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def redirect(self, old, new):
        """Every consumer of tensor ``old`` reads ``new`` instead (graph outputs excepted)."""
        for n in self.cons.get(old, []):
            for k, i in enumerate(n.input):
                if i == old:
                    n.input[k] = new

    def attr(self, node, name, default=None):
        from onnx import helper
        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def axes(self, node):
        if len(node.input) > 1 and node.input[1]:
            c = self.const(node.input[1])
            return None if c is None else [int(a) for a in c.reshape(-1)]
        a = self.attr(node, "axes")
        return None if a is None else list(a)

    def finish(self):
        """Drop nodes and initializers nothing reads any more, sort, infer shapes again."""
        import onnx

        g = self.g
        while True:
            used = {i for n in g.node for i in n.input} | self.outs
            dead = [n for n in g.node if not any(o in used for o in n.output)]
            if not dead:
                break
            for n in dead:
                g.node.remove(n)
        used = {i for n in g.node for i in n.input}
        for t in list(g.initializer):
            if t.name not in used:
                g.initializer.remove(t)
        _toposort(g)
        del g.value_info[:]
        return onnx.shape_inference.infer_shapes(self.proto)


def _repeat_source(G: _Graph, name):
    """If tensor ``name`` is tf2onnx's ``RepeatVector`` of a 2-D tensor ``w`` (N, C) -- an
    (N, L, C) tensor with ``[n, l, c] = w[n, c]`` -- return ``w``, else ``None``."""
    r = G.prod.get(name)
    if r is None or r.op_type != "Reshape":
        return None
    t = G.prod.get(r.input[0])
    if t is None or t.op_type != "Tile":
        return None
    reps = G.const(t.input[1])
    u = G.prod.get(t.input[0])
    if reps is None or u is None or u.op_type != "Unsqueeze" or G.axes(u) not in ([1], [2]):
        return None
    # Unsqueeze((N, 1, C), axis 1 or 2) -> (N, 1, 1, C), tiled only along axis 2 -> (N, 1, L, C)
    if reps.shape != (4,) or reps[0] != 1 or reps[1] != 1 or reps[3] != 1:
        return None
    r0 = G.prod.get(u.input[0])
    if r0 is None or r0.op_type != "Reshape":
        return None
    target = G.const(r0.input[1])
    w = r0.input[0]
    if target is None or list(target.reshape(-1))[1:2] != [1] or len(target.reshape(-1)) != 3 \
            or G.rank(w) != 2:
        return None
    return w


def channels_first(proto):
    """Layout propagation (see the module docstring); returns ``(proto, {rewrite: count})``."""
    import numpy as np
    G = _Graph(proto)
    stats = Counter()
    nc: dict[str, str] = {}           # (N, L, C) tensor -> the same data as (N, C, 1, L)
    for n in list(G.g.node):
        if n.op_type == "Transpose" and list(G.attr(n, "perm", [])) == [0, 2, 1]:
            sq = G.prod.get(n.input[0])
            if sq is not None and sq.op_type == "Squeeze" and G.axes(sq) == [2] \
                    and G.rank(sq.input[0]) == 4:
                nc[n.output[0]] = sq.input[0]
    if not nc:
        return G.finish(), dict(stats)
    for n in list(G.g.node):          # topological order: producers come first
        ins = list(n.input)
        if n.op_type in UNARY and ins and ins[0] in nc and len(ins) == 1:
            nc[n.output[0]] = G.node(n.op_type, [nc[ins[0]]], n.output[0],
                                     **{a.name: G.attr(n, a.name) for a in n.attribute})
            stats["elementwise"] += 1
        elif n.op_type in BINARY and len(ins) == 2 and any(i in nc for i in ins):
            if all(i in nc for i in ins):
                nc[n.output[0]] = G.node(n.op_type, [nc[i] for i in ins], n.output[0])
                stats["elementwise"] += 1
                continue
            k = 0 if ins[0] in nc else 1
            w = _repeat_source(G, ins[1 - k])
            if w is None:
                continue
            w4 = G.node("Unsqueeze", [w, G.add_const(np.array([2, 3]), w)], w)
            pair = [None, None]
            pair[k], pair[1 - k] = nc[ins[k]], w4
            nc[n.output[0]] = G.node(n.op_type, pair, n.output[0])
            stats["broadcast_weights"] += 1
        elif n.op_type in ("ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum") and ins and ins[0] in nc \
                and G.attr(n, "keepdims", 1) == 0 and G.axes(n) == [1] and len(ins) == 1:
            # (N, L, C) reduced over L == (N, C, 1, L) reduced over the last two axes
            n.input[0] = nc[ins[0]]
            for a in n.attribute:
                if a.name == "axes":
                    del a.ints[:]
                    a.ints.extend([2, 3])
            stats["reduction"] += 1
        elif n.op_type == "Unsqueeze" and ins and ins[0] in nc and G.axes(n) in ([1], [-3]):
            # (N, L, C) -> (N, 1, L, C) (axis 1, or -3 of the 4-D result)
            for t in G.cons.get(n.output[0], []):
                if t.op_type == "Transpose" and list(G.attr(t, "perm", [])) == [0, 3, 1, 2] \
                        and t.output[0] not in G.outs:
                    G.redirect(t.output[0], nc[ins[0]])
                    stats["transpose_back_removed"] += 1
    G.refresh()
    return G.finish(), dict(stats)


def fold_flatten_transpose(proto):
    """``Transpose(0, 2, 1) -> Reshape(-1, L*C) -> MatMul(W)`` becomes ``Reshape -> MatMul(W')``
    with the rows of the constant ``W`` permuted (``W'[c*L + l] = W[l*C + c]``: Keras flattens
    ``(L, C)``, the convolution output is ``(C, L)``); returns ``(proto, {rewrite: count})``."""
    from onnx import numpy_helper
    G = _Graph(proto)
    stats = Counter()
    for t in list(G.g.node):
        if t.op_type != "Transpose" or list(G.attr(t, "perm", [])) != [0, 2, 1]:
            continue
        shape = G.shape.get(t.input[0])
        users = G.cons.get(t.output[0], [])
        if shape is None or len(shape) != 3 or None in shape[1:] or len(users) != 1 \
                or users[0].op_type != "Reshape" or t.output[0] in G.outs:
            continue
        c, length = shape[1], shape[2]
        r = users[0]
        target = G.const(r.input[1])
        mms = G.cons.get(r.output[0], [])
        if target is None or [int(v) for v in target.reshape(-1)][1:] != [c * length] \
                or len(mms) != 1 or mms[0].op_type != "MatMul" or r.output[0] in G.outs:
            continue
        mm = mms[0]
        w = G.const(mm.input[1])
        if mm.input[0] != r.output[0] or w is None or w.ndim != 2 or w.shape[0] != c * length \
                or len(G.cons.get(mm.input[1], [])) != 1:
            continue
        w2 = w.reshape(length, c, w.shape[1]).transpose(1, 0, 2).reshape(c * length, w.shape[1])
        # the name records the permutation: zoo.derive undoes it to give Keras its kernel back
        name = f"{mm.input[1].rsplit(':', 1)[0]}{PERMUTED_SUFFIX}{c}x{length}"
        G.g.initializer.append(numpy_helper.from_array(w2.astype(w.dtype), name))
        mm.input[1] = name
        r.input[0] = t.input[0]
        stats["flatten_transpose_folded"] += 1
    G.refresh()
    return G.finish(), dict(stats)


def rank_scalar_constants(proto):
    """Give 0-d (or shorter) constants of element-wise ops the rank of the other operand;
    returns ``(proto, {rewrite: count})``."""
    G = _Graph(proto)
    stats = Counter()
    for n in list(G.g.node):
        if n.op_type not in BINARY or len(n.input) != 2:
            continue
        for k in (0, 1):
            c, other = G.const(n.input[k]), n.input[1 - k]
            r = G.rank(other)
            if c is None or c.size != 1 or r is None or c.ndim >= r or r < 2 or other in G.inits:
                continue
            n.input[k] = G.add_const(c.reshape((1,) * r), n.input[k])
            stats["scalar_given_rank"] += 1
    G.refresh()
    return G.finish(), dict(stats)


#: floats per block of ONNX Runtime's NCHWc layout on AVX-512 CPUs (8 on AVX2 ones)
NCHWC_BLOCK = 16


def narrow_convs_1d(proto, block: int = NCHWC_BLOCK):
    """The leading convolutions with fewer than ``block`` output channels run as 1-D ones
    (see the module docstring): ``Squeeze(2) -> Conv 1-D (+bias) -> activation -> Unsqueeze(2)``,
    with no Unsqueeze/Squeeze pair between two of them.  The same float32 products and sums
    (one im2col matrix product instead of a direct convolution: round-off may differ in the last
    bit).  Returns ``(proto, {rewrite: count})``."""
    import numpy as np
    G = _Graph(proto)
    stats = Counter()
    axis = G.add_const(np.array([2], np.int64), "zoo/axis2")
    as_1d: dict[str, str] = {}        # a (N, C, 1, L) tensor -> the same data as (N, C, L)
    for c in [n for n in G.g.node if n.op_type == "Conv"]:    # topological order
        w = G.const(c.input[1])
        if w is None or w.ndim != 4 or w.shape[2] != 1 or w.shape[0] >= block \
                or G.attr(c, "group", 1) != 1 or G.attr(c, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") \
                or c.output[0] in G.outs:
            break
        pads = list(G.attr(c, "pads", [0, 0, 0, 0]))
        strides = list(G.attr(c, "strides", [1, 1]))
        dil = list(G.attr(c, "dilations", [1, 1]))
        x = as_1d.get(c.input[0]) or G.node("Squeeze", [c.input[0], axis], c.input[0])
        ins = [x, G.add_const(w[:, :, 0, :], c.input[1])] + list(c.input[2:])
        y = G.node("Conv", ins, c.output[0], kernel_shape=[int(w.shape[3])], pads=[pads[1], pads[3]],
                   strides=[strides[1]], dilations=[dil[1]])
        out = c.output[0]
        users = G.cons.get(out, [])
        if len(users) == 1 and users[0].op_type in UNARY and len(users[0].input) == 1 \
                and users[0].output[0] not in G.outs:
            act = users[0]
            y = G.node(act.op_type, [y], act.output[0], **{a.name: G.attr(act, a.name) for a in act.attribute})
            out = act.output[0]
        back = G.node("Unsqueeze", [y, axis], out)
        G.redirect(out, back)
        as_1d[back] = y
        stats["conv_1d"] += 1
    G.refresh()
    return G.finish(), dict(stats)


def optimize(proto):
    """All passes, in order; returns ``(proto, {rewrite: count})``."""
    total = Counter()
    for p in (channels_first, fold_flatten_transpose, rank_scalar_constants, narrow_convs_1d):
        proto, s = p(proto)
        total.update(s)
    return proto, dict(total)


# --------------------------------------------------------------------------- Conv1D fusion
_UNARY = ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Softplus", "HardSigmoid", "Clip")


def _axes(node, inits):
    if len(node.input) > 1 and node.input[1] in inits:
        from onnx import numpy_helper
        return [int(a) for a in numpy_helper.to_array(inits[node.input[1]]).reshape(-1)]
    for a in node.attribute:
        if a.name == "axes":
            return list(a.ints)
    return None


def fuse_conv1d(proto):
    """Rewrite tf2onnx's Conv1D pattern so that ONNX Runtime keeps the convolutions fused.

    tf2onnx writes each Keras ``Conv1D`` as ``Unsqueeze -> Conv (2-D, no bias) -> Squeeze ->
    Add(bias) -> Relu``, so between two convolutions the tensor leaves the 4-D layout.  ONNX
    Runtime's CPU provider then cannot fuse the bias and activation into the convolution and
    converts every convolution's input and output to and from its blocked NCHWc layout
    (``ReorderInput``/``ReorderOutput``): profiled on APOGEE Net, the convolutions themselves
    were 30 % of the time, the separate Add 19 %, Relu 12 % and the reorders 29 %.  Three
    exact rewrites, repeated until none applies:

    1. ``Conv -> Squeeze(2) -> Add(per-channel constant)``: the constant becomes the Conv's
       bias input (the Add goes);
    2. ``Squeeze(2) -> Relu`` (or another element-wise activation): the activation runs on the
       4-D tensor and the Squeeze follows it;
    3. ``Squeeze(a) -> Unsqueeze(a)``: both go.

    The convolutions then form one 4-D chain ``Conv(+bias) -> Relu -> MaxPool -> Conv ...``
    that ONNX Runtime fuses (``FusedConv``) and keeps in NCHWc from end to end.  The graph
    computes the same function (float32 round-off: the bias is added inside the Conv);
    returns ``(proto, {rewrite: count})``.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper
    g = proto.graph
    counter = [0]
    stats = {"bias_folded": 0, "squeeze_sunk": 0, "squeeze_unsqueeze_removed": 0}

    def fresh(base):
        counter[0] += 1
        return f"{base}__zoo{counter[0]}"

    changed = True
    while changed:
        changed = False
        inits = {t.name: t for t in g.initializer}
        outs = {o.name for o in g.output}
        cons: dict[str, list] = {}
        for n in g.node:
            for i in n.input:
                cons.setdefault(i, []).append(n)
        prod = {o: n for n in g.node for o in n.output}

        def only(t):
            c = cons.get(t, [])
            return c[0] if len(c) == 1 and t not in outs else None

        for sq in list(g.node):
            if sq.op_type != "Squeeze" or _axes(sq, inits) != [2]:
                continue
            src, nxt = prod.get(sq.input[0]), only(sq.output[0])
            if nxt is None:
                continue
            if (src is not None and src.op_type == "Conv" and only(src.output[0]) is sq
                    and nxt.op_type == "Add" and src.input[1] in inits
                    and len(inits[src.input[1]].dims) == 4 and inits[src.input[1]].dims[2] == 1):
                n_out = inits[src.input[1]].dims[0]
                const = [i for i in nxt.input if i in inits]
                if len(const) == 1 and len(nxt.input) == 2:
                    b = numpy_helper.to_array(inits[const[0]])
                    if b.size == n_out and b.shape in ((1, n_out, 1), (n_out, 1)) and b.dtype == np.float32:
                        b = b.reshape(n_out)
                        if len(src.input) > 2 and src.input[2]:
                            b = b + numpy_helper.to_array(inits[src.input[2]]).reshape(n_out)
                        name = fresh(src.output[0].rsplit(":", 1)[0] + "/bias")
                        g.initializer.append(numpy_helper.from_array(b.astype(np.float32), name))
                        while len(src.input) < 3:
                            src.input.append("")
                        src.input[2] = name
                        sq.output[0] = nxt.output[0]
                        g.node.remove(nxt)
                        stats["bias_folded"] += 1
                        changed = True
                        break
            if nxt.op_type in _UNARY:
                t4, out = fresh(nxt.output[0].rsplit(":", 1)[0]), nxt.output[0]
                nxt.input[0], nxt.output[0] = sq.input[0], t4
                sq.input[0], sq.output[0] = t4, out
                stats["squeeze_sunk"] += 1
                changed = True
                break
        if changed:
            continue
        for uq in list(g.node):
            if uq.op_type != "Unsqueeze" or uq.output[0] in outs:
                continue
            sq = prod.get(uq.input[0])
            if sq is None or sq.op_type != "Squeeze":
                continue
            a = _axes(sq, inits)
            if a is None or a != _axes(uq, inits) or any(x < 0 for x in a):
                continue
            for n in g.node:
                for k, i in enumerate(n.input):
                    if i == uq.output[0]:
                        n.input[k] = sq.input[0]
            g.node.remove(uq)
            if sq.output[0] not in outs and not any(sq.output[0] in n.input for n in g.node):
                g.node.remove(sq)
            stats["squeeze_unsqueeze_removed"] += 1
            changed = True
            break
    if not any(stats.values()):
        return proto, stats
    _toposort(g)
    used = {i for n in g.node for i in n.input}
    for t in list(g.initializer):
        if t.name not in used:
            g.initializer.remove(t)
    del g.value_info[:]          # shapes of rewritten tensors changed: infer them again
    return onnx.shape_inference.infer_shapes(proto), stats


def _toposort(g) -> None:
    avail = {i.name for i in g.input} | {t.name for t in g.initializer} | {""}
    nodes, order = list(g.node), []
    while nodes:
        rest = []
        for n in nodes:
            if all(i in avail for i in n.input):
                order.append(n)
                avail.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(nodes):
            raise ArtifactError("ONNX graph rewrite left a cycle or a dangling input")
        nodes = rest
    del g.node[:]
    g.node.extend(order)
