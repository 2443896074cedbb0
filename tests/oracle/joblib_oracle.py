#!/usr/bin/python3
"""joblib_oracle.py: joblib / pickle / scikit-learn files made here, read by
modelfs and compared with joblib.load / pickle.load (the frameworks' own
reading).

Made in a temp dir with Debian's numpy, joblib and scikit-learn:
  * a dict of arrays of every dtype modelfs shows (float16..complex128,
    bool, ints), big-endian ones, a Fortran-order one, a 0-d one, an empty
    one, a non-contiguous view, a 480 KB one (spans decompressed chunks),
    a numpy matrix, nested dicts/lists, plus an object array and a
    str array (not tensors: raw/ only);
  * joblib.dump of it uncompressed and with every compressor joblib has
    (zlib, gzip, bz2, lzma, xz, lz4 when python-lz4 is there), protocol 2
    too; zstd and multi-member gzip made with the command-line tools from
    the uncompressed dump (same content);
  * pickle.dump of it with protocols 0 to 5; a bare array; a list;
  * scikit-learn: LogisticRegression, MLPClassifier, Pipeline(StandardScaler,
    PCA, LogisticRegression), DecisionTreeClassifier; joblib and pickle;
  * joblib <= 0.9 layouts: NDArrayWrapper + sibling .npy files, and a "ZF"
    compressed pickle with ZNDArrayWrapper + sibling .z files.
For each file the expected tensors are computed from the loaded object with
the naming rule of src/readers/sklearn.h (attributes, dict keys, list
indexes joined by "/", Pipeline steps by name, numpy.random state skipped),
and modelfs must show exactly that set under tensors/ with identical dtype,
shape and sha256 of data (C-order little-endian), plus format, metadata of
estimators and security/. Exit 0 pass, 1 fail, 77 skipped.
"""
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import joblib
except ImportError as ex:
    print(f"skipped: {ex}")
    sys.exit(77)

import mfs_fetch

MODELFS = os.environ.get("MODELFS")
if not MODELFS:
    print("MODELFS is not set")
    sys.exit(1)
TIMEOUT = 120
FAILS = []
# files checked with more `cat`s (the others are variants of their content)
FULL = {"arrays.joblib", "arrays_lz4.joblib", "arrays_p2.pkl", "arrays_p5.pkl"}


def fail(msg):
    FAILS.append(msg)
    print("FAIL", msg)


MODELS = {}  # model path -> mfs_fetch.Model: every `cat` of a model from a few batched reads


def mfs(*args):
    """(returncode, stdout, stderr) of `modelfs ARGS`; `cat MODEL PATH` is
    served from the model's batched reads (mfs_fetch.py), each path's
    result as if read alone. Raises mfs_fetch.Crash on a crash or hang."""
    if args[0] == "cat" and len(args) == 3 and args[1] in MODELS:
        m = MODELS[args[1]]
        rc, out, err = m.result(args[2])
        if rc == 0 and not m.size_ok(args[2]):
            return 1, out, f"{args[2]}: ls -l says {m.entries[args[2]][1]} bytes, cat gives {len(out)}"
        return rc, out, err
    return mfs_fetch.run(args, MODELFS, TIMEOUT)


# ---- expected tensors: the naming rule of sklearn.h, on live objects ----

SCALARS = (str, bytes, int, float, bool, type(None))


def is_object(x):
    return not isinstance(x, SCALARS + (list, tuple, dict, set, frozenset))


def named_list(v):
    if not isinstance(v, (list, tuple)) or not v:
        return False
    for it in v:
        if not isinstance(it, tuple) or not 2 <= len(it) <= 3 or not isinstance(it[0], str):
            return False
    return any(is_object(it[1]) for it in v)


def key_name(k):
    if isinstance(k, bool):
        return str(k)
    if isinstance(k, (str, int)):
        return str(k)
    return repr(k)


