#!/usr/bin/python3
"""corpus_oracle.py: every corpus file against EXPECTED.json, format-agnostic.

For every file listed in $MFS_SHARED/corpus/EXPECTED.json this runs the
no-mount lister (`$MODELFS ls -l -R FILE`, `$MODELFS cat FILE PATH...`, which
print what a mount shows; files are read in batches, a few processes per
model) and checks:

  * the file opens, or modelfs says no reader claims its format: such a file
    is "not yet supported" (skipped), unless it is in MUST_OPEN below, where
    that is a failure (a regression that makes a file stop opening);
  * every expected tensor is found: tensors/<name>, else raw/<name> (each
    "/"-separated component escaped as LAYOUT.md says), else a tensor dir
    anywhere whose path ends with the escaped name; "." is the file's only
    tensor. Its `dtype`, `shape` and the sha256 of its `data` equal
    EXPECTED's (EXPECTED hashes C-order little-endian bytes, so a stored
    big-endian '>i4' is expected as int32 with little-endian data);
  * `summary` has one line per tensor dir under tensors/;
  * every file read has exactly the size `ls -l` shows (st_size);
  * every SHA256SUMS line's hash equals the sha256 of that tensors/ data,
    and SHA256SUMS covers every tensor dir under tensors/.

A crash (signal), a hang (timeout) or a failing command on a file that opened
is a failure. Prints one row per file and ends with
"N passed, N failed, N skipped"; exits 1 when anything failed, 77 when the
corpus is absent.

Env: MODELFS (binary), MFS_SHARED (folder holding corpus/), MFS_ORACLE_ONLY
(optional substring: only files whose path contains it), MFS_ORACLE_JOBS.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import sys

import mfs_fetch
import mfs_listing

# Files that must open (their readers exist). Add a reader's corpus files
# here when it lands, so a regression that stops them opening fails.
MUST_OPEN = [
    "generated/hdf5/generic_groups.h5",
    "generated/hf/tiny-gpt2/model.safetensors",
    "generated/numpy/fortran_order.npy",
    "generated/numpy/weights.npz",
    "generated/numpy/weights_compressed.npz",
    "generated/pytorch/dtype_zoo.pt",
    "generated/pytorch/dtype_zoo_expected.npz",
    "generated/pytorch/lightning_epoch2.ckpt",
    "generated/pytorch/malicious_reduce.pth",
    "generated/pytorch/mlp_checkpoint_adam.pth",
    "generated/pytorch/mlp_full_model.pth",
    "generated/pytorch/mlp_state_dict.pth",
    "generated/pytorch/mlp_state_dict_legacy.pth",
    "generated/pytorch/mymodel_full.pt",
    "generated/pytorch/mymodel_state_dict.pth",
    "generated/pytorch/mymodel_torchscript.pt",
    "generated/safetensors/small_mixed.safetensors",
    "generated/sklearn/logreg.pkl",
    "generated/sklearn/mlp_classifier.joblib",
    "public/joblib_pickle/joblib0.10.0_py35_zlib_compressed/joblib_0.10.0_compressed_pickle_py35_np19.gz",
    "public/joblib_pickle/joblib1.6_py313_np23_uncompressed/joblib_1.6_pickle_py313_np23.pkl",
    "public/keras3_weights_h5/keras3_gru_seq2seq_timedistributed/grumodel.weights.h5",
    "public/keras3_weights_h5/keras3_mnist_mlp_with_optimizer/model.weights.h5",
    "public/keras_h5_full/keras1.1.2_sequential_cnn_tf/cnn_tf_model.h5",
    "public/keras_h5_full/keras2.0.6_lstm_optweights/simple_lstm_tf_keras_2_model.h5",
    "public/keras_h5_full/keras2.0.9_functional_lambda/model_lambda.h5",
    "public/keras_h5_full/keras2.11.0_functional_attention_optweights/keras-attention.h5",
    "public/keras_h5_full/tfkeras2.4.0_functional_optweights/issue_9349.hdf5",
    "public/keras_h5_full/tfkeras2.8.0_sequential_mnist_optweights/my_model.h5",
    "public/keras_h5_weights/keras2.0.6_lstm_weights/simple_lstm_tf_keras_2_weights.h5",
    "public/keras_h5_weights/tfkeras2.1.6-tf_nested_vae_weights/vae_cnn_mnist.h5",
    "public/keras_tf_checkpoint/tf2.0_2019_sequential_save_weights_only/cp.ckpt.index",
    "public/keras_tf_checkpoint/tf2_keras_adam_slots_two_shards/cp.ckpt.index",
    "public/keras_v3/keras3.0.5_lstm_stack_with_optimizer/my_model.keras",
    "public/keras_v3/keras3.12.0_sequential_mnist/model.keras",
    "public/keras_v3/keras3.8.0_sequential_small/model.keras",
    "public/lightning_ckpt/pl2.6.0_mlp_v21/epoch=99-step=2600.ckpt",
    "public/pytorch/legacy_nonzip_state_dict_tiny_distilbert/pytorch_model.bin",
    "public/pytorch/legacy_nonzip_whole_model_two_layer/two_layer_model.pt",
    "public/pytorch/zip_noncontiguous_tensor/fortran_tensor_3d.pth",
    "public/pytorch/zip_single_tensor/new_pytorch_model.bin",
    "public/pytorch/zip_state_dict_dlgn/dlgn_model_h_64_n_4_b_1_a_8650.pth",
    "public/safetensors/safetensors_samples_overall/overall.safetensors",
    "public/saved_model/tfkeras2.10.0_sequential_mnist_keras_metadata/variables/variables.index",
    "public/saved_model/tfserving_counter/00000123/variables/variables.index",
    "public/saved_model/tfserving_half_plus_two_tf2_cpu/00000123/variables/variables.index",
    "public/tf_checkpoint/tf1_name_based_simple_graph/data-all-1000.index",
    "public/tf_checkpoint/tf2_object_based_a2c_adam_slots/ckpt-7.index",
    "public/tf_checkpoint/tf2_object_based_a2c_adam_slots/ckpt-8.index",
    "public/tf_checkpoint/tf2_object_based_a2c_adam_slots/ckpt-9.index",
    "public/torchscript/tchrs_foo_buffer/foo.pt",
    "public/torchscript/torchsharp_linrelu/linrelu.script.dat",
]

# What modelfs prints when no reader claims a file (src/core/model.c).
NO_READER = re.compile(r"no reader|unknown format|not a known model format|"
                       r"unrecognized format|unsupported format|no format", re.I)

TIMEOUT = 120  # seconds for one modelfs command (ASan builds are slow)
MODELFS = os.environ.get("MODELFS", "")
SHARED = os.environ.get("MFS_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
CORPUS = os.path.join(SHARED, "corpus")


class Failure(Exception):
    pass


def run(args, what):
    """Runs modelfs with @args; returns (returncode, stdout bytes, stderr
    text). Raises Failure on a timeout, a crash (killed by a signal) or a
    sanitizer report (mfs_fetch.run)."""
    try:
        rc, out, err = mfs_fetch.run(args, MODELFS, TIMEOUT, what)
    except mfs_fetch.Crash as e:
        raise Failure(str(e))
    return rc, out, err.strip()


def escape(component):
    """LAYOUT.md escaping of one path component (src/core/name.c): "" ->
    %00, "." -> %2E, ".." -> %2E%2E, '%' and control bytes -> %XX."""
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


def escape_name(name):
    return "/".join(escape(c) for c in name.split("/"))


def parse_ls_lr(text):
    """`modelfs ls -l -R` output -> {path: (is_dir, size)} (mfs_listing.py)."""
    try:
        return mfs_listing.parse_ls_lr(text)
    except mfs_listing.ListingError as e:
        raise Failure(str(e))


def tensor_dirs(paths):
    """Dirs holding dtype, shape and data: the tensor dirs."""
    return sorted(p.rsplit("/", 1)[0] for p in paths
                  if p.endswith("/data") and p[:-5] + "/dtype" in paths
                  and p[:-5] + "/shape" in paths)


def norm_dtype(d):
    """EXPECTED dtype -> the name modelfs shows ('>i4' -> 'int32')."""
    if d[:1] in "<>|=" and len(d) > 1:
        import numpy as np
        return np.dtype(d).newbyteorder("=").name
    return d


class Model:
    """One corpus file seen through `modelfs cat`. Files are fetched in
    batches (`modelfs cat MODEL P1 P2 ...`, at most BATCH paths per call: one
    process per batch, not per file) and split by the sizes `ls -l` showed,
    which checks that every st_size is exact. Keeps the text of small files
    and only the sha256 of `data` files."""

    BATCH = 1000  # paths per `modelfs cat` (cli.c takes any number)

    def __init__(self, path, entries):
        self.path = path
        self.entries = entries
        self.texts = {}
        self.hashes = {}

    def _keep(self, p, data):
        if p.endswith("/data"):
            self.hashes[p[:-5]] = hashlib.sha256(data).hexdigest()
        else:
            self.texts[p] = data.decode("utf-8", "replace")

    def fetch(self, paths):
        """Reads every path of @paths not yet read. Raises Failure naming
        the first path that fails to read or whose size differs from its
        `ls -l` size."""
        todo = [p for p in dict.fromkeys(paths)
                if p not in self.texts and not (p.endswith("/data") and p[:-5] in self.hashes)]
        for i in range(0, len(todo), self.BATCH):
            chunk = todo[i:i + self.BATCH]
            for p in chunk:
                if p not in self.entries or self.entries[p][0]:
                    raise Failure(f"{p}: not a file in the listing")
            rc, out, err = run(["cat", self.path] + chunk, "cat")
            sizes = [self.entries[p][1] for p in chunk]
            if rc == 0 and len(out) == sum(sizes):
                off = 0
                for p, n in zip(chunk, sizes):
                    self._keep(p, out[off:off + n])
                    off += n
                continue
            for p in chunk:  # pinpoint: one file at a time
                rc, out, err = run(["cat", self.path, p], f"cat {p}")
                if rc != 0:
                    raise Failure(f"cat {p}: exit {rc}: {err.replace(f'modelfs: {self.path}: ', '')[:200]}")
                if len(out) != self.entries[p][1]:
                    raise Failure(f"{p}: ls -l says {self.entries[p][1]} bytes, cat gives {len(out)}")
                self._keep(p, out)

    def text(self, p):
        self.fetch([p])
        return self.texts[p]

    def sha(self, tdir):
        self.fetch([tdir + "/data"])
        return self.hashes[tdir]

    def check_tensor(self, tdir, exp):
        """None when tensor dir @tdir matches [dtype, shape, sha], else why not."""
        dtype = self.text(tdir + "/dtype").strip()
        if dtype != norm_dtype(exp[0]):
            return f"{tdir}: dtype {dtype}, expected {norm_dtype(exp[0])}"
        shape_txt = self.text(tdir + "/shape").strip()
        try:
            shape = json.loads(shape_txt)
        except ValueError:
            return f"{tdir}: shape {shape_txt!r} is not a list"
        if shape != list(exp[1]):
            return f"{tdir}: shape {shape}, expected {exp[1]}"
        if self.sha(tdir) != exp[2]:
            return f"{tdir}: data sha256 {self.sha(tdir)[:16]}..., expected {exp[2][:16]}..."
        return None


def find_candidates(name, paths, tdirs):
    """Tensor dirs that may hold EXPECTED tensor @name, in priority order, and
    whether the first is authoritative (tensors/<name> or raw/<name>: it must
    match; a suffix match elsewhere is only one guess among several)."""
    if name == ".":
        model = [t for t in tdirs if t.startswith("tensors/")]
        pool = model if model else tdirs
        return (pool, True) if len(pool) == 1 else ([], True)
    esc = escape_name(name)
    for top in ("tensors", "raw"):
        if f"{top}/{esc}/data" in paths and f"{top}/{esc}" in tdirs:
            return [f"{top}/{esc}"], True
    suffix = [t for t in tdirs if t.endswith("/" + esc)]
    return sorted(suffix, key=len), False


def check_file(rel, expected):
    """Returns (status, format, detail): status PASS / FAIL / SKIP."""
    path = os.path.join(CORPUS, rel)
    tens = expected.get("tensors") if isinstance(expected, dict) else None
    oracle = {k: v for k, v in (tens or {}).items() if isinstance(v, list) and len(v) == 3}
    if not os.path.exists(path):
        return "FAIL", "-", "file missing from the corpus"
    try:
        rc, out, err = run(["ls", "-l", "-R", path], "ls -l -R")
        if rc != 0:
            line = err.splitlines()[-1] if err else f"exit {rc}, no message"
            line = line.replace(f"modelfs: {path}: ", "")
            if NO_READER.search(err) and rel not in MUST_OPEN:
                return "SKIP", "-", "not yet supported: " + line[:160]
            return "FAIL", "-", ("must open, but: " if rel in MUST_OPEN else "does not open: ") + line[:200]
        paths = parse_ls_lr(out.decode("utf-8", "surrogateescape"))
        m = Model(path, paths)
        tdirs = tensor_dirs(paths)
        model_tdirs = [t for t in tdirs if t.startswith("tensors/")]
        problems = []
        found = {name: find_candidates(name, paths, tdirs) for name in oracle}
        # One batched read of everything the checks below look at.
        m.fetch(["format", "summary", "SHA256SUMS"] + [t + "/data" for t in model_tdirs] +
                [f"{c}/{v}" for cands, strict in found.values()
                 for c in (cands[:1] if strict else cands) for v in ("dtype", "shape", "data")])
        fmt = m.text("format").strip()

        for name, exp in oracle.items():
            cands, strict = found[name]
            if not cands:
                problems.append(f"tensor {name!r} not found (looked for tensors/{escape_name(name)}"
                                f", raw/{escape_name(name)} and */{escape_name(name)})")
                continue
            whys = []
            for c in (cands[:1] if strict else cands):
                why = m.check_tensor(c, exp)
                if why is None:
                    break
                whys.append(why)
            else:
                problems.append(whys[0])

        summary = [ln for ln in m.text("summary").split("\n") if ln.strip()]
        if len(summary) != len(model_tdirs):
            problems.append(f"summary has {len(summary)} lines for {len(model_tdirs)} tensors/ dirs")
        sums = m.text("SHA256SUMS").split("\n")
        listed = set()
        for ln in sums:
            if not ln.strip():
                continue
            mt = re.match(r"^(\\?)([0-9a-f]{64}) [ *](.*)$", ln)
            if not mt:
                problems.append(f"SHA256SUMS line not in sha256sum format: {ln[:80]!r}")
                continue
            fname = mt.group(3)
            if mt.group(1):  # sha256sum escapes '\\' and '\n' in names
                fname = fname.replace("\\n", "\n").replace("\\\\", "\\")
            if not fname.endswith("/data"):
                problems.append(f"SHA256SUMS names {fname!r}, not a tensor's data")
                continue
            tdir = "tensors/" + fname[:-5]
            listed.add(tdir)
            if m.sha(tdir) != mt.group(2):
                problems.append(f"SHA256SUMS: {fname} hash differs from its data")
        missing = set(model_tdirs) - listed
        if missing:
            problems.append(f"SHA256SUMS misses {len(missing)} tensors, e.g. {sorted(missing)[0]}")
    except Failure as f:
        return "FAIL", "-", str(f)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return "FAIL", fmt, problems[0] + more
    what = f"{len(oracle)} tensors match" if oracle else "opens (no oracle: EXPECTED lists no tensors)"
    return "PASS", fmt, f"{what}; {len(model_tdirs)} in tensors/"


def main():
    exp_path = os.path.join(CORPUS, "EXPECTED.json")
    if not os.path.exists(exp_path):
        print(f"skipped: no corpus at {CORPUS} (EXPECTED.json missing; set MFS_SHARED)")
        return 77
    if not MODELFS or not os.access(MODELFS, os.X_OK):
        print(f"corpus_oracle: MODELFS={MODELFS!r} is not an executable")
        return 1
    with open(exp_path) as f:
        expected = json.load(f)
    only = os.environ.get("MFS_ORACLE_ONLY", "")
    rels = sorted(r for r in expected if only in r)
    for r in MUST_OPEN:
        if r not in expected:
            print(f"corpus_oracle: MUST_OPEN names {r}, which EXPECTED.json does not list")
            return 1
    jobs = int(os.environ.get("MFS_ORACLE_JOBS", "2"))
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        results = list(ex.map(lambda r: check_file(r, expected[r]), rels))
    width = max((len(r) for r in rels), default=10)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for rel, (st, fmt, detail) in zip(rels, results):
        counts[st] += 1
        print(f"{st}  {rel:<{width}}  {fmt:<12}  {detail}")
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
