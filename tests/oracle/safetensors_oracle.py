"""Oracle for the safetensors readers: writes safetensors files with every
dtype (by hand: struct + json + numpy, as the format is simple and Debian
has no safetensors package), a sharded directory, and checks what
`modelfs cat` shows against numpy's own view of the same arrays: data bytes,
dtype and shape files, numpy.load of data.npy, values, stats, summary,
SHA256SUMS. Every file of a model is read in one batch (mfs_fetch.py), each
checked against its `ls -l` size. Usage: safetensors_oracle.py MODELFS WORKDIR"""
import hashlib
import json
import os
import struct
import sys

import numpy as np

import mfs_fetch

modelfs, work = sys.argv[1], sys.argv[2]
fails = []
checks = 0


MODELS = {}


def cat(model, path):
    """`modelfs cat MODEL PATH`, from one batched read of every file of the
    model (mfs_fetch.py: ls -l -R, then one `modelfs cat MODEL P1 P2 ...`)."""
    if model not in MODELS:
        MODELS[model] = mfs_fetch.Model(model, modelfs, timeout=120)
        MODELS[model].prefetch_small(limit=1 << 30)
    try:
        return MODELS[model].cat(path)
    except mfs_fetch.CatError as e:
        raise AssertionError(f"{e}: {e.err.strip()}")


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        fails.append(what)
        print("FAIL", what)


def write_st(path, tensors, metadata=None):
    """tensors: list of (name, st_dtype, shape, raw bytes)."""
    hdr, off, blobs = {}, 0, []
    if metadata:
        hdr["__metadata__"] = metadata
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


