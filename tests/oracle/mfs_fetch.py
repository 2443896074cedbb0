"""mfs_fetch.py: many files of one model read through the no-mount CLI in a
few processes, for the oracles (tests/oracle/*.py).

`modelfs ls -l -R MODEL` once (every path and its st_size, mfs_listing.py),
then `modelfs cat MODEL P1 P2 ...` for many paths at once, its output split
by those sizes. A batch that fails (a path that does not read, a length
that is not the sum of the sizes) is split in halves until each failing
path stands alone, so every path ends with its own exit status, bytes and
stderr as if it had been read by itself, and a st_size that differs from
the content is found (a lone path whose length is not its size).

A crash (signal, exit >= 128), a sanitizer report or a hang of any modelfs
process raises Crash; nothing else raises except Model() on a model that
does not open (NotOpen) and cat() of a path that failed (CatError).

Env: MODELFS (the binary) unless given."""
import os
import re
import subprocess

import mfs_listing

SANITIZER = re.compile(r"(ERROR: \w+Sanitizer: .*|\S+:\d+:\d+: runtime error: .*)")


class Crash(Exception):
    pass


class NotOpen(Exception):
    def __init__(self, rc, err):
        super().__init__(f"does not open (exit {rc}): {err[-300:]}")
        self.rc, self.err = rc, err


class CatError(Exception):
    def __init__(self, path, rc, err, what=None):
        super().__init__(what or f"cat {path}: exit {rc}: {err[:200]}")
        self.path, self.rc, self.err = path, rc, err


def run(args, modelfs=None, timeout=120, what=None):
    """(returncode, stdout bytes, stderr text) of `modelfs @args`. Raises
    Crash on a hang, a signal or exit >= 128, or a sanitizer report (the
    message starts with @what, default "modelfs ARGS")."""
    what = what or "modelfs " + " ".join(args[:3]) + (" ..." if len(args) > 3 else "")
    try:
        p = subprocess.run([modelfs or os.environ["MODELFS"]] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Crash(f"{what}: hung (> {timeout} s)")
    err = p.stderr.decode("utf-8", "replace")
    san = SANITIZER.search(err)
    if san:
        frame = re.search(r"#0 0x[0-9a-f]+ in (.*)", err)
        raise Crash(f"{what}: sanitizer: {san.group(0)[:200]}" +
                    (f" at {frame.group(1)[:120]}" if frame else ""))
    if p.returncode < 0 or p.returncode >= 128:
        raise Crash(f"{what}: crashed (status {p.returncode}): {err[-300:]}")
    return p.returncode, p.stdout, err


class Model:
    """One model as the CLI shows it. entries: {path: (is_dir, size)} from
    `ls -l -R` (symlinked placements expanded, mfs_listing.py); listing:
    that output as text."""

    BATCH = 1000  # paths per `modelfs cat` (the CLI takes any number)

    def __init__(self, path, modelfs=None, timeout=120):
        self.path, self.modelfs, self.timeout = path, modelfs, timeout
        rc, out, err = run(["ls", "-l", "-R", path], modelfs, timeout)
        if rc != 0:
            raise NotOpen(rc, err)
        self.listing = out.decode("utf-8", "surrogateescape")
        self.entries = mfs_listing.parse_ls_lr(self.listing)
        self.results = {}  # path -> (rc, bytes, stderr)

    def _cat(self, paths):
        return run(["cat", self.path] + paths, self.modelfs, self.timeout)

    def _fetch_split(self, chunk):
        rc, out, err = self._cat(chunk)
        sizes = [self.entries[p][1] for p in chunk]
        if rc == 0 and len(out) == sum(sizes):
            off = 0
            for p, n in zip(chunk, sizes):
                self.results[p] = (0, out[off:off + n], "")
                off += n
        elif len(chunk) == 1:
            self.results[chunk[0]] = (rc, out, err)
        else:
            half = len(chunk) // 2
            self._fetch_split(chunk[:half])
            self._fetch_split(chunk[half:])

    def fetch(self, paths):
        """Reads every path of @paths not read yet. Paths that are not files
        of the listing are read one by one (the CLI says what is wrong)."""
        todo = [p for p in dict.fromkeys(paths) if p not in self.results]
        known = [p for p in todo if p in self.entries and not self.entries[p][0]]
        for p in todo:
            if p not in self.entries or self.entries[p][0]:
                self.results[p] = self._cat([p])
        for i in range(0, len(known), self.BATCH):
            self._fetch_split(known[i:i + self.BATCH])

    def prefetch_small(self, limit=1 << 20, skip_under=()):
        """Reads every file of at most @limit bytes that is not under one of
        the directories @skip_under, so later cat()s of them are free."""
        pre = tuple(d + "/" for d in skip_under)
        self.fetch([p for p, (isdir, size) in self.entries.items()
                    if not isdir and size <= limit and not p.startswith(pre)])

    def result(self, p):
        """(exit status, bytes, stderr) of `modelfs cat MODEL p` alone."""
        self.fetch([p])
        return self.results[p]

    def size_ok(self, p):
        """False when @p read fine but its length is not its ls -l size."""
        rc, data, _ = self.result(p)
        return rc != 0 or p not in self.entries or len(data) == self.entries[p][1]

    def cat(self, p):
        """The bytes of @p. Raises CatError when it does not read, or when
        its length differs from its ls -l size."""
        rc, data, err = self.result(p)
        if rc != 0:
            raise CatError(p, rc, err)
        if not self.size_ok(p):
            raise CatError(p, 0, "", f"{p}: ls -l says {self.entries[p][1]} bytes, cat gives {len(data)}")
        return data

    def text(self, p):
        return self.cat(p).decode("utf-8", "replace")
