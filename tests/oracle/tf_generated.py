#!/usr/bin/python3
"""tf_generated.py: TensorFlow files written here, in Python, from the
format descriptions (FORMATS.md sections 4-5, TF's tensor_bundle.cc,
ordered_code.cc, saved_tensor_slice.proto), independently of modelfs's C
code, then read back through modelfs and compared with numpy:

  * a V2 bundle over 2 shards, its index snappy-compressed (literal-only
    snappy, which libsnappy must accept) with a restart point every 4
    entries: float32/float16/bfloat16/int8/uint16/complex64/bool/float64/
    int64 tensors, a string tensor with non-UTF-8 bytes and newlines, and
    two partitioned variables (row slices; column slices across shards);
  * the same tensors in a big-endian bundle;
  * a V1 checkpoint (SavedTensorSlices table) with a partitioned tensor
    and typed values (float_val, int64_val, bool_val);
  * a frozen GraphDef whose Const nodes use tensor_content, float_val with
    TF's splat rule, int_val, half_val and string_val;
  * object-based checkpoints with the optimizers of Keras >= 2.11 (slots
    only in `optimizer/_variables/N`, named "Adam/m/dense/kernel") and of
    Keras 3 (`_trainable_variables` beside `_momentums`/`_velocities`),
    laid out as their object graphs are (keras/optimizers/optimizer.py,
    keras/src/optimizers/base_optimizer.py): every slot must appear under
    optimizer/state/<param>/<slot> with its bytes; shape mismatches and
    unknown names stay at optimizer/_variables/N.

No TensorFlow is needed. Exit 1 on any mismatch.
"""
import hashlib
import json
import os
import struct
import sys
import tempfile

import numpy as np
from tf_oracle import check, run, report


# ---------------------------------------------------------------- primitives
_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(b, crc=0):
    c = crc ^ 0xFFFFFFFF
    for x in b:
        c = _T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fld(num, wt, payload):
    """One protobuf field: wt 0 varint (int), 2 bytes, 5 fixed32 (int)."""
    tag = varint(num << 3 | wt)
    if wt == 0:
        return tag + varint(payload & 0xFFFFFFFFFFFFFFFF)
    if wt == 5:
        return tag + struct.pack("<I", payload)
    return tag + varint(len(payload)) + payload


def shape_pb(shape):
    return b"".join(fld(2, 2, fld(1, 0, d)) for d in shape)


def snappy_literal(data):
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def table(entries, restart=16, block=512, snappy=False):
    """A LevelDB table of sorted (key, value) pairs."""
    out = bytearray()
    index = []

    def block_bytes(ents, interval):
        b, restarts, last = bytearray(), [], b""
        for i, (k, v) in enumerate(ents):
            shared = 0
            if i % interval:
                while shared < min(len(k), len(last)) and k[shared] == last[shared]:
                    shared += 1
            else:
                restarts.append(len(b))
            b += varint(shared) + varint(len(k) - shared) + varint(len(v)) + k[shared:] + v
            last = k
        for r in restarts or [0]:
            b += struct.pack("<I", r)
        b += struct.pack("<I", len(restarts or [0]))
        return bytes(b)

    def emit(body, comp):
        off = len(out)
        typ = 0
        if comp:
            body, typ = snappy_literal(body), 1
        out.extend(body)
        out.append(typ)
        out.extend(struct.pack("<I", mask(crc32c(body + bytes([typ])))))
        return off, len(body)

    cur, size = [], 0
    for k, v in entries:
        cur.append((k, v))
        size += len(k) + len(v)
        if size >= block:
            off, n = emit(block_bytes(cur, restart), snappy)
            index.append((cur[-1][0], varint(off) + varint(n)))
            cur, size = [], 0
    if cur:
        off, n = emit(block_bytes(cur, restart), snappy)
        index.append((cur[-1][0], varint(off) + varint(n)))
    moff, mlen = emit(block_bytes([], 1), False)
    ioff, ilen = emit(block_bytes(index, 1), snappy)
    foot = varint(moff) + varint(mlen) + varint(ioff) + varint(ilen)
    foot += b"\0" * (40 - len(foot)) + struct.pack("<Q", 0xDB4775248B80FB57)
    return bytes(out) + foot


