"""mfs_listing.py: `modelfs ls -l -R` output as the oracles see it.

One parser for every oracle (corpus_oracle.py, pytorch_common.py,
hdf5_common.py). The listing (src/tools/cli.c) is the root's entries, then
per directory a blank line, a "dir:" header and its entries, each
"<mode> <size> <name>", a symlink's name followed by " -> <target>". Only a
line right after a blank line is a header, so names ending in ":" are safe.

Symlinks (layers/ and raw/ entries that are another placement of a tensor
whose directory lives in tensors/) are shown as a mount shows them to a
program that follows links: as the directory they point to, with its
entries, in the listing's order."""
import posixpath
import re

LS_L = re.compile(r"^([dl-])[-rwx]{9} +([0-9]+) (.*)$")


class ListingError(Exception):
    pass


def parse_ls_lr(text):
    """-> {relative path: (is_dir, size)} in listing order, symlinks
    expanded in place (the link itself as a directory). Raises ListingError
    on a line that is neither a header nor an entry."""
    rows, cur, after_blank = [], "", True
    for ln in text.split("\n"):
        if ln == "":
            after_blank = True
            continue
        m = LS_L.match(ln)
        if after_blank and ln.endswith(":") and not m:
            d = ln[:-1]
            for pre in ("./", "/"):
                if d.startswith(pre):
                    d = d[len(pre):]
            cur = "" if d in (".", "/", "") else d
        elif m:
            name, target = m.group(3), None
            if m.group(1) == "l":
                name, _, target = name.partition(" -> ")
            rows.append((f"{cur}/{name}" if cur else name, m.group(1), int(m.group(2)), target))
        else:
            raise ListingError(f"ls -l -R: cannot parse line {ln[:80]!r}")
        after_blank = False
    real = {p: (kind == "d", size) for p, kind, size, target in rows if target is None}
    under = {}  # dir -> every real path below it, in order
    for p in real:
        d = p
        while "/" in d:
            d = d.rsplit("/", 1)[0]
            under.setdefault(d, []).append(p)
    entries = {}
    for p, kind, size, target in rows:
        if target is None:
            entries.setdefault(p, real[p])
            continue
        base = posixpath.normpath(posixpath.join(posixpath.dirname(p), target))
        entries[p] = (True, 0)
        for q in under.get(base, []):
            entries[p + q[len(base):]] = real[q]
    return entries
