"""pytorch_common.py: what the PyTorch oracle tests share: running the
no-mount lister (`modelfs ls -R`, `modelfs cat`, which print what a mount
shows) and finding an expected tensor in the tree.

Where an expected name is looked for (the mapping documented in
docs/pytorch.md): tensors/<name> (state_dict keys: one component, "/" in a
key nests), else raw/<name>, else any tensor dir whose path ends with
"/<name>" (nested checkpoint levels: raw/data.pkl/optimizer_state_dict/
state/0/exp_avg for "optimizer_state_dict/state/0/exp_avg"); "." is the
file's only tensor under tensors/."""
import hashlib
import json
import os
import re
import subprocess

import mfs_listing

MODELFS = os.environ.get("MODELFS", "")
TIMEOUT = 120


class Failure(Exception):
    pass


def run(args, what):
    """(returncode, stdout bytes, stderr text) of `modelfs @args`; raises
    Failure on a hang or a crash."""
    try:
        p = subprocess.run([MODELFS] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: hung (> {TIMEOUT} s)")
    err = p.stderr.decode("utf-8", "replace").strip()
    if p.returncode < 0 or p.returncode >= 128:
        raise Failure(f"{what}: crashed (status {p.returncode}): {err[-300:]}")
    return p.returncode, p.stdout, err


def escape(c):
    """LAYOUT.md escaping of one path component."""
    if c == "":
        return "%00"
    if c in (".", ".."):
        return c.replace(".", "%2E")
    out = bytearray()
    for b in c.encode("utf-8"):
        out += b"%%%02X" % b if (b == 0x25 or b < 0x20 or b == 0x7F) else bytes([b])
    return out.decode("utf-8")


def parse_ls_lr(text):
    """`modelfs ls -l -R` output -> {path: (is_dir, size)} (mfs_listing.py)."""
    try:
        return mfs_listing.parse_ls_lr(text)
    except mfs_listing.ListingError as e:
        raise Failure(str(e))


class Tree:
    """One file as modelfs shows it; files are read in batches (`modelfs
    cat MODEL P1 P2 ...`, split by the `ls -l` sizes, which checks them)."""

    BATCH = 60

    def __init__(self, path):
        self.path = path
        rc, out, err = run(["ls", "-l", "-R", path], f"{path}: ls -l -R")
        if rc != 0:
            raise Failure(f"does not open: {err[-300:]}")
        self.entries = parse_ls_lr(out.decode("utf-8", "surrogateescape"))
        self.paths = set(self.entries)
        self.tdirs = sorted(p[:-5] for p in self.paths
                            if p.endswith("/data") and p[:-5] + "/dtype" in self.paths
                            and p[:-5] + "/shape" in self.paths)
        self.files = {}

    def fetch(self, paths):
        todo = [p for p in dict.fromkeys(paths) if p not in self.files]
        for i in range(0, len(todo), self.BATCH):
            chunk = todo[i:i + self.BATCH]
            sizes = [self.entries.get(p, (True, 0))[1] for p in chunk]
            rc, out, err = run(["cat", self.path] + chunk, "cat")
            if rc == 0 and len(out) == sum(sizes) and all(p in self.entries for p in chunk):
                off = 0
                for p, n in zip(chunk, sizes):
                    self.files[p] = out[off:off + n]
                    off += n
                continue
            for p in chunk:  # pinpoint
                rc, out, err = run(["cat", self.path, p], f"cat {p}")
                if rc != 0:
                    raise Failure(f"cat {p}: exit {rc}: {err[:200]}")
                if p in self.entries and len(out) != self.entries[p][1]:
                    raise Failure(f"{p}: ls -l says {self.entries[p][1]} bytes, cat gives {len(out)}")
                self.files[p] = out

    def cat(self, p):
        self.fetch([p])
        return self.files[p]

    def text(self, p):
        return self.cat(p).decode("utf-8", "replace")

    def candidates(self, name):
        if name == ".":
            model = [t for t in self.tdirs if t.startswith("tensors/")]
            return model if len(model) == 1 else []
        esc = "/".join(escape(c) for c in name.split("/"))
        for top in ("tensors", "raw"):
            if f"{top}/{esc}" in self.tdirs:
                return [f"{top}/{esc}"]
        return sorted((t for t in self.tdirs if t.endswith("/" + esc)), key=len)

    def check_tensor(self, tdir, dtype, shape, sha):
        got = self.text(tdir + "/dtype").strip()
        if got != dtype:
            return f"{tdir}: dtype {got}, expected {dtype}"
        s = json.loads(self.text(tdir + "/shape"))
        if s != list(shape):
            return f"{tdir}: shape {s}, expected {list(shape)}"
        h = hashlib.sha256(self.cat(tdir + "/data")).hexdigest()
        if h != sha:
            return f"{tdir}: data sha256 {h[:16]}..., expected {sha[:16]}..."
        return None

    def check_all(self, expected):
        """{name: (dtype, shape, sha)} -> list of problems (empty: all found
        and equal)."""
        cands = {n: self.candidates(n) for n in expected}
        self.fetch([f"{c[0]}/{f}" for c in cands.values() if c for f in ("dtype", "shape", "data")])
        problems = []
        for name, (dtype, shape, sha) in expected.items():
            if not cands[name]:
                problems.append(f"tensor {name!r} not found")
                continue
            first = None
            for c in cands[name][:8]:
                why = self.check_tensor(c, dtype, shape, sha)
                if why is None:
                    break
                first = first or why
            else:
                problems.append(first)
        return problems
