#!/usr/bin/env bash
# pytorch_mount.sh: real FUSE mounts of PyTorch files made here with
# Debian's torch (ctest oracle.pytorch_mount; exit 77 without /dev/fuse or
# torch):
#  * a checkpoint (model state_dict, Adam state, epoch): `cd tensors &&
#    sha256sum -c ../SHA256SUMS`; every tensors/*/data.npy loads with numpy
#    (mmap_mode='r') equal to torch.load's tensor; optimizer/state/<param>/
#    exp_avg is torch's; metadata/epoch; the user.dtype xattr;
#  * a pickle whose REDUCE would run os.system("touch MARKER"), zip and
#    legacy: mounts, every file of the mount is read (cat), security/unsafe
#    names os.system, and MARKER never appears.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../mount/common.inc"

# One python imports torch (seconds on a busy machine): it makes the files
# and writes what torch.load reads back from the checkpoint to expected.npz
# for the numpy-only check below; it exits 77 without torch.
MARKER=$WORK/pwned_marker
"$PYTHON" - "$WORK" "$MARKER" <<'PY'
import os, sys
import numpy as np
try:
    import torch
except ImportError:
    sys.exit(77)
work, marker = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
opt = torch.optim.Adam(m.parameters())
for _ in range(2):
    opt.zero_grad(); m(torch.randn(3, 6)).sum().backward(); opt.step()
torch.save({"epoch": 12, "model_state_dict": m.state_dict(), "optimizer_state_dict": opt.state_dict()},
           os.path.join(work, "ckpt.pth"))
class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {marker}",))
for legacy in (0, 1):
    torch.save({"w": torch.ones(2, 2), "evil": Evil()}, os.path.join(work, f"evil{legacy}.pth"),
               _use_new_zipfile_serialization=not legacy)
ck = torch.load(os.path.join(work, "ckpt.pth"))
exp = {f"model/{k}": t.numpy() for k, t in ck["model_state_dict"].items()}
for i, n in enumerate(dict(m.named_parameters())):
    exp[f"exp_avg/{n}"] = ck["optimizer_state_dict"]["state"][i]["exp_avg"].numpy()
np.savez(os.path.join(work, "expected.npz"), **exp)
PY
rc=$?
if [ $rc -eq 77 ]; then echo "SKIP: $PYTHON lacks torch" >&2; exit 77; fi
[ $rc -eq 0 ] || die "cannot make the test files"

# ---- checkpoint ----
mfs_need_ls "$WORK/ckpt.pth"
MNT=$(mfs_newdir ckpt)
MOUNTS+=("$MNT")
mfs_mount_fg "$WORK/ckpt.pth" "$MNT" "$WORK/ckpt.log" || die "checkpoint does not mount"
if (cd "$MNT/tensors" && $T sha256sum --quiet -c ../SHA256SUMS); then pass "sha256sum -c"; else fail "sha256sum -c"; fi
[ "$($T cat "$MNT/metadata/epoch")" = "12" ] && pass "metadata/epoch" || fail "metadata/epoch"
[ "$($T getfattr --only-values -n user.dtype "$MNT/tensors/0.weight" 2>/dev/null)" = "float32" ] &&
    pass "user.dtype xattr" || fail "user.dtype xattr on tensors/0.weight"
if $T "$PYTHON" - "$WORK/expected.npz" "$MNT" <<'PY'; then pass "data.npy and optimizer state equal torch.load"; else fail "data.npy / optimizer state differ from torch.load"; fi
import sys, numpy as np
exp, mnt = np.load(sys.argv[1]), sys.argv[2]  # torch.load's tensors (made above)
assert any(k.startswith("model/") for k in exp.files) and any(k.startswith("exp_avg/") for k in exp.files)
for key in exp.files:
    kind, k = key.split("/", 1)
    if kind == "model":
        a = np.load(f"{mnt}/tensors/{k}/data.npy", mmap_mode="r")
        assert a.dtype == np.float32 and np.array_equal(a, exp[key]), k
    else:
        got = np.load(f"{mnt}/optimizer/state/{k}/exp_avg/data.npy")
        assert np.array_equal(got, exp[key]), k
PY
mfs_stop "$MNT" "$DAEMON_PID" || fail "daemon did not exit cleanly"

# ---- malicious pickles ----
for i in 0 1; do
    f=$WORK/evil$i.pth
    mfs_need_ls "$f"
    M=$(mfs_newdir evil$i)
    MOUNTS+=("$M")
    mfs_mount_fg "$f" "$M" "$WORK/evil$i.log" || { fail "evil$i.pth does not mount"; continue; }
    $T find "$M" -type f -print0 | $T xargs -0 cat >/dev/null || fail "evil$i.pth: reading every file failed"
    grep -q "system" "$M/security/unsafe" && pass "evil$i.pth: os.system flagged unsafe" ||
        fail "evil$i.pth: security/unsafe does not name os.system"
    mfs_stop "$M" "$DAEMON_PID" || fail "evil$i.pth: daemon did not exit cleanly"
done
[ -e "$MARKER" ] && fail "THE PICKLE RAN: $MARKER exists" || pass "the malicious pickles never ran"
exit $FAILED
