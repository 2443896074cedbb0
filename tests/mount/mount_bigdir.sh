#!/bin/bash
# mount_bigdir.sh: directories far larger than one READDIR reply.
#
# A model of 1,500 tiny tensors gives tensors/ (and layers/) 1,500
# entries, i.e. dozens of 4 KiB READDIR/READDIRPLUS replies each. Checks
# that the listing resumes at the right offset every time (nothing lost,
# nothing repeated, node order kept), with readdirplus (first listing) and
# from the kernel's readdir cache (second listing), and that a lookup of
# each name finds the right tensor.
. "$(dirname "$0")/common.inc"

MODEL=$WORK/many.safetensors
"$PYTHON" "$HELPER" gen-many "$MODEL" 1500 || die "cannot generate $MODEL"
mfs_need_ls "$MODEL"
mfs_newdir mnt >/dev/null; MNT=$WORK/mnt
mfs_mount_fg "$MODEL" "$MNT" "$WORK/daemon.log" || die "mount failed"

"$MODELFS" tree "$MODEL" >"$WORK/tree.want" || die "modelfs tree"
for pass in first cached; do
    mfs_find_tree "$MNT" >"$WORK/tree.got" || die "find on the mount"
    if cmp -s "$WORK/tree.want" "$WORK/tree.got"; then
        pass "$pass listing: find == modelfs tree ($(wc -l <"$WORK/tree.got") entries)"
    else
        diff "$WORK/tree.want" "$WORK/tree.got" | head -10 >&2
        fail "$pass listing differs from modelfs tree"
    fi
done

# Small getdents buffers (python's scandir uses 32 KiB; ls -U with a pipe
# too), and telldir/seekdir through the C library.
$T "$PYTHON" - "$MNT/tensors" "$MODELFS" "$MODEL" <<'PY' && pass "seekdir/telldir resume at every entry" || fail "seekdir/telldir"
import ctypes, os, subprocess, sys
d, modelfs, model = sys.argv[1], sys.argv[2], sys.argv[3]
want = subprocess.run([modelfs, 'ls', model, 'tensors'], capture_output=True, text=True,
                      check=True).stdout.split('\n')[:-1]
libc = ctypes.CDLL(None, use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [('d_ino', ctypes.c_uint64), ('d_off', ctypes.c_int64),
                ('d_reclen', ctypes.c_ushort), ('d_type', ctypes.c_ubyte),
                ('d_name', ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.closedir.argtypes = [ctypes.c_void_p]
h = libc.opendir(d.encode())
names, pos = [], []
while True:
    pos.append(libc.telldir(h))
    e = libc.readdir(h)
    if not e:
        break
    names.append(e.contents.d_name.decode())
got = [n for n in names if n not in ('.', '..')]
bad = 0
if got != want:
    print('readdir order differs:', got[:5], want[:5]); bad = 1
# Jump back to every 97th position and check the entry found there.
for i in range(0, len(names), 97):
    libc.seekdir(h, pos[i])
    e = libc.readdir(h)
    if not e or e.contents.d_name.decode() != names[i]:
        print('seekdir to entry', i, 'gives', e and e.contents.d_name, 'expected', names[i]); bad = 1
libc.closedir(h)
for n in want[::50]:
    v = open(os.path.join(d, n, 'data'), 'rb').read()
    if int.from_bytes(v, 'little') != int(n[1:5]):
        print(n, 'holds', v); bad = 1
sys.exit(bad)
PY

mfs_stop "$MNT" "$DAEMON_PID" || fail "daemon exit status $?"
exit $FAILED