# OrderedCode (tensorflow/core/lib/strings/ordered_code.cc)
def oc_num(v):
    b = v.to_bytes((v.bit_length() + 7) // 8, "big") if v else b""
    return bytes([len(b)]) + b


def oc_str(s):
    out = bytearray()
    for c in s:
        out += b"\x00\xff" if c == 0 else b"\xff\x00" if c == 0xFF else bytes([c])
    return bytes(out) + b"\x00\x01"


def oc_signed(v):
    x = ~v if v < 0 else v
    if x < 64:
        return bytes([(0x80 ^ v) & 0xFF])
    n = x.bit_length() // 7 + 1
    b = bytearray((v & ((1 << 80) - 1)).to_bytes(10, "big")[10 - n:])
    hdr = [(0, 0), (0x80, 0), (0xC0, 0), (0xE0, 0), (0xF0, 0), (0xF8, 0), (0xFC, 0), (0xFE, 0),
           (0xFF, 0), (0xFF, 0x80), (0xFF, 0xC0)][n]
    b[0] ^= hdr[0]
    b[1] ^= hdr[1]
    return bytes(b)


def slice_key(name, extents):
    """extents: [(start, length or -1)] per dimension."""
    k = oc_num(0) + oc_str(name.encode()) + oc_num(len(extents))
    for s, ln in extents:
        k += oc_signed(0 if ln < 0 else s) + oc_signed(ln)
    return k


def slice_pb(extents):
    return b"".join(fld(1, 2, (fld(1, 0, s) + fld(2, 0, ln)) if ln >= 0 else b"") for s, ln in extents)


DT = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "complex64": 8,
      "int64": 9, "bool": 10, "bfloat16": 14, "uint16": 17, "float16": 19}


# ---------------------------------------------------------------- bundles
class Bundle:
    def __init__(self, shards=2, big=False):
        self.data = [bytearray() for _ in range(shards)]
        self.ents = {}
        self.big = big

    def raw(self, key, dtype, shape, shard, b):
        off = len(self.data[shard])
        self.data[shard] += b
        e = fld(1, 0, DT.get(dtype, dtype)) + fld(2, 2, shape_pb(shape))
        if shard:
            e += fld(3, 0, shard)
        if off:
            e += fld(4, 0, off)
        e += fld(5, 0, len(b)) + fld(6, 5, mask(crc32c(b)))
        self.ents[key if isinstance(key, bytes) else key.encode()] = e

    def tensor(self, key, arr, shard=0, dtype=None):
        a = np.array(arr, order="C")  # ascontiguousarray makes 0-d arrays 1-d
        b = a.astype(a.dtype.newbyteorder(">")).tobytes() if self.big and a.dtype.itemsize > 1 else a.tobytes()
        self.raw(key, dtype or a.dtype.name, a.shape, shard, b)

    def strings(self, key, vals, shape, shard=0):
        b, crc = bytearray(), 0
        for v in vals:
            b += varint(len(v))
            crc = crc32c(struct.pack("<I", len(v)), crc)
        lc = struct.pack("<I", mask(crc))
        crc = crc32c(lc, crc)
        b += lc
        for v in vals:
            b += v
            crc = crc32c(v, crc)
        off = len(self.data[shard])
        self.data[shard] += b
        self.ents[key.encode()] = (fld(1, 0, 7) + fld(2, 2, shape_pb(shape)) + fld(3, 0, shard) +
                                   fld(4, 0, off) + fld(5, 0, len(b)) + fld(6, 5, mask(crc)))

    def partitioned(self, key, arr, slices, shards):
        """slices: [[(start, length|-1) per dim]], stored in @shards."""
        for ext, sh in zip(slices, shards):
            idx = tuple(slice(s, s + ln) if ln >= 0 else slice(None) for s, ln in ext)
            part = np.ascontiguousarray(arr[idx])
            b = part.tobytes()
            off = len(self.data[sh])
            self.data[sh] += b
            self.ents[slice_key(key, ext)] = (fld(1, 0, DT[arr.dtype.name]) + fld(2, 2, shape_pb(part.shape)) +
                                              fld(3, 0, sh) + fld(4, 0, off) + fld(5, 0, len(b)) +
                                              fld(6, 5, mask(crc32c(b))))
        self.ents[key.encode()] = (fld(1, 0, DT[arr.dtype.name]) + fld(2, 2, shape_pb(arr.shape)) +
                                   b"".join(fld(7, 2, slice_pb(ext)) for ext in slices))

    def write(self, prefix, **kw):
        hdr = fld(1, 0, len(self.data)) + (fld(2, 0, 1) if self.big else b"") + fld(3, 2, fld(1, 0, 1))
        ents = [(b"", hdr)] + sorted(self.ents.items())
        open(prefix + ".index", "wb").write(table(ents, **kw))
        for i, d in enumerate(self.data):
            open(f"{prefix}.data-{i:05d}-of-{len(self.data):05d}", "wb").write(d)


