#!/usr/bin/env bash
# pytorch.sh: bad PyTorch files fail cleanly (ctest bad.pytorch).
#  1. Golden must-fail files (zstd's golden-decompression-errors idea),
#     crafted here with Python's pickle: each must make `modelfs ls` exit
#     non-zero with exactly one stderr line containing the expected words.
#  2. Damaged copies of the PyTorch corpus files and of torch files made
#     here (zip, legacy, TorchScript, ancient tar, PT2): truncated at 12 places, 12 copies
#     with 1-16 random bytes changed (half in the first 512 bytes, half in
#     the pickle or the storage area). `modelfs ls -R` then, when it opens,
#     `modelfs cat COPY SHA256SUMS` must not crash (signal, sanitizer
#     report, leak), hang (20 s) or print more than one line when failing.
# Both sets run in one process each (batch.inc, tests/tools/
# mfs_batch.c); the real binary is run on a few files and must agree.
# Ends with "N passed, N failed"; exit 1 on any failure, 77 without torch.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
corpus=${MFS_SHARED:-$here/../../../shared}/corpus
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-badpt.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/golden" "$work/damaged"

# (one python process: importing torch takes seconds; it exits 77 without it)
"$PYTHON" - "$work" "$corpus" "$here/pytorch.sh" <<'PY'
import collections, io, os, pickle, random, sys, zipfile, zlib
try:
    import torch
except ImportError:
    sys.exit(77)
work, corpus = sys.argv[1], sys.argv[2]
gold = os.path.join(work, "golden")

class Storage:
    def __init__(self, key, numel, stype=torch.FloatStorage, loc="cpu"):
        self.key, self.numel, self.stype, self.loc = key, numel, stype, loc

class T:
    def __init__(self, st, size, stride, off=0, fn=torch._utils._rebuild_tensor_v2, extra=()):
        self.st, self.size, self.stride, self.off, self.fn, self.extra = st, size, stride, off, fn, extra
    def __reduce__(self):
        return (self.fn, (self.st, self.off, self.size, self.stride, False,
                          collections.OrderedDict()) + self.extra)

class FooStorage:  # not a torch storage class
    pass

if not hasattr(torch._utils, "_rebuild_tensor_v3"):  # torch < 2.1: a stand-in to pickle by name
    def _rebuild_tensor_v3(*a):
        pass
    _rebuild_tensor_v3.__module__, _rebuild_tensor_v3.__qualname__ = "torch._utils", "_rebuild_tensor_v3"
    torch._utils._rebuild_tensor_v3 = _rebuild_tensor_v3

class P(pickle.Pickler):
    def persistent_id(self, o):
        if isinstance(o, Storage):
            return ("storage", o.stype, o.key, o.loc, o.numel)
        return None

def dumps(obj):
    b = io.BytesIO()
    P(b, protocol=2).dump(obj)
    return b.getvalue()

