"""tf_oracle.py: what the TF oracle scripts share (tf_corpus.py,
tf_generated.py, tf_pbtext.py): running `modelfs` in its no-mount mode and
counting checks. Not a test itself."""
import os
import subprocess

MODELFS = os.environ.get("MODELFS", "")
fails = []
counted = [0]


def run(args, timeout=300):
    """stdout of `modelfs ARGS`; RuntimeError with its message on failure."""
    p = subprocess.run([MODELFS] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"modelfs {' '.join(args[:4])}: exit {p.returncode}: "
                           f"{p.stderr.decode(errors='replace').strip()[:300]}")
    return p.stdout


def check(cond, what):
    counted[0] += 1
    if not cond:
        fails.append(what)
        print("FAIL", what)


def report(prefix=""):
    """The closing line; the exit status (1 on any failure)."""
    print(f"{prefix}{counted[0]} checks, {len(fails)} failed")
    return 1 if fails else 0