# ---------------------------------------------------------------- checks
def same(mount, path, arr, label):
    a = np.array(arr, order="C")  # ascontiguousarray makes 0-d arrays 1-d
    try:
        data = run(["cat", mount, f"{path}/data"])
        dt = run(["cat", mount, f"{path}/dtype"]).decode().strip()
        sh = json.loads(run(["cat", mount, f"{path}/shape"]))
    except RuntimeError as e:
        check(False, f"{label}: {path}: {e}")
        return
    want = a.astype(a.dtype.newbyteorder("<")).tobytes()
    check(data == want, f"{label}: {path}: data differs ({len(data)} vs {len(want)} bytes)")
    check(sh == list(a.shape), f"{label}: {path}: shape {sh} vs {list(a.shape)}")
    return dt


def arrays():
    rng = np.random.default_rng(5)
    return {
        "dense/kernel": rng.standard_normal((3, 4)).astype(np.float32),
        "dense/bias": rng.standard_normal(5).astype(np.float16),
        "emb/bf16": rng.integers(0, 65535, (2, 2)).astype(np.uint16),  # raw bfloat16 bits
        "q/int8": rng.integers(-128, 127, 7).astype(np.int8),
        "q/uint16": rng.integers(0, 65535, 3).astype(np.uint16),
        "c/complex": (rng.standard_normal(2) + 1j * rng.standard_normal(2)).astype(np.complex64),
        "mask": np.array([True, False, True, True]),
        "lr": np.array(0.125, dtype=np.float64),
        "counts": np.array([1, -(2 ** 40)], dtype=np.int64),
    }


def check_bundle(tmp, big):
    label = "big-endian bundle" if big else "bundle"
    b = Bundle(2, big)
    arrs = arrays()
    for i, (k, a) in enumerate(sorted(arrs.items())):
        b.tensor(k, a, shard=i % 2, dtype="bfloat16" if k == "emb/bf16" else None)
    strs = [b"plain", b"two\nlines", b"\xff\xfe not utf-8", "ünïcode".encode()]
    b.strings("vocab", strs, [2, 2], shard=1)
    pa = np.arange(15, dtype=np.float32).reshape(5, 3) * 1.5
    pb = np.arange(12, dtype=np.int32).reshape(2, 6) - 3
    if not big:
        b.partitioned("part/rows", pa, [[(0, 2), (0, -1)], [(2, 3), (0, -1)]], [0, 1])
        b.partitioned("part/cols", pb, [[(0, -1), (0, 1)], [(0, -1), (1, 5)]], [1, 0])
    prefix = os.path.join(tmp, "big" if big else "ck")
    b.write(prefix, restart=4, block=200, snappy=not big)
    for mount in (prefix, prefix + ".index"):
        for k, a in arrs.items():
            dt = same(mount, f"tensors/{k}", a, label)
            want = "bfloat16" if k == "emb/bf16" else a.dtype.name
            check(dt == want, f"{label}: {k}: dtype {dt} != {want}")
        vals = run(["cat", mount, "tensors/vocab/values"]).decode()
        check(vals == "plain\ntwo\\nlines\n\\xff\\xfe not utf-8\nünïcode\n", f"{label}: string values {vals!r}")
        check(run(["cat", mount, "tensors/vocab/shape"]) == b"[2, 2]\n", f"{label}: string shape")
        if not big:
            same(mount, "tensors/part/rows", pa, label)
            same(mount, "tensors/part/cols", pb, label)
            info = json.loads(run(["cat", mount, "tensors/part/cols/info.json"]))
            check(info["partitioned"] and info["crc32c_check"] == "matched", f"{label}: partitioned info.json")
        sums = run(["cat", mount, "SHA256SUMS"]).decode()
        check(hashlib.sha256(arrs["dense/kernel"].tobytes()).hexdigest() + "  dense/kernel/data" in sums,
              f"{label}: SHA256SUMS")
        meta = json.loads(run(["cat", mount, "metadata/checkpoint.json"]))
        check(meta["index_compression"] == ("none" if big else "snappy") and meta["num_shards"] == 2,
              f"{label}: metadata/checkpoint.json {meta}")


