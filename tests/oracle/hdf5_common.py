"""hdf5_common.py: helpers shared by the HDF5/Keras oracle tests.

A Model wraps one input file seen through the no-mount mode of modelfs
(`modelfs tree`, `modelfs cat`, which print exactly what a mount shows):
listing, reading files, and the checks the tests repeat (a tensor dir's
dtype/shape/data against a numpy array as h5py reads it).
"""
import hashlib
import os
import subprocess
import sys

import mfs_listing

import numpy as np

MODELFS = os.environ.get("MODELFS", "")
TIMEOUT = 120


class Failure(Exception):
    pass


def run(args, what, check=True):
    """modelfs @args -> (rc, stdout bytes, stderr text); a hang or a crash
    (signal) is always a Failure, a non-zero exit too when @check."""
    try:
        p = subprocess.run([MODELFS] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: hung (> {TIMEOUT} s)")
    err = p.stderr.decode("utf-8", "replace").strip()
    if p.returncode < 0 or p.returncode >= 128:
        raise Failure(f"{what}: crashed (status {p.returncode}): {err[-300:]}")
    if check and p.returncode != 0:
        raise Failure(f"{what}: exit {p.returncode}: {err[-300:]}")
    return p.returncode, p.stdout, err


def escape(component):
    """LAYOUT.md escaping of one component: "" . .. % and control bytes."""
    if component == "":
        return "%00"
    if component == ".":
        return "%2E"
    if component == "..":
        return "%2E%2E"
    out = bytearray()
    for b in component.encode("utf-8"):
        if b == 0x25 or b < 0x20 or b == 0x7F:
            out += b"%%%02X" % b
        else:
            out.append(b)
    return out.decode("utf-8")


def esc_path(name):
    return "/".join(escape(c) for c in name.split("/"))


# numpy dtype -> the name modelfs writes to `dtype`
def dtype_name(dt):
    dt = np.dtype(dt)
    if dt.kind == "b":
        return "bool"
    if dt.kind == "c":
        return {8: "complex64", 16: "complex128"}[dt.itemsize]
    if dt.kind == "f":
        return {2: "float16", 4: "float32", 8: "float64"}[dt.itemsize]
    if dt.kind in "iu":
        return ("int" if dt.kind == "i" else "uint") + str(8 * dt.itemsize)
    raise ValueError(f"no modelfs dtype for {dt}")


def canonical_bytes(arr):
    """C-order little-endian bytes, as modelfs `data` serves them."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr.tobytes()


class Model:
    """One input through the no-mount mode. The listing comes from one
    `modelfs ls -l -R` (names, readdir order, exact sizes); file contents
    from `modelfs cat MODEL P1 P2 ...` in batches, split by those sizes, so
    a test runs a handful of processes, not one per file (each open forks
    the HDF5 canary, slow under sanitizers)."""

    BATCH = 200

    def __init__(self, path, opts=()):
        self.path = path
        self.opts = list(opts)
        _, out, _ = run(self.opts + ["ls", "-l", "-R", path], f"ls -l -R {path}")
        self.paths, self.size = [], {}
        for full, (is_dir, size) in mfs_listing.parse_ls_lr(
                out.decode("utf-8", "surrogateescape")).items():
            if is_dir:
                self.paths.append(full + "/")
            else:
                self.paths.append(full)
                self.size[full] = size
        self.set = set(self.paths)
        self.cache = {}
        self.fetched = False

    def _fetch(self, paths):
        for i in range(0, len(paths), self.BATCH):
            part = paths[i:i + self.BATCH]
            _, out, _ = run(self.opts + ["cat", self.path] + part, f"cat {self.path} ({len(part)} files)")
            pos = 0
            for p in part:
                n = self.size[p]
                self.cache[p] = out[pos:pos + n]
                pos += n
            if pos != len(out):
                raise Failure(f"cat {self.path}: {len(out)} bytes for files whose sizes add up to {pos}")

    def cat(self, p):
        if p not in self.cache:
            if p not in self.size:
                raise Failure(f"{self.path}: {p} does not exist")
            if not self.fetched:  # everything but the derived views, once
                self.fetched = True
                self._fetch([q for q in self.size if not q.endswith(("/data.npy", "/values", "/stats"))
                             and q not in self.cache])
            if p not in self.cache:
                self._fetch([p])
        return self.cache[p]

    def text(self, p):
        return self.cat(p).decode("utf-8")

    def has(self, p):
        return p in self.set or p + "/" in self.set

    def ls(self, d):
        """Entries of directory @d in readdir order."""
        pre = d.rstrip("/") + "/"
        out = []
        for p in self.paths:
            if p.startswith(pre):
                rest = p[len(pre):].rstrip("/")
                if rest and "/" not in rest:
                    out.append(rest)
        return out

    def tensor_dirs(self, under):
        pre = under.rstrip("/") + "/"
        return [p[:-5] for p in self.paths if p.startswith(pre) and p.endswith("/data")
                and p[:-5] + "/dtype" in self.set]

    def check_tensor(self, d, arr, what):
        """Tensor dir @d holds numpy array @arr (dtype, shape, data bytes)."""
        if d + "/data" not in self.set:
            raise Failure(f"{what}: {d}/data missing")
        dt = self.text(d + "/dtype").strip()
        if dt != dtype_name(arr.dtype):
            raise Failure(f"{what}: {d}/dtype is {dt}, h5py says {dtype_name(arr.dtype)}")
        shape = self.text(d + "/shape").strip()
        want = "[" + ", ".join(str(x) for x in arr.shape) + "]"
        if shape != want:
            raise Failure(f"{what}: {d}/shape is {shape}, h5py says {want}")
        data = self.cat(d + "/data")
        if data != canonical_bytes(arr):
            raise Failure(f"{what}: {d}/data differs from h5py's reading "
                          f"({len(data)} vs {arr.nbytes} bytes)")

    def sha(self, d):
        return hashlib.sha256(self.cat(d + "/data")).hexdigest()


def run_cases(cases, only=None):
    """Runs each (name, fn) of @cases whose name contains @only (all when
    None): fn() -> a note printed on success, a Failure (or any exception,
    traceback printed) -> its error. @return [(name, error or None)]."""
    results = []
    for name, fn in cases:
        if only and only not in name:
            continue
        try:
            note = fn()
            print(f"  {name}: {note}")
            results.append((name, None))
        except Failure as e:
            results.append((name, str(e)))
        except Exception as e:
            import traceback
            traceback.print_exc()
            results.append((name, f"{type(e).__name__}: {e}"))
    return results


def main_wrapper(fn):
    """Runs fn() -> list of (name, error or None); prints a row each."""
    if not MODELFS:
        print("set MODELFS to the modelfs binary")
        sys.exit(2)
    results = fn()
    bad = 0
    for name, err in results:
        print(f"{'FAIL' if err else 'PASS'}  {name}" + (f"  {err}" if err else ""))
        bad += err is not None
    print(f"{len(results) - bad} passed, {bad} failed")
    sys.exit(1 if bad else 0)