def le_bytes(a):
    a = np.asarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return a.dtype.name, list(a.shape), hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def expected_tensors(obj, stem):
    out = {}

    def add(path, a):
        if a.dtype.kind not in "biufc" or a.dtype.names or a.dtype.subdtype:
            return
        if a.dtype.kind in "fc" and a.dtype.itemsize > {"f": 8, "c": 16}[a.dtype.kind]:
            return
        out.setdefault(path or stem, le_bytes(a))

    def join(p, c):
        return f"{p}/{c}" if p else c

    def walk(o, path, depth, onpath):
        if depth > 64:
            return
        if isinstance(o, np.ndarray):
            add(path, o)
            return
        if isinstance(o, SCALARS):
            return
        if type(o).__module__.startswith("numpy.random"):
            return
        if id(o) in onpath:
            return
        onpath.add(id(o))
        if isinstance(o, dict):
            for k, v in o.items():
                walk_val(v, join(path, key_name(k)), depth, onpath)
        elif isinstance(o, (list, tuple)):
            for i, v in enumerate(o):
                walk(v, join(path, str(i)), depth + 1, onpath)
        else:
            rv = o.__reduce_ex__(4)
            state = rv[2] if len(rv) > 2 else None
            dicts = []
            if isinstance(state, dict):
                dicts = [state]
            elif isinstance(state, tuple) and len(state) == 2:
                dicts = [d for d in state if isinstance(d, dict)]
            pipeline = type(o).__name__ == "Pipeline"
            for d in dicts:
                for k, v in d.items():
                    if pipeline and k == "steps" and named_list(v):
                        for it in v:
                            walk(it[1], join(path, it[0]), depth + 1, onpath)
                    else:
                        walk_val(v, join(path, key_name(k)), depth, onpath)
            items = rv[3] if len(rv) > 3 and rv[3] is not None else None
            if items is not None:
                for i, v in enumerate(items):
                    walk(v, join(path, str(i)), depth + 1, onpath)
        onpath.discard(id(o))

    def walk_val(v, path, depth, onpath):
        if named_list(v):
            for it in v:
                walk(it[1], join(path, it[0]), depth + 2, onpath)
        else:
            walk(v, path, depth + 1, onpath)

    walk(obj, "", 0, set())
    return out


# ---- making the files ----

def arrays():
    rng = np.random.RandomState(0)
    d = {}
    for dt in ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
               "uint16", "uint32", "uint64", "bool", "complex64", "complex128"]:
        a = rng.standard_normal(size=(3, 5)) * 100
        if dt == "bool":
            a = a > 0
        elif dt.startswith("complex"):
            a = a + 1j * rng.standard_normal(size=(3, 5))
        d[dt] = a.astype(dt)
    d["be_f8"] = np.arange(12, dtype=">f8").reshape(3, 4) / 7
    d["be_i4"] = np.arange(-6, 6, dtype=">i4").reshape(2, 6)
    d["be_c16"] = (np.arange(6) + 2j * np.arange(6)).astype(">c16")
    d["fortran"] = np.asfortranarray(np.arange(24, dtype="float32").reshape(2, 3, 4))
    d["scalar0d"] = np.array(3.25)
    d["empty"] = np.zeros((0, 3), dtype="int16")
    base = np.arange(40, dtype="int32").reshape(5, 8)
    d["view"] = base[:, ::3]
    d["big"] = rng.standard_normal(size=(3, 40000)).astype("float32")  # 480 KB: 2 cache chunks
    d["matrix"] = np.matrix([[1, 2, 3]], dtype="int64")
    d["nested"] = {"a": [np.arange(3, dtype="uint8"), {"b": np.ones((2, 2))}], 7: np.zeros(4)}
    d["objects"] = np.array([1, "abc", {"k": 2}], dtype=object)
    d["strings"] = np.array(["ab", "cde"])
    d["text"] = "not an array"
    d["number"] = 42
    return d