# ---------------------------------------------------------------- V1
def tproto(dtype, shape=None, **typed):
    """TensorProto with typed repeated fields: float_val=5 (packed floats),
    int64_val=10, bool_val=11, int_val=7, half_val=13, string_val=8."""
    t = fld(1, 0, DT[dtype] if isinstance(dtype, str) else dtype)
    if shape is not None:
        t += fld(2, 2, shape_pb(shape))
    for name, vals in typed.items():
        if name == "float_val":
            t += fld(5, 2, struct.pack(f"<{len(vals)}f", *vals))
        elif name == "int64_val":
            t += fld(10, 2, b"".join(varint(v) for v in vals))
        elif name == "bool_val":
            t += fld(11, 2, b"".join(varint(int(v)) for v in vals))
        elif name == "int_val":
            t += fld(7, 2, b"".join(varint(v) for v in vals))
        elif name == "half_val":
            t += fld(13, 2, b"".join(varint(v) for v in vals))
        elif name == "string_val":
            t += b"".join(fld(8, 2, v) for v in vals)
        elif name == "tensor_content":
            t += fld(4, 2, vals)
    return t


def check_v1(tmp):
    w = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    step = np.array(123456789012, dtype=np.int64)
    flags = np.array([True, False, True])
    metas = [("w", w.shape, 1, [[(0, 1), (0, -1)], [(1, 1), (0, -1)]]), ("step", (), 9, [[]]),
             ("flags", flags.shape, 10, [[(0, -1)]])]
    meta = b""
    for name, shape, t, sl in metas:
        meta += fld(1, 2, fld(1, 2, name.encode()) + fld(2, 2, shape_pb(shape)) + fld(3, 0, t) +
                    b"".join(fld(4, 2, slice_pb(s)) for s in sl))
    ents = {b"": fld(1, 2, meta + fld(2, 2, fld(1, 0, 24)))}

    def slice_entry(name, ext, tp):
        ents[slice_key(name, ext) if ext else slice_key(name, [])] = fld(2, 2, fld(1, 2, name.encode()) +
                                                                          fld(2, 2, slice_pb(ext)) + fld(3, 2, tp))
    slice_entry("w", [(0, 1), (0, -1)], tproto("float32", float_val=list(w[0])))
    slice_entry("w", [(1, 1), (0, -1)], tproto("float32", float_val=list(w[1])))
    slice_entry("step", [], tproto("int64", int64_val=[int(step)]))
    slice_entry("flags", [(0, -1)], tproto("bool", bool_val=list(flags)))
    path = os.path.join(tmp, "model.ckpt-1000")
    open(path, "wb").write(table(sorted(ents.items()), restart=2, block=100, snappy=True))
    check(run(["cat", path, "format"]) == b"tf-checkpoint-v1\n", "V1: format")
    same(path, "tensors/w", w, "V1")
    same(path, "tensors/step", step, "V1")
    same(path, "tensors/flags", flags, "V1")
    check(run(["cat", path, "layers/w/shape"]) == b"[2, 3]\n", "V1: layers/w")


