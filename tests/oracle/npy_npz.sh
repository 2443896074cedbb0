#!/usr/bin/env bash
# npy_npz.sh: the npy and npz readers against numpy (ctest oracle.npy_npz).
#
# 1. Every .npy/.npz of $MFS_SHARED/corpus/EXPECTED.json: for each tensor,
#    `modelfs cat FILE tensors/<name>/{dtype,shape,data}` equal EXPECTED
#    (dtype, shape, sha256 of the C-order little-endian bytes; "." is a
#    .npy's only tensor, named after the file stem), and numpy.load of
#    `cat .../data.npy` gives the same array.
# 2. Files written here by /usr/bin/python3's numpy: format versions 1.0,
#    2.0 (also with a header > 64 KiB) and 3.0, Fortran order, big-endian
#    '>f8' '>i4' '>i2' (also Fortran), bool, complex64/128, float16, every
#    integer width, scalars, empty arrays, npz stored and compressed with
#    many members and nested names, a large deflated member. `data` must
#    equal numpy's tobytes() of the little-endian C-order array, dtype and
#    shape numpy's, and numpy.load(cat data.npy) the original array.
# Every modelfs command runs under a timeout; a crash or hang fails.
# Without the corpus part 1 is skipped (part 2 still runs).
# Env (set by ctest): MODELFS, MFS_SHARED, PYTHON.
set -u
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
here=$(cd "$(dirname "$0")" && pwd)
export MFS_SHARED=${MFS_SHARED:-$here/../../../shared}
"$PYTHON" -c 'import numpy' 2>/dev/null || { echo "skipped: $PYTHON has no numpy"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-npy.XXXXXX")
trap 'rm -rf "$work"' EXIT
export MFS_WORK=$work

exec "$PYTHON" - <<'PY'
import concurrent.futures, hashlib, io, json, os, subprocess, sys
import numpy as np

MODELFS = os.environ["MODELFS"]
CORPUS = os.path.join(os.environ["MFS_SHARED"], "corpus")
WORK = os.environ["MFS_WORK"]
TIMEOUT = 120
fails = []
passes = 0


def run(*args):
    p = subprocess.run([MODELFS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    if p.returncode < 0 or p.returncode >= 128:
        raise AssertionError(f"modelfs {' '.join(args)}: crashed (status {p.returncode})")
    if p.returncode != 0:
        raise AssertionError(f"modelfs {' '.join(args)}: exit {p.returncode}: "
                             f"{p.stderr.decode(errors='replace').strip()[:300]}")
    return p.stdout


def escape(c):
    if c == "":
        return "%00"
    if c in (".", ".."):
        return c.replace(".", "%2E")
    out = bytearray()
    for b in c.encode():
        out += b"%%%02X" % b if b == 0x25 or b < 0x20 or b == 0x7F else bytes([b])
    return out.decode()


def tpath(name):
    return "tensors/" + "/".join(escape(c) for c in name.split("/"))


def shape_text(shape):
    return "[" + ", ".join(str(int(d)) for d in shape) + "]\n"


def canonical(a):
    """C-order little-endian copy of @a (what `data` serves)."""
    a = np.asarray(a)
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<")))


DTYPE_NAMES = {"bool": np.bool_}


def itemsize(dtype_name):
    return np.dtype(DTYPE_NAMES.get(dtype_name, dtype_name)).itemsize


def check_tensors(path, tensors, head=(), summary=False):
    """dtype/shape/data and data.npy of every tensor of @path, read with
    one `modelfs cat` (one process per file keeps the test fast), after
    the one-line files @head and before `summary` when asked (the rest of
    the output). @tensors: list of (name, dtype, shape, sha or None, bytes
    or None, original array or None). Returns (the @head lines, the
    summary lines or None)."""
    paths = list(head)
    for name, *_ in tensors:
        tp = tpath(name)
        paths += [tp + "/dtype", tp + "/shape", tp + "/data", tp + "/data.npy"]
    out = io.BytesIO(run("cat", path, *paths, *(["summary"] if summary else [])))
    lines = [out.readline().decode() for _ in head]
    assert all(ln.endswith("\n") for ln in lines), f"cat {head}: not one line each: {lines}"
    for name, dtype, shape, sha, want_bytes, orig in tensors:
        got = out.readline().decode()
        assert got == dtype + "\n", f"{name}: dtype {got!r}, expected {dtype!r}"
        got = out.readline().decode()
        assert got == shape_text(shape), f"{name}: shape {got!r}, expected {shape_text(shape)!r}"
        nbytes = itemsize(dtype) * int(np.prod(shape, dtype=np.int64))
        data = out.read(nbytes)
        if sha is not None:
            h = hashlib.sha256(data).hexdigest()
            assert h == sha, f"{name}: data sha256 {h}, expected {sha}"
        if want_bytes is not None:
            assert data == want_bytes, \
                f"{name}: data differs ({len(data)} bytes, expected {len(want_bytes)})"
        npy = np.load(out)
        assert list(npy.shape) == list(shape), f"{name}: data.npy shape {npy.shape}"
        assert npy.tobytes() == data, f"{name}: data.npy bytes differ from data"
        if orig is not None:
            assert npy.dtype == orig.dtype.newbyteorder("="), f"{name}: data.npy dtype {npy.dtype}"
            assert np.array_equal(npy, orig, equal_nan=orig.dtype.kind in "fc"), \
                f"{name}: numpy.load(data.npy) differs from the original"
    if summary:
        return lines, out.read().decode().splitlines()
    assert out.read() == b"", "trailing bytes after the last tensor"
    return lines, None


def job(label, fn):
    try:
        fn()
        return label, None
    except subprocess.TimeoutExpired:
        return label, f"hung (> {TIMEOUT} s)"
    except AssertionError as e:
        return label, str(e)
    except Exception as e:  # a bug in this script is a failure too
        return label, f"{type(e).__name__}: {e}"


jobs = []

# ---- 1. the corpus ----
exp_path = os.path.join(CORPUS, "EXPECTED.json")
if os.path.exists(exp_path):
    expected = json.load(open(exp_path))
    for rel, ent in sorted(expected.items()):
        if not rel.endswith((".npy", ".npz")):
            continue
        path = os.path.join(CORPUS, rel)
        stem = os.path.basename(rel)[:-4]

        def corpus_file(path=path, rel=rel, ent=ent, stem=stem):
            (fmt,), summary = check_tensors(
                path, [(stem if name == "." else name, dtype, shape, sha, None, None)
                       for name, (dtype, shape, sha) in ent["tensors"].items()], ["format"], True)
            assert fmt == rel[-3:] + "\n", f"format is {fmt!r}"
            assert len(summary) == len(ent["tensors"]), \
                f"summary has {len(summary)} lines for {len(ent['tensors'])} tensors"
        jobs.append((f"corpus {rel}", corpus_file))
else:
    print(f"note: no corpus at {CORPUS}: corpus part skipped")

# ---- 2. generated files ----
rng = np.random.default_rng(1234)
arrays = {
    "f32": rng.standard_normal((3, 4)).astype("<f4"),
    "f16": rng.standard_normal((5, 3)).astype("<f2"),
    "f64_nan": np.array([1.5, np.nan, -np.inf, 0.0, 1e300]),
    "be_f8": rng.standard_normal((4, 5)).astype(">f8"),
    "be_i4": rng.integers(-2**31, 2**31 - 1, size=(6, 7)).astype(">i4"),
    "be_i2_fortran": np.asfortranarray(rng.integers(-999, 999, size=(3, 4)).astype(">i2")),
    "fortran": np.asfortranarray(rng.standard_normal((5, 7, 3))),
    "fortran_i8": np.asfortranarray(np.arange(24, dtype="<i8").reshape(2, 3, 4)),
    "bool": rng.integers(0, 2, size=(9,)).astype(bool),
    "c64": (rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))).astype("<c8"),
    "c128": (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype("<c16"),
    "be_c16": (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(">c16"),
    "be_c8_fortran": np.asfortranarray((rng.standard_normal((3, 4)) +
                                        1j * rng.standard_normal((3, 4))).astype(">c8")),
    "i8": rng.integers(-128, 127, size=(10,)).astype("i1"),
    "u8": rng.integers(0, 255, size=(2, 2, 2)).astype("u1"),
    "u16": rng.integers(0, 65535, size=(17,)).astype("<u2"),
    "u32": rng.integers(0, 2**32 - 1, size=(3,)).astype("<u4"),
    "u64": rng.integers(0, 2**63, size=(3,), dtype=np.uint64),
    "i64": rng.integers(-2**62, 2**62, size=(2, 5)),
    "scalar": np.array(3.25),
    "scalar_i": np.array(-7, dtype="<i2"),
    "empty": np.zeros((0,), dtype="<f4"),
    "empty2": np.zeros((0, 3), dtype="<i8"),
    "empty_fortran": np.asfortranarray(np.zeros((3, 0, 2), dtype=">f4")),
    "one_fortran": np.asfortranarray(np.arange(5.0).reshape(5, 1)),
}


def save_npy(name, a, version=None):
    path = os.path.join(WORK, name + ".npy")
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=version, allow_pickle=False)
    return path


def npy_case(name, a, version=None, fname=None):
    def fn():
        path = save_npy(fname or name, a, version)
        (fmt, ver), _ = check_tensors(path, [(fname or name, a.dtype.newbyteorder("=").name, a.shape,
                                              None, canonical(a).tobytes(), a)],
                                      ["format", "metadata/npy_version"])
        assert fmt == "npy\n", f"format {fmt!r}"
        want_v = "%d.%d\n" % (version or (1, 0))
        assert ver == want_v, f"npy_version {ver!r}, expected {want_v!r}"
    return fn


for name, a in arrays.items():
    jobs.append((f"npy {name}", npy_case(name, a)))
jobs.append(("npy v2.0", npy_case("f32", arrays["f32"], (2, 0), "v2")))
jobs.append(("npy v3.0", npy_case("fortran", arrays["fortran"], (3, 0), "v3")))
jobs.append(("npy v2.0 be", npy_case("be_i4", arrays["be_i4"], (2, 0), "v2be")))


def big_header():
    """A 2.0 file whose header is > 65535 bytes (padding the dict, as a
    writer with a long header would): numpy itself reads it back."""
    a = arrays["be_f8"]
    h = "{'descr': '>f8', 'fortran_order': False, 'shape': (4, 5), }"
    total = (12 + len(h) + 70000 + 1 + 63) // 64 * 64
    hdr = h + " " * (total - 12 - len(h) - 1) + "\n"
    path = os.path.join(WORK, "bighdr.npy")
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x02\x00" + len(hdr).to_bytes(4, "little") + hdr.encode("latin1"))
        f.write(a.tobytes())
    assert np.array_equal(np.load(path, max_header_size=200000), a)
    check_tensors(path, [("bighdr", "float64", a.shape, None, canonical(a).tobytes(), a)])


jobs.append(("npy 2.0 header > 64 KiB", big_header))


def npz_case(label, fname, members, compressed):
    def fn():
        path = os.path.join(WORK, fname)
        (np.savez_compressed if compressed else np.savez)(path, **members)
        back = np.load(path)
        for k, a in members.items():
            assert np.array_equal(back[k], a, equal_nan=True)
        (fmt, comp), summary = check_tensors(
            path, [(k, a.dtype.newbyteorder("=").name, a.shape, None, canonical(a).tobytes(), a)
                   for k, a in members.items()], ["format", "metadata/compression"], True)
        assert fmt == "npz\n", f"format {fmt!r}"
        assert comp == ("deflate\n" if compressed else "stored\n"), f"compression {comp!r}"
        assert len(summary) == len(members), f"summary: {len(summary)} lines"
        if compressed:
            for k in members:
                info = json.loads(run("cat", path, tpath(k) + "/info.json"))
                assert info.get("compression") == "deflate", f"{k}: info.json {info}"
                assert info.get("member") == k + ".npy", f"{k}: info.json {info}"
                break  # one is enough: the same code places every member
    return fn


many = dict(arrays)
many.update({f"layer{i}/w": rng.standard_normal((i + 1, 3)).astype("<f4") for i in range(40)})
many.update({"deep/a/b/c": np.arange(6, dtype=">u4").reshape(3, 2)})
jobs.append(("npz stored, many members", npz_case("stored", "many.npz", many, False)))
jobs.append(("npz compressed, many members", npz_case("compressed", "many_c.npz", many, True)))
# np.savez's positional arrays: arr_0, arr_1
jobs.append(("npz positional", lambda: (
    np.savez(os.path.join(WORK, "pos.npz"), arrays["f32"], arrays["bool"]),
    check_tensors(os.path.join(WORK, "pos.npz"),
                  [("arr_0", "float32", (3, 4), None, arrays["f32"].tobytes(), arrays["f32"]),
                   ("arr_1", "bool", (9,), None, arrays["bool"].tobytes(), arrays["bool"])]))))
big = {"big": rng.integers(0, 50, size=(6_000_000,)).astype("<i4"),
       "big_be_fortran": np.asfortranarray(rng.integers(0, 9, size=(700, 900)).astype(">i8"))}
jobs.append(("npz large deflated members", npz_case("large", "large.npz", big, True)))

with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
    for label, err in ex.map(lambda j: job(*j), jobs):
        if err:
            fails.append(label)
            print(f"FAIL  {label}: {err}")
        else:
            passes += 1
            print(f"ok    {label}")
print(f"{passes} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
PY