rng = np.random.default_rng(7)
arrays = {
    "f64": ("F64", "float64", rng.standard_normal((3, 5))),
    "f32": ("F32", "float32", rng.standard_normal((4, 7)).astype(np.float32)),
    "f16": ("F16", "float16", rng.standard_normal((2, 3, 4)).astype(np.float16)),
    "i64": ("I64", "int64", rng.integers(-2**62, 2**62, (6,), dtype=np.int64)),
    "i32": ("I32", "int32", rng.integers(-2**31, 2**31 - 1, (2, 2), dtype=np.int32)),
    "i16": ("I16", "int16", rng.integers(-30000, 30000, (9,), dtype=np.int16)),
    "i8": ("I8", "int8", rng.integers(-128, 127, (3, 3), dtype=np.int8)),
    "u8": ("U8", "uint8", rng.integers(0, 255, (5,), dtype=np.uint8)),
    "u16": ("U16", "uint16", rng.integers(0, 65535, (5,), dtype=np.uint16)),
    "u32": ("U32", "uint32", rng.integers(0, 2**32 - 1, (5,), dtype=np.uint32)),
    "u64": ("U64", "uint64", rng.integers(0, 2**63, (5,), dtype=np.uint64)),
    "bool": ("BOOL", "bool", rng.integers(0, 2, (4, 2)).astype(bool)),
    "c64": ("C64", "complex64", (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(np.complex64)),
    "scalar": ("F32", "float32", np.array(3.5, dtype=np.float32)),
    "empty": ("F32", "float32", np.zeros((0, 4), dtype=np.float32)),
    "special": ("F32", "float32", np.array([1.0, np.nan, np.inf, -np.inf, -2.0, 0.0], dtype=np.float32)),
}
tensors = [(k, v[0], v[2].shape, v[2].astype(v[2].dtype.newbyteorder("<")).tobytes()) for k, v in arrays.items()]
# dtypes numpy lacks: raw bits, checked byte for byte
bf16 = rng.integers(0, 65535, (2, 4), dtype=np.uint16)
f8 = rng.integers(0, 255, (7,), dtype=np.uint8)
tensors += [("bf16", "BF16", bf16.shape, bf16.tobytes()), ("f8", "F8_E4M3", f8.shape, f8.tobytes()),
            ("model.layers.0.attn/q.weight", "F32", (2,), np.float32([1, 2]).tobytes())]
st = os.path.join(work, "all.safetensors")
write_st(st, tensors, {"format": "pt", "note": "oracle"})

summary = cat(st, "summary").decode().splitlines()
check(len(summary) == len(tensors), f"summary has {len(summary)} lines, want {len(tensors)}")
for name, stdt, shape, raw in tensors:
    path = "tensors/" + name
    data = cat(st, path + "/data")
    check(data == raw, f"{name}: data bytes differ")
    check(cat(st, path + "/shape").decode() == "[" + ", ".join(map(str, shape)) + "]\n", f"{name}: shape")
    if name in arrays:
        _, npname, a = arrays[name]
        check(cat(st, path + "/dtype").decode() == npname + "\n", f"{name}: dtype")
        npy = os.path.join(work, name + ".npy")
        with open(npy, "wb") as f:
            f.write(cat(st, path + "/data.npy"))
        b = np.load(npy)
        check(b.dtype == a.dtype and b.shape == a.shape and np.array_equal(b, a, equal_nan=True),
              f"{name}: numpy.load(data.npy) differs")
        m = np.load(npy, mmap_mode="r")
        check(np.array_equal(np.asarray(m), a, equal_nan=True), f"{name}: mmap load differs")
        vals = cat(st, path + "/values").decode()
        if a.size and a.dtype.kind in "fiu":
            flat = np.array([float(x) for x in vals.split()], dtype=np.float64)
            ref = a.astype(np.float64).ravel()
            tol = {"float16": 1e-3, "float32": 1e-7, "float64": 1e-15}.get(npname, 0)
            ok = np.allclose(flat, ref, rtol=tol, atol=0, equal_nan=True) if tol else np.array_equal(flat, ref)
            if npname in ("int64", "uint64"):  # exact: compare text, floats lose digits
                ok = [int(x) for x in vals.split()] == [int(x) for x in a.ravel()]
            check(ok, f"{name}: values differ")
            rows = a.size // (a.shape[-1] if a.ndim else 1)
            check(vals.count("\n") == rows, f"{name}: values has {vals.count(chr(10))} lines, want {rows}")
        stats = dict(l.split(None, 1) for l in cat(st, path + "/stats").decode().splitlines())
        if a.size and a.dtype.kind == "f":
            fin = a[np.isfinite(a)].astype(np.float64)
            check(float(stats["min"]) == fin.min() and float(stats["max"]) == fin.max(), f"{name}: min/max")
            check(abs(float(stats["mean"]) - fin.mean()) <= 1e-9 * max(1, abs(fin.mean())), f"{name}: mean")
            check(abs(float(stats["std"]) - fin.std()) <= 1e-9 * max(1, fin.std()), f"{name}: std")
            check(int(stats["nan"]) == int(np.isnan(a).sum()) and int(stats["inf"]) == int(np.isinf(a).sum()),
                  f"{name}: nan/inf counts")
            check(int(stats["nonzero"]) == int(np.count_nonzero(a)), f"{name}: nonzero")
        if a.size and a.dtype.kind in "iu":
            check(int(stats["min"]) == int(a.min()) and int(stats["max"]) == int(a.max()), f"{name}: int min/max")
check(cat(st, "tensors/bf16/dtype") == b"bfloat16\n", "bf16 dtype")
check(cat(st, "tensors/f8/dtype") == b"float8_e4m3fn\n", "f8 dtype")
check(cat(st, "metadata/note") == b"oracle\n", "__metadata__ file")
check(cat(st, "layers/model.layers.0.attn/q.weight/shape") == b"[2]\n", "layers split at last /")
check(cat(st, "tensors/model.layers.0.attn/q.weight/shape") == b"[2]\n", "tensors nest on /")
# SHA256SUMS: one line per tensor, each hash that of the data
sums = cat(st, "SHA256SUMS").decode().splitlines()
check(len(sums) == len(tensors), "SHA256SUMS line count")
for line in sums:
    h, p = line.split("  ", 1)
    check(hashlib.sha256(cat(st, "tensors/" + p)).hexdigest() == h, f"SHA256SUMS {p}")

# sharded directory with an index, in weight_map order
d = os.path.join(work, "sharded")
os.makedirs(d, exist_ok=True)
a1, a2 = rng.standard_normal((3, 3)).astype(np.float32), rng.standard_normal(5)
write_st(os.path.join(d, "model-00001-of-00002.safetensors"), [("w1", "F32", a1.shape, a1.tobytes())])
write_st(os.path.join(d, "model-00002-of-00002.safetensors"), [("w2", "F64", a2.shape, a2.tobytes())])
with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": 67}, "weight_map": {
        "w2": "model-00002-of-00002.safetensors", "w1": "model-00001-of-00002.safetensors"}}, f)
check(cat(d, "tensors/w1/data") == a1.tobytes() and cat(d, "tensors/w2/data") == a2.tobytes(), "sharded data")
check(cat(d, "format") == b"safetensors-sharded\n", "sharded format id")
check([l.split()[-1] for l in cat(d, "summary").decode().splitlines()] == ["w2", "w1"], "sharded order")

print(f"{checks - len(fails)} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