# ---------------------------------------------------------------- GraphDef
def check_graphdef(tmp):
    c1 = np.array([[1, 2], [3, 4]], dtype=np.float32)
    h = np.array([1.0, -2.5, 65504], dtype=np.float16)

    def const(name, tp, dtype):
        attrs = (fld(5, 2, fld(1, 2, b"dtype") + fld(2, 2, fld(6, 0, DT.get(dtype, dtype)))) +
                 fld(5, 2, fld(1, 2, b"value") + fld(2, 2, fld(8, 2, tp))))
        return fld(1, 2, fld(1, 2, name.encode()) + fld(2, 2, b"Const") + attrs)
    g = fld(1, 2, fld(1, 2, b"input") + fld(2, 2, b"Placeholder"))
    g += const("net/c1", tproto("float32", [2, 2], tensor_content=c1.tobytes()), "float32")
    g += const("net/splat", tproto("float32", [3], float_val=[1.5]), "float32")
    g += const("net/ints", tproto("int32", [4], int_val=[1, 2, 3, 2 ** 31 - 1]), "int32")
    g += const("net/half", tproto("float16", [3], half_val=[int(x) for x in h.view(np.uint16)]), "float16")
    g += const("net/zeros", tproto("int64", [2, 2]), "int64")
    g += const("net/name", tproto(7, [], string_val=[b"hello"]), 7)
    g += fld(1, 2, fld(1, 2, b"out") + fld(2, 2, b"MatMul") + fld(3, 2, b"input") + fld(3, 2, b"net/c1"))
    g += fld(4, 2, fld(1, 0, 27))
    path = os.path.join(tmp, "frozen.pb")
    open(path, "wb").write(g)
    check(run(["cat", path, "format"]) == b"tf-graphdef\n", "GraphDef: format")
    same(path, "tensors/net/c1", c1, "GraphDef")
    same(path, "tensors/net/splat", np.array([1.5, 1.5, 1.5], dtype=np.float32), "GraphDef")
    same(path, "tensors/net/ints", np.array([1, 2, 3, 2 ** 31 - 1], dtype=np.int32), "GraphDef")
    same(path, "tensors/net/half", h, "GraphDef")
    same(path, "tensors/net/zeros", np.zeros((2, 2), dtype=np.int64), "GraphDef")
    check(run(["cat", path, "tensors/net/name/values"]) == b"hello\n", "GraphDef: string constant")
    info = json.loads(run(["cat", path, "tensors/net/c1/info.json"]))
    check(info["encoding"] == "plain" and info["offset"] > 0, "GraphDef: tensor_content served in place")
    gj = json.loads(run(["cat", path, "metadata/graph.json"]))
    check(gj["graph_nodes"] == 8 and gj["ops"]["Const"] == 6 and gj["graph_producer"] == 27, f"GraphDef: graph.json {gj}")


# ---------------------------------------------------------------- Keras optimizers
class Graph:
    """A TrackableObjectGraph: node 0 is the root."""

    def __init__(self):
        self.nodes = [{"children": [], "attrs": []}]

    def node(self, parent, name):
        self.nodes.append({"children": [], "attrs": []})
        i = len(self.nodes) - 1
        if parent is not None:
            self.link(parent, name, i)
        return i

    def link(self, parent, name, child):
        self.nodes[parent]["children"].append((child, name))

    def var(self, node, key, full_name=None):
        self.nodes[node]["attrs"].append(("VARIABLE_VALUE", full_name, key))

    def pb(self, full=True):
        """The TrackableObjectGraph; @full False leaves out the full names."""
        out = b""
        for n in self.nodes:
            body = b"".join(fld(1, 2, fld(1, 0, c) + fld(2, 2, nm.encode())) for c, nm in n["children"])
            for name, fn, key in n["attrs"]:
                body += fld(2, 2, fld(1, 2, name.encode()) + (fld(2, 2, fn.encode()) if fn and full else b"") +
                            fld(3, 2, key.encode()))
            out += fld(1, 2, body)
        return out

    def saved_model_text(self):
        """saved_model.pbtxt whose SavedObjectGraph has the same objects,
        variables named as TF names them ("dense/kernel:0")."""
        lines = ["saved_model_schema_version: 1", "meta_graphs {", '  meta_info_def { tags: "serve" }',
                 "  object_graph_def {"]
        for n in self.nodes:
            kids = " ".join(f'children {{ node_id: {c} local_name: "{nm}" }}' for c, nm in n["children"])
            var = next((f'variable {{ dtype: DT_FLOAT name: "{fn}:0" }}' for _, fn, _ in n["attrs"] if fn), "")
            lines.append(f"    nodes {{ {kids} {var} }}")
        return "\n".join(lines + ["  }", "}"]) + "\n"


