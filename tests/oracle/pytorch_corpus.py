#!/usr/bin/python3
"""pytorch_corpus.py: every PyTorch, TorchScript and Lightning file of the
corpus (EXPECTED.json keys under generated/pytorch, public/pytorch,
public/torchscript, public/lightning_ckpt) must open with a PyTorch reader
and match EXPECTED.json (corpus_oracle.check_file: each expected tensor
found with its dtype, shape and sha256; summary has one line per tensors/
entry and SHA256SUMS lists each with its data's hash).

How EXPECTED names map to paths: state_dict keys are tensors/<key> (one
name: "features.0.weight"); nested dict/list levels joined by "/" (a
checkpoint's "optimizer_state_dict/state/0/exp_avg") are found under
raw/data.pkl/<name> (the pickle's object tree), which corpus_oracle finds
by path suffix; "." is the file's only tensor.

Also: malicious_reduce.pth mounts, its os.system global is flagged unsafe,
and /tmp/modelfs_pwned (what its REDUCE would write) never appears.
Exit 0 pass, 1 fail, 77 without the corpus."""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_common as co  # noqa: E402

PREFIXES = ("generated/pytorch/", "public/pytorch/", "public/torchscript/", "public/lightning_ckpt/")
FORMATS = ("pytorch-zip", "pytorch-legacy", "torchscript", "pytorch-tar")
MARKER = "/tmp/modelfs_pwned"


SHARED = os.environ.get("MFS_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
CORPUS = os.path.join(SHARED, "corpus")


def norm_dtype(d):
    if d[:1] in "<>|=" and len(d) > 1:
        import numpy as np
        return np.dtype(d).newbyteorder("=").name
    return d


def check_file(rel, exp):
    """(status, format, detail) for corpus file @rel."""
    path = os.path.join(CORPUS, rel)
    try:
        t = co.Tree(path)
        fmt = t.text("format").strip()
        tens = {k: v for k, v in (exp.get("tensors") or {}).items() if isinstance(v, list) and len(v) == 3}
        problems = t.check_all({n: (norm_dtype(dt), shape, sha) for n, (dt, shape, sha) in tens.items()})
        model = [d for d in t.tdirs if d.startswith("tensors/")]
        summ = [ln for ln in t.text("summary").split("\n") if ln.strip()]
        if len(summ) != len(model):
            problems.append(f"summary has {len(summ)} lines for {len(model)} tensors/ dirs")
        sums = [ln for ln in t.text("SHA256SUMS").split("\n") if ln.strip()]
        if len(sums) != len(model):
            problems.append(f"SHA256SUMS has {len(sums)} lines for {len(model)} tensors/ dirs")
        pairs = [ln.split(" ", 1) for ln in sums]
        t.fetch(["tensors/" + f.lstrip(" *") for _, f in pairs])
        for h, f in pairs:
            f = f.lstrip(" *")
            if hashlib.sha256(t.cat("tensors/" + f)).hexdigest() != h:
                problems.append(f"SHA256SUMS: {f} differs from its data")
    except co.Failure as f:
        return "FAIL", "-", str(f)
    if problems:
        return "FAIL", fmt, problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    return "PASS", fmt, f"{len(tens)} tensors match; {len(model)} in tensors/"


def main():
    exp_path = os.path.join(CORPUS, "EXPECTED.json")
    if not co.MODELFS:
        print("MODELFS is not set")
        return 1
    if not os.path.exists(exp_path):
        print(f"skipped: no corpus at {CORPUS}")
        return 77
    with open(exp_path) as f:
        expected = json.load(f)
    rels = sorted(r for r in expected if r.startswith(PREFIXES) and not r.endswith(".npz"))
    if not rels:
        print("no PyTorch files in EXPECTED.json")
        return 1
    before = os.stat(MARKER).st_mtime if os.path.exists(MARKER) else None
    fails = 0
    for rel in rels:
        st, fmt, detail = check_file(rel, expected[rel])
        if st == "PASS" and fmt not in FORMATS:
            st, detail = "FAIL", f"opened as {fmt}, not a PyTorch reader"
        print(f"{st}  {rel}  {fmt}  {detail}")
        fails += st != "PASS"
    mal = os.path.join(CORPUS, "generated/pytorch/malicious_reduce.pth")
    if os.path.exists(mal):
        m = co.Tree(mal)
        unsafe = m.text("security/unsafe")
        if "posix.system" not in unsafe and "os.system" not in unsafe:
            print(f"FAIL  malicious_reduce.pth: security/unsafe does not flag os.system: {unsafe!r}")
            fails += 1
        if "UNSAFE" not in m.text("security/summary"):
            print("FAIL  malicious_reduce.pth: security/summary verdict is not UNSAFE")
            fails += 1
        after = os.stat(MARKER).st_mtime if os.path.exists(MARKER) else None
        if after != before:
            print(f"FAIL  {MARKER} was written: the pickle ran")
            fails += 1
        else:
            print(f"PASS  malicious_reduce.pth: os.system flagged unsafe, {MARKER} untouched")
    print(f"{len(rels)} files, {fails} failures")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
