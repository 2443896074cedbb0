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
import subprocess

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


def parse_ls_r(text):
    """`modelfs ls -R` output -> set of relative entry paths."""
    paths, cur, after_blank = set(), "", True
    for ln in text.split("\n"):
        if ln == "":
            after_blank = True
            continue
        if after_blank and ln.endswith(":"):
            d = ln[:-1]
            for pre in ("./", "/"):
                if d.startswith(pre):
                    d = d[len(pre):]
            cur = "" if d in (".", "/", "") else d
        else:
            paths.add(f"{cur}/{ln}" if cur else ln)
        after_blank = False
    return paths


class Tree:
    """One file as modelfs shows it."""

    def __init__(self, path):
        self.path = path
        rc, out, err = run(["ls", "-R", path], f"{path}: ls -R")
        if rc != 0:
            raise Failure(f"does not open: {err[-300:]}")
        self.paths = parse_ls_r(out.decode("utf-8", "surrogateescape"))
        self.tdirs = sorted(p[:-5] for p in self.paths
                            if p.endswith("/data") and p[:-5] + "/dtype" in self.paths
                            and p[:-5] + "/shape" in self.paths)

    def cat(self, p):
        rc, out, err = run(["cat", self.path, p], f"cat {p}")
        if rc != 0:
            raise Failure(f"cat {p}: exit {rc}: {err[:200]}")
        return out

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

    def find(self, name, dtype, shape, sha):
        """None when some candidate for @name matches, else why not."""
        cands = self.candidates(name)
        if not cands:
            return f"tensor {name!r} not found"
        first = None
        for c in cands[:8]:
            why = self.check_tensor(c, dtype, shape, sha)
            if why is None:
                return None
            first = first or why
        return first