def zipfile_of(name, obj, records, byteorder=b"little", pkl=None):
    with zipfile.ZipFile(os.path.join(gold, name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("arc/data.pkl", pkl if pkl is not None else dumps(obj))
        z.writestr("arc/byteorder", byteorder)
        for k, v in records.items():
            z.writestr(f"arc/data/{k}", v)

four = bytes(16)
zipfile_of("missing_record.pth", {"w": T(Storage("0", 4), (2, 2), (2, 1))}, {})
zipfile_of("view_outside_storage.pth", {"w": T(Storage("0", 4), (3, 3), (3, 1))}, {"0": four})
zipfile_of("offset_outside_storage.pth", {"w": T(Storage("0", 4), (2,), (1,), off=9)}, {"0": four})
zipfile_of("record_shorter_than_numel.pth", {"w": T(Storage("0", 400), (20, 20), (20, 1))}, {"0": four})
zipfile_of("unknown_storage_type.pth", {"w": T(Storage("0", 4, FooStorage), (4,), (1,))}, {"0": four})
zipfile_of("bad_byteorder.pth", {"w": T(Storage("0", 4), (4,), (1,))}, {"0": four}, byteorder=b"middle")
zipfile_of("bad_size_tuple.pth", {"w": T(Storage("0", 4), ("a", 2), (2, 1))}, {"0": four})
zipfile_of("v3_without_dtype.pth", {"w": T(Storage("0", 4, torch.UntypedStorage), (4,), (1,),
                                          fn=torch._utils._rebuild_tensor_v3, extra=("nodtype",))},
           {"0": four})
good = dumps({"w": T(Storage("0", 4), (4,), (1,))})
zipfile_of("truncated_pickle.pth", None, {"0": four}, pkl=good[: len(good) // 2])
zipfile_of("pickle_without_stop.pth", None, {"0": four}, pkl=good[:-1])
zipfile_of("bad_persistent_id.pth", None, {"0": four},
           pkl=good.replace(b"X\x07\x00\x00\x00storage", b"X\x07\x00\x00\x00storagX"))

# legacy: a real file, then damaged in known ways
sd = {"w": torch.arange(64.0).reshape(8, 8), "b": torch.ones(3)}
b = io.BytesIO()
torch.save(sd, b, _use_new_zipfile_serialization=False)
leg = b.getvalue()
open(os.path.join(gold, "legacy_truncated_storage.pt"), "wb").write(leg[:-40])
open(os.path.join(gold, "legacy_bad_protocol.pt"), "wb").write(leg.replace(b"M\xe9\x03", b"M\xea\x03", 1))
open(os.path.join(gold, "legacy_no_storages.pt"), "wb").write(leg[: leg.rindex(b".") + 1])
cut = leg.index(b"\x80\x02", 30)  # the sys_info pickle
open(os.path.join(gold, "legacy_truncated_pickles.pt"), "wb").write(leg[: cut + 40])

# damaged copies
dam = os.path.join(work, "damaged")
srcs = {}
for rel in ("generated/pytorch/mlp_checkpoint_adam.pth", "generated/pytorch/dtype_zoo.pt",
            "generated/pytorch/mlp_state_dict_legacy.pth", "generated/pytorch/mymodel_torchscript.pt",
            "public/pytorch/legacy_nonzip_whole_model_two_layer/two_layer_model.pt",
            "generated/pytorch/lightning_epoch2.ckpt"):
    p = os.path.join(corpus, rel)
    if os.path.exists(p):
        srcs[os.path.basename(p)] = open(p, "rb").read()
b = io.BytesIO()
torch.save(sd, b)
srcs["made_zip.pt"] = b.getvalue()
srcs["made_legacy.pt"] = leg
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(sys.argv[3])), "..", "oracle"))
import pytorch_tar
tp = os.path.join(work, "sample.tar")
pytorch_tar.make_tar(tp, *pytorch_tar.sample())
srcs["made_ancient.tar"] = open(tp, "rb").read()
import pytorch_pt2
tp = os.path.join(work, "sample.pt2")
pytorch_pt2.make_pt2(tp, pytorch_pt2.sample())
srcs["made_export.pt2"] = open(tp, "rb").read()
for name, data in srcs.items():
    n = len(data)
    pk = data.find(b"data.pkl") + 60 if data[:2] == b"PK" else 20
    for ln in sorted({0, 1, 8, 30, 64, 200, pk, pk + 100, n // 4, n // 2, n - 22, n - 1}):
        if 0 <= ln < n:
            open(os.path.join(dam, f"trunc{ln}-{name}"), "wb").write(data[:ln])
    rng = random.Random(zlib.crc32(name.encode()))
    for i in range(12):
        bb = bytearray(data)
        lo, hi = (0, min(n, 512)) if i % 2 == 0 else (min(pk, n - 1), n)
        for _ in range(rng.randint(1, 16)):
            bb[rng.randrange(lo, hi)] = rng.randrange(256)
        open(os.path.join(dam, f"flip{i}-{name}"), "wb").write(bytes(bb))
PY
rc=$?
[ $rc -eq 77 ] || [ $rc -eq 127 ] && { echo "skipped: $PYTHON lacks torch"; exit 77; }
[ $rc -eq 0 ] || { echo "pytorch.sh: could not write the files"; exit 1; }

. "$here/batch.inc"
# Golden files and damaged copies, each set in one driver process
# (batch.inc); the real binary is run on a few of them and must agree.
mfs_batch_run "$work/gold.res" -1 -t 20 -- "$work"/golden/*
mfs_batch_run "$work/res" -1 -t 20 -c SHA256SUMS -- "$work"/damaged/*
npass=0 nfail=0
# golden NAME WORDS: must fail with one line containing WORDS.
golden() {
  local kind rc nl stray file text
  IFS=$'\t' read -r kind rc nl stray file text < <(awk -F'\t' -v f="$work/golden/$1" '$5 == f' "$work/gold.res")
  if [ "$kind" != ls ] || [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ] || [ "$nl" -ne 1 ] ||
     [[ $text != *"$2"* ]] || [[ $text =~ Sanitizer|runtime\ error: ]]; then
    echo "FAIL  golden $1: $kind exit $rc, $nl lines, want one line with \"$2\": ${text:0:300}"
    nfail=$((nfail + 1))
  else
    npass=$((npass + 1))
    [ -n "${VERBOSE:-}" ] && echo "ok    golden $1: $text"
  fi
}
golden missing_record.pth "storage record arc/data/0 is missing"
golden view_outside_storage.pth "reaches element"
golden offset_outside_storage.pth "reaches element 10"
golden record_shorter_than_numel.pth "reaches element"
golden unknown_storage_type.pth "unknown storage type"
golden bad_byteorder.pth "byteorder"
golden bad_size_tuple.pth "size/stride"
golden v3_without_dtype.pth "without a known dtype"
golden truncated_pickle.pth "truncated"
golden pickle_without_stop.pth "truncated"
golden bad_persistent_id.pth "persistent id"
golden legacy_truncated_storage.pt "runs past the end"
golden legacy_bad_protocol.pt "protocol version"
golden legacy_no_storages.pt "truncated"
golden legacy_truncated_pickles.pt "pickle: byte"

mfs_batch_crosscheck "$work/gold.res" 2 || nfail=$((nfail + 1))

nopen=0 ncopies=0
mfs_batch_judge "$work/res" "cat SHA256SUMS"
mfs_batch_crosscheck "$work/res" 2 SHA256SUMS || nfail=$((nfail + 1))
echo "$ncopies damaged copies, $nopen of them still open"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