def cat_all(mount, paths):
    return run(["cat", mount] + paths)


def check_keras_optimizers(tmp):
    rng = np.random.default_rng(11)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    # --- Keras >= 2.11 (tf.keras): model.save_weights of a Sequential
    g, b = Graph(), Bundle(1)
    params = {"dense": {"kernel": f32(3, 4), "bias": f32(4)}, "dense_1": {"kernel": f32(4, 2), "bias": f32(2)}}
    opt = g.node(0, "optimizer")
    lst = g.node(opt, "_variables")
    it = g.node(opt, "_iterations")
    g.link(lst, "0", it)
    g.var(it, "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE", "iteration")
    b.tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE", np.array(42, dtype=np.int64))
    lr = g.node(opt, "_learning_rate")
    g.var(lr, "optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE", "learning_rate")
    b.tensor("optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE", np.array(0.001, dtype=np.float32))
    moms, vels = g.node(opt, "_momentums"), g.node(opt, "_velocities")
    want, n = {}, 1
    for li, (layer, ws) in enumerate(params.items()):
        ln = g.node(0, f"layer_with_weights-{li}")
        for w, a in ws.items():
            key = f"layer_with_weights-{li}/{w}/.ATTRIBUTES/VARIABLE_VALUE"
            g.var(g.node(ln, w), key, f"{layer}/{w}")
            b.tensor(key, a)
            want[f"layers/{layer}/{w}"] = a
            for slot, sl in (("m", moms), ("v", vels)):
                x = g.node(lst, str(n))
                g.link(sl, str(n // 2), x)
                skey = f"optimizer/_variables/{n}/.ATTRIBUTES/VARIABLE_VALUE"
                g.var(x, skey, f"Adam/{slot}/{layer}/{w}")
                arr = f32(*a.shape)
                b.tensor(skey, arr)
                want[f"optimizer/state/{layer}/{w}/{slot}"] = arr
                n += 1
    # a slot-like name whose shape is not its parameter's, and a name
    # that matches no parameter: both stay where they are
    odd = {n: (f32(5), "Adam/vhat/dense/kernel"), n + 1: (f32(2), "Adam/ema/nothing_here")}
    for k, (arr, full) in odd.items():
        skey = f"optimizer/_variables/{k}/.ATTRIBUTES/VARIABLE_VALUE"
        g.var(g.node(lst, str(k)), skey, full)
        b.tensor(skey, arr)
        want[f"optimizer/_variables/{k}"] = arr
    # a slot named the Keras 3 way, found by its name alone (no lists)
    skey = f"optimizer/_variables/{n + 2}/.ATTRIBUTES/VARIABLE_VALUE"
    g.var(g.node(lst, str(n + 2)), skey, "adam/dense_1_kernel_velocity")
    arr = f32(4, 2)
    b.tensor(skey, arr)
    want["optimizer/state/dense_1/kernel/velocity"] = arr
    b.strings("_CHECKPOINTABLE_OBJECT_GRAPH", [g.pb()], [])
    prefix = os.path.join(tmp, "keras211")
    b.write(prefix)
    check_slots(prefix, want, "Keras 2.11 optimizer")
    check(run(["cat", prefix, "optimizer/step"]) == b"42\n", "Keras 2.11 optimizer: optimizer/step")
    cfg = json.loads(run(["cat", prefix, "optimizer/config.json"]))
    check(cfg.get("iterations") == 42 and cfg.get("learning_rate") == 0.001, f"Keras 2.11 optimizer: config {cfg}")
    info = json.loads(run(["cat", prefix, "optimizer/state/dense_1/bias/v/info.json"]))
    check(info.get("key") == "optimizer/_variables/8/.ATTRIBUTES/VARIABLE_VALUE" and
          info.get("role") == "optimizer slot", f"Keras 2.11 optimizer: raw key in info.json {info}")
    check(run(["ls", prefix, "optimizer/state/dense/kernel"]).split() == [b"m", b"v"],
          "Keras 2.11 optimizer: exactly the slots m, v")
    check(sorted(run(["ls", prefix, "optimizer/state/dense_1/kernel"]).split()) == [b"m", b"v", b"velocity"],
          "Keras 2.11 optimizer: a Keras 3 name attaches too")
    # the same objects in a SavedModel whose variables bundle has no full
    # names: the SavedObjectGraph's variable names attach the slots
    sm = os.path.join(tmp, "sm211")
    os.makedirs(os.path.join(sm, "variables"))
    b.strings("_CHECKPOINTABLE_OBJECT_GRAPH", [g.pb(full=False)], [])
    b.write(os.path.join(sm, "variables/variables"))
    open(os.path.join(sm, "saved_model.pbtxt"), "w").write(g.saved_model_text())
    check_slots(sm, want, "Keras 2.11 SavedModel (text)")

    # --- Keras 3, TF backend: tf.train.Checkpoint(model=..., optimizer=...)
    g, b = Graph(), Bundle(1)
    model, opt = g.node(0, "model"), g.node(0, "optimizer")
    lst = g.node(opt, "_variables")
    tv, moms, vels = g.node(opt, "_trainable_variables"), g.node(opt, "_momentums"), g.node(opt, "_velocities")
    it = g.node(opt, "_iterations")
    lr = g.node(opt, "_learning_rate")
    g.link(lst, "0", it)
    g.link(lst, "1", lr)
    g.var(it, "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")
    g.var(lr, "optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE")
    b.tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE", np.array(160, dtype=np.int64))
    b.tensor("optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE", np.array(0.5, dtype=np.float32))
    want, n, i = {}, 2, 0
    # user_dense1's variables carry Keras 3 full names, top_out's none:
    # the lists alone must attach those
    for layer, named in (("user_dense1", True), ("top_out", False)):
        ln = g.node(model, layer)
        for w in ("_kernel", "bias"):
            a = f32(3, 2) if w == "_kernel" else f32(2)
            key = f"model/{layer}/{w}/.ATTRIBUTES/VARIABLE_VALUE"
            x = g.node(ln, w)
            g.var(x, key, f"{layer}/{w.strip('_')}" if named else None)
            g.link(tv, str(i), x)
            b.tensor(key, a)
            for slot, sl in (("momentum", moms), ("velocity", vels)):
                y = g.node(lst, str(n))
                g.link(sl, str(i), y)
                skey = f"optimizer/_variables/{n}/.ATTRIBUTES/VARIABLE_VALUE"
                g.var(y, skey, f"adam/{layer}_{w.strip('_')}_{slot}" if named else None)
                arr = f32(*a.shape)
                b.tensor(skey, arr)
                shown = slot if named else {"momentum": "momentums", "velocity": "velocities"}[slot]
                want[f"optimizer/state/model/{layer}/{w}/{shown}"] = arr
                n += 1
            i += 1
    b.strings("_CHECKPOINTABLE_OBJECT_GRAPH", [g.pb()], [])
    prefix = os.path.join(tmp, "keras3")
    b.write(prefix)
    check_slots(prefix, want, "Keras 3 optimizer")
    check(run(["cat", prefix, "optimizer/step"]) == b"160\n", "Keras 3 optimizer: optimizer/step")
    check(b"_trainable_variables" not in run(["ls", prefix, "optimizer"]), "Keras 3 optimizer: parameters stay in layers/")


def check_slots(prefix, want, label):
    """Every path of @want holds its array's bytes, in one modelfs call."""
    paths = sorted(want)
    try:
        got = cat_all(prefix, [p + "/data" for p in paths])
    except RuntimeError as e:
        check(False, f"{label}: {e}")
        return
    exp = b"".join(np.ascontiguousarray(want[p]).tobytes() for p in paths)
    check(got == exp, f"{label}: {len(paths)} slot/parameter data files ({len(got)} vs {len(exp)} bytes)")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check_bundle(tmp, False)
        check_bundle(tmp, True)
        check_v1(tmp)
        check_graphdef(tmp)
        check_keras_optimizers(tmp)
    return report()


if __name__ == "__main__":
    sys.exit(main())