def sklearn_models():
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.decomposition import PCA
        from sklearn.tree import DecisionTreeClassifier
    except ImportError:
        return {}
    import warnings
    warnings.filterwarnings("ignore")
    rng = np.random.RandomState(1)
    X = rng.standard_normal(size=(80, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    y3 = (X[:, 2] > 0.5).astype(int) + (X[:, 3] > 0).astype(int)
    return {
        "logreg": LogisticRegression(C=0.5, max_iter=200).fit(X, y),
        "mlp": MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=30, random_state=0).fit(X, y3),
        "pipe": Pipeline([("scaler", StandardScaler()), ("pca", PCA(n_components=3)),
                          ("clf", LogisticRegression())]).fit(X, y3),
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
    }


def make_old_joblib(d, objs):
    """joblib <= 0.9 layouts (read by joblib.numpy_pickle_compat)."""
    from joblib.numpy_pickle_compat import NDArrayWrapper, ZNDArrayWrapper, write_zfile
    made = []
    # NDArrayWrapper: arrays in sibling .npy files, plain pickle
    arrs = {"w": np.arange(10, dtype="float64").reshape(2, 5), "f": np.asfortranarray(np.ones((3, 2), "int32")),
            "be": np.arange(4, dtype=">i8")}
    wrapped = {}
    for i, (k, a) in enumerate(arrs.items()):
        fn = f"old_npy.pkl_{i + 1:02d}.npy"
        np.save(os.path.join(d, fn), a)
        wrapped[k] = NDArrayWrapper(fn, np.ndarray)
    with open(os.path.join(d, "old_npy.pkl"), "wb") as f:
        pickle.dump(wrapped, f, protocol=2)
    made.append("old_npy.pkl")
    # ZNDArrayWrapper: raw bytes in sibling ZF files, the pickle ZF too
    wrapped = {}
    for i, (k, a) in enumerate(arrs.items()):
        fn = f"old_z.pkl_{i + 1:02d}.npy.z"
        _, init_args, state = a.__reduce__()
        with open(os.path.join(d, fn), "wb") as f:
            write_zfile(f, state[-1], compress=3)
        wrapped[k] = ZNDArrayWrapper(fn, init_args, state[:-1])
    import io
    bio = io.BytesIO()
    pickle.dump(wrapped, bio, protocol=2)
    with open(os.path.join(d, "old_z.pkl"), "wb") as f:
        write_zfile(f, bio.getvalue(), compress=3)
    made.append("old_z.pkl")
    return made


def make_all(d):
    """Writes the files; returns {file: (kind, loaded object, extra checks)}."""
    files = {}
    data = arrays()
    joblib.dump(data, os.path.join(d, "arrays.joblib"))
    files["arrays.joblib"] = "joblib"
    import joblib.compressor as jc
    for m in ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"]:
        if m not in jc._COMPRESSORS:
            print(f"note: joblib has no {m} compressor here")
            continue
        try:
            joblib.dump(data, os.path.join(d, f"arrays_{m}.joblib"), compress=(m, 3))
            files[f"arrays_{m}.joblib"] = "joblib"
        except (ValueError, ImportError) as ex:
            print(f"note: joblib {m}: {ex}")
    joblib.dump(data, os.path.join(d, "arrays_p2.joblib"), protocol=2)
    files["arrays_p2.joblib"] = "joblib"
    raw = open(os.path.join(d, "arrays.joblib"), "rb").read()
    if shutil.which("zstd"):
        subprocess.run(["zstd", "-q", "-3", os.path.join(d, "arrays.joblib"), "-o",
                        os.path.join(d, "arrays_cli.joblib.zst")], check=True)
        files["arrays_cli.joblib.zst"] = ("joblib", "arrays.joblib")
    if shutil.which("gzip"):
        half = len(raw) // 2
        with open(os.path.join(d, "arrays_members.joblib.gz"), "wb") as f:
            for part in (raw[:half], raw[half:]):
                f.write(subprocess.run(["gzip", "-c"], input=part, stdout=subprocess.PIPE,
                                       check=True).stdout)
        files["arrays_members.joblib.gz"] = ("joblib", "arrays.joblib")
    if shutil.which("lz4"):
        subprocess.run(["lz4", "-q", "-BD", os.path.join(d, "arrays.joblib"),
                        os.path.join(d, "arrays_cli.joblib.lz4")], check=True)
        files["arrays_cli.joblib.lz4"] = ("joblib", "arrays.joblib")
    for p in (0, 1, 2, 3, 4, 5):
        with open(os.path.join(d, f"arrays_p{p}.pkl"), "wb") as f:
            pickle.dump(data, f, protocol=p)
        files[f"arrays_p{p}.pkl"] = "pickle"
    with open(os.path.join(d, "bare.pkl"), "wb") as f:
        pickle.dump(np.arange(20, dtype=">f4").reshape(4, 5), f, protocol=4)
    files["bare.pkl"] = "pickle"
    with open(os.path.join(d, "list.pkl"), "wb") as f:
        pickle.dump([np.arange(3), np.ones((2, 2), "float32"), "x", np.zeros(1, "bool")], f, protocol=2)
    files["list.pkl"] = "pickle"
    for name, est in sklearn_models().items():
        joblib.dump(est, os.path.join(d, f"{name}.joblib"), compress=3 if name == "logreg" else 0)
        files[f"{name}.joblib"] = "joblib"
        with open(os.path.join(d, f"{name}.pkl"), "wb") as f:
            pickle.dump(est, f, protocol=2 if name == "pipe" else 5)
        files[f"{name}.pkl"] = "pickle"
    for fn in make_old_joblib(d, data):
        files[fn] = "joblib"
    return files


def load(path, kind):
    if kind == "pickle":
        with open(path, "rb") as f:
            return pickle.load(f)
    return joblib.load(path)


def tensor_dirs(paths):
    """Tensor dirs under tensors/ among the paths of `modelfs ls -l -R`."""
    return sorted(p[len("tensors/"):-len("/data")] for p in paths
                  if p.startswith("tensors/") and p.endswith("/data") and p[:-5] + "/dtype" in paths)


def check_file(d, fn, spec):
    kind, src = (spec, fn) if isinstance(spec, str) else spec
    path = os.path.join(d, fn)
    obj = load(os.path.join(d, src), "pickle" if src.endswith(".pkl") and not src.startswith("old_") else "joblib")
    stem = fn.split(".")[0]
    exp = expected_tensors(obj, stem)
    try:
        m = MODELS[path] = mfs_fetch.Model(path, MODELFS, TIMEOUT)
    except mfs_fetch.NotOpen as e:
        fail(f"{fn}: modelfs ls failed: {e.err.strip()}")
        return
    # everything read below, in one batch (the rest is read when asked)
    m.fetch([p for p in ["format", "summary", "SHA256SUMS", "metadata/class", "metadata/params.json",
                         "security/summary"] + [f"tensors/{t}/{v}" for t in tensor_dirs(m.entries)
                                                for v in ("dtype", "shape", "data", "data.npy")]
             if p in m.entries])
    fmt = mfs("cat", path, "format")[1].decode().strip()
    want_fmt = "joblib" if kind == "joblib" or fn.endswith((".zst", ".gz", ".lz4")) else "pickle"
    if fn.startswith("old_npy"):
        want_fmt = "joblib"
    if fmt != want_fmt:
        fail(f"{fn}: format {fmt}, expected {want_fmt}")
    got = tensor_dirs(m.entries)
    missing = sorted(set(exp) - set(got))
    extra = sorted(set(got) - set(exp))
    if missing or extra:
        fail(f"{fn}: tensors differ: missing {missing[:8]}, extra {extra[:8]}")
    # every tensor: dtype/shape from `summary`, sha256 from SHA256SUMS (one
    # call each: SHA256SUMS hashes what `data` serves); and for a few,
    # `cat .../data | sha256sum` too, which must agree
    import re
    summ = {}
    for ln in mfs("cat", path, "summary")[1].decode().splitlines():
        m = re.match(r"^(\S+) (\[.*?\]) (\d+) (.*)$", ln)
        if m:
            summ[m.group(4)] = (m.group(1), json.loads(m.group(2)))
    sums = {}
    for ln in mfs("cat", path, "SHA256SUMS")[1].decode().splitlines():
        h, _, n = ln.partition("  ")
        sums[n[:-len("/data")]] = h
    bad = 0
    common = sorted(set(exp) & set(got))
    for name in common:
        dt, shape, sha = exp[name]
        gdt, gshape = summ.get(name, ("?", None))
        if (gdt, gshape, sums.get(name)) != (dt, shape, sha):
            bad += 1
            fail(f"{fn}: tensors/{name}: summary/SHA256SUMS say {gdt} {gshape} {str(sums.get(name))[:12]}, "
                 f"expected {dt} {shape} {sha[:12]}")
    # `cat data` of a few tensors (all files), all of those with a layout of
    # interest for the main files; the rest rely on SHA256SUMS (one call)
    full = fn in FULL or not fn.startswith("arrays")
    picks = [n for n in common if n in (("big", "fortran", "be_c16", "view") if full else ("big",))]
    picks = picks or common[:1]
    for name in picks + (common[-1:] if full else []):
        dt, shape, sha = exp[name]
        gdt = mfs("cat", path, f"tensors/{name}/dtype")[1].decode().strip()
        gshape = json.loads(mfs("cat", path, f"tensors/{name}/shape")[1].decode())
        rc, data, err = mfs("cat", path, f"tensors/{name}/data")
        gsha = hashlib.sha256(data).hexdigest()
        if (gdt, gshape, gsha) != (dt, shape, sha) or rc != 0:
            bad += 1
            fail(f"{fn}: tensors/{name}: got {gdt} {gshape} {gsha[:12]} (rc {rc} {err.strip()}), "
                 f"expected {dt} {shape} {sha[:12]}")
    # data.npy of one tensor reads back with numpy
    if exp and full:
        name = sorted(exp)[0]
        npy = mfs("cat", path, f"tensors/{name}/data.npy")[1]
        import io
        a = np.load(io.BytesIO(npy))
        if le_bytes(a) != exp[name]:
            fail(f"{fn}: tensors/{name}/data.npy differs")
    # estimators: class and hyper-parameters
    if hasattr(obj, "get_params"):
        cls = mfs("cat", path, "metadata/class")[1].decode().strip()
        want = f"{type(obj).__module__}.{type(obj).__qualname__}"
        if cls != want:
            fail(f"{fn}: metadata/class {cls!r}, expected {want!r}")
        rc, pj, _ = mfs("cat", path, "metadata/params.json")
        params = json.loads(pj.decode()) if rc == 0 else {}
        for k, v in obj.get_params(deep=False).items():
            if isinstance(v, SCALARS) and not isinstance(v, bytes) and params.get(k, "?") != v:
                fail(f"{fn}: metadata/params.json {k} = {params.get(k, '(missing)')!r}, expected {v!r}")
        sec = mfs("cat", path, "security/summary")[1].decode()
        if type(obj).__name__ not in sec:
            fail(f"{fn}: security/summary does not name {type(obj).__name__}")
    print(f"{'ok  ' if not bad and not missing and not extra else 'BAD '} {fn}: {len(exp)} tensors ({fmt})")


def main():
    d = tempfile.mkdtemp(prefix="mfs-joblib-")
    try:
        files = make_all(d)
        for fn, spec in files.items():
            try:
                check_file(d, fn, spec)
            except (mfs_fetch.Crash, mfs_fetch.CatError) as ex:
                fail(f"{fn}: {ex}")
        # the object array and the str array are in raw/, not tensors
        rc, out, _ = mfs("ls", os.path.join(d, "arrays.joblib"), "raw/objects")
        if rc != 0:
            fail("arrays.joblib: raw/objects missing")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"{len(FAILS)} failures")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
