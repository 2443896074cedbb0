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

import mfs_fetch
import mfs_listing

MODELFS = os.environ.get("MODELFS", "")
TIMEOUT = 120


class Failure(Exception):
    pass


def run(args, what):
    """(returncode, stdout bytes, stderr text) of `modelfs @args`; raises
    Failure on a hang, a crash or a sanitizer report (mfs_fetch.run)."""
    try:
        rc, out, err = mfs_fetch.run(args, MODELFS, TIMEOUT, what)
    except mfs_fetch.Crash as e:
        raise Failure(str(e))
    return rc, out, err.strip()


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
    """One file as modelfs shows it (mfs_fetch.Model: `ls -l -R` once, files
    read in batches split by their `ls -l` sizes, which checks them). Every
    small file outside the tensor dirs (format, summary, SHA256SUMS,
    metadata/, security/, optimizer/ texts ...) and the dtype, shape and data
    of every tensors/ dir are read in the first batch, so the checks' later
    cat()s mostly start no process."""

    def __init__(self, path):
        self.path = path
        try:
            self.m = mfs_fetch.Model(path, MODELFS, TIMEOUT)
        except mfs_fetch.NotOpen as e:
            raise Failure(f"does not open: {e.err.strip()[-300:]}")
        except mfs_listing.ListingError as e:
            raise Failure(str(e))
        except mfs_fetch.Crash as e:
            raise Failure(str(e))
        self.entries = self.m.entries
        self.paths = set(self.entries)
        self.tdirs = sorted(p[:-5] for p in self.paths
                            if p.endswith("/data") and p[:-5] + "/dtype" in self.paths
                            and p[:-5] + "/shape" in self.paths)
        self._prefetch = [p for p, (isdir, size) in self.entries.items()
                          if not isdir and size <= 1 << 20 and
                          not any(p.startswith(t + "/") for t in self.tdirs)]
        self._prefetch += [f"{t}/{v}" for t in self.tdirs if t.startswith("tensors/")
                           for v in ("dtype", "shape", "data")]

    def fetch(self, paths):
        """Reads @paths (plus, the first time, the small files above) in as
        few processes as it can; raises Failure naming the first path that
        does not read or whose size differs from its `ls -l` size."""
        paths = list(dict.fromkeys(paths))
        try:
            self.m.fetch(paths + self._prefetch)
            self._prefetch = []
            for p in paths:
                self.m.cat(p)
        except (mfs_fetch.CatError, mfs_fetch.Crash) as e:
            raise Failure(str(e))

    def cat(self, p):
        self.fetch([p])
        return self.m.cat(p)

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
