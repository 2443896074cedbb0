#!/usr/bin/python3
"""st_helper.py: the Python side of the mount tests (run with /usr/bin/python3).

Writes a small safetensors file by hand (8-byte little-endian header length,
JSON header, data; no safetensors package) from deterministic numpy arrays,
and checks a mount of it against numpy and against errno expectations.

    st_helper.py gen FILE                 write the model
    st_helper.py gen-many FILE N          N tiny tensors (directories of N entries)
    st_helper.py corrupt KIND FILE        write a broken model (KIND below)
    st_helper.py check-data MNT           tensors/<name>/data and data.npy == numpy
    st_helper.py check-xattr MNT          user.dtype/shape/nbytes, ENODATA, ERANGE
    st_helper.py check-erofs MNT          every kind of write gets EROFS
    st_helper.py check-enoent MNT         missing names get ENOENT (twice: cached)
    st_helper.py sha MNT NAME             print sha256 of numpy's bytes of NAME
Exit status 0 = pass; a failure prints what differs and exits 1.
"""
import errno
import hashlib
import json
import os
import struct
import sys

import numpy as np

# name -> (safetensors dtype, numpy array). Names that nest ("/") and an
# empty tensor are deliberate; "bf16" is stored raw (numpy has no bfloat16).
ST_DTYPE = {np.dtype('float32'): 'F32', np.dtype('float16'): 'F16',
            np.dtype('float64'): 'F64', np.dtype('int64'): 'I64',
            np.dtype('int32'): 'I32', np.dtype('uint8'): 'U8',
            np.dtype('int8'): 'I8', np.dtype('bool'): 'BOOL'}
NP_NAME = {'F32': 'float32', 'F16': 'float16', 'F64': 'float64',
           'I64': 'int64', 'I32': 'int32', 'U8': 'uint8', 'I8': 'int8',
           'BOOL': 'bool', 'BF16': 'bfloat16'}


def tensors():
    """The model, in file order: list of (name, st_dtype, shape, bytes, array)."""
    rng = np.random.default_rng(1234)
    arrays = [
        ('embed.weight', rng.standard_normal((16, 8)).astype(np.float32)),
        ('block/sub.bias', rng.standard_normal(8).astype(np.float16)),
        ('counts', np.array([1, -2, 3 << 40], dtype=np.int64)),
        ('scalar', np.array(3.25, dtype=np.float64)),
        ('mask', np.array([[True, False], [False, True]])),
        ('pixels', rng.integers(0, 256, (5, 7)).astype(np.uint8)),
        ('empty', np.zeros((0, 3), dtype=np.float32)),
        ('big', rng.standard_normal((1024, 1024)).astype(np.float32)),
        ('small.int8', np.arange(-5, 5, dtype=np.int8)),
    ]
    out = []
    for name, a in arrays:
        out.append((name, ST_DTYPE[a.dtype], list(a.shape),
                    np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tobytes(), a))
    # bfloat16: the top halves of float32 values; compare raw bytes only.
    f = np.array([1.0, -2.5, 0.15625, 3e38], dtype=np.float32)
    raw = (f.view(np.uint32) >> 16).astype('<u2').tobytes()
    out.append(('bf16', 'BF16', [4], raw, None))
    return out


def write_st(path, items, metadata=None):
    header = {}
    if metadata:
        header['__metadata__'] = metadata
    off = 0
    for name, dt, shape, raw, _ in items:
        header[name] = {'dtype': dt, 'shape': shape,
                        'data_offsets': [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for _, _, _, raw, _ in items:
            f.write(raw)


def gen(path):
    write_st(path, tensors(), {'format': 'pt', 'note': 'modelfs mount test'})


def gen_many(path, n):
    """N one-element tensors with names of varying length, so that the
    listings of tensors/ and layers/ span many READDIR replies."""
    items = []
    for i in range(n):
        a = np.array([i], dtype=np.int32)
        name = 'w%04d.%s' % (i, 'x' * (i % 37))
        items.append((name, 'I32', [1], a.astype('<i4').tobytes(), a))
    write_st(path, items)


def corrupt(kind, path):
    """Broken models that must fail to mount with one clear line."""
    items = tensors()
    if kind == 'hugeheader':      # header length far beyond the file size
        with open(path, 'wb') as f:
            f.write(struct.pack('<Q', 1 << 40) + b'{}')
    elif kind == 'badjson':       # header is not JSON
        h = b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4'
        h += b' ' * (-len(h) % 8)
        with open(path, 'wb') as f:
            f.write(struct.pack('<Q', len(h)) + h + b'\0' * 4)
    elif kind == 'truncated':     # data section shorter than the offsets say
        write_st(path, items)
        size = os.path.getsize(path)
        with open(path, 'r+b') as f:
            f.truncate(size - 1000)
    elif kind == 'badoffsets':    # offsets disagree with dtype x shape
        h = json.dumps({'a': {'dtype': 'F32', 'shape': [4],
                              'data_offsets': [0, 12]}}).encode()
        h += b' ' * (-len(h) % 8)
        with open(path, 'wb') as f:
            f.write(struct.pack('<Q', len(h)) + h + b'\0' * 16)
    elif kind == 'garbage':       # not a model at all
        with open(path, 'wb') as f:
            f.write(b'this is not a model\n' * 10)
    else:
        sys.exit('unknown corruption ' + kind)


FAIL = []


def check(cond, what):
    if not cond:
        FAIL.append(what)
        print('FAIL:', what, file=sys.stderr)


def expect_errno(fn, err, what):
    try:
        fn()
    except OSError as ex:
        check(ex.errno == err, '%s: errno %s, expected %s' % (
            what, errno.errorcode.get(ex.errno, ex.errno), errno.errorcode[err]))
        return
    check(False, '%s: succeeded, expected %s' % (what, errno.errorcode[err]))


def tdir(mnt, name):
    return os.path.join(mnt, 'tensors', name)


def check_data(mnt):
    for name, dt, shape, raw, a in tensors():
        d = tdir(mnt, name)
        with open(os.path.join(d, 'data'), 'rb') as f:
            got = f.read()
        check(got == raw, '%s/data: %d bytes differ from numpy (%d bytes)' % (
            name, len(got), len(raw)))
        check(os.stat(os.path.join(d, 'data')).st_size == len(raw),
              '%s/data: st_size != %d' % (name, len(raw)))
        # Reads at odd offsets and sizes, through the kernel's page cache.
        if len(raw) > 10:
            with open(os.path.join(d, 'data'), 'rb') as f:
                f.seek(len(raw) // 3 + 1)
                part = f.read(len(raw) // 2)
            check(part == raw[len(raw) // 3 + 1:len(raw) // 3 + 1 + len(raw) // 2],
                  '%s/data: partial read differs' % name)
        if a is None:
            continue
        with open(os.path.join(d, 'dtype')) as f:
            check(f.read() == NP_NAME[dt] + '\n', '%s/dtype' % name)
        npy = os.path.join(d, 'data.npy')
        b = np.load(npy)
        check(b.dtype == a.dtype and b.shape == a.shape and np.array_equal(b, a),
              '%s/data.npy: numpy.load differs' % name)
        if a.size:
            m = np.load(npy, mmap_mode='r')
            check(np.array_equal(np.asarray(m), a), '%s/data.npy: mmap differs' % name)
    # Link counts and inode numbers over the whole tree.
    inos = {}
    for root, dirs, files in os.walk(mnt):
        st = os.stat(root)
        # os.walk lists symlinks to dirs among dirs; nlink counts real ones
        real = [x for x in dirs if not os.path.islink(os.path.join(root, x))]
        check(st.st_nlink == 2 + len(real), '%s: nlink %d, %d subdirs' % (root, st.st_nlink, len(real)))
        for f in files:
            fs = os.stat(os.path.join(root, f))
            check(fs.st_nlink == 1, '%s/%s: nlink %d' % (root, f, fs.st_nlink))
            check(fs.st_ino not in inos, '%s/%s: inode %d also %s' % (root, f, fs.st_ino, inos.get(fs.st_ino)))
            inos[fs.st_ino] = f
    # Past the end: empty read, no error.
    with open(os.path.join(tdir(mnt, 'counts'), 'data'), 'rb') as f:
        f.seek(1 << 20)
        check(f.read(10) == b'', 'read past end of file is not empty')


def check_xattr(mnt):
    for name, dt, shape, raw, a in tensors():
        for p in (tdir(mnt, name), os.path.join(tdir(mnt, name), 'data')):
            names = os.listxattr(p)
            for k in ('user.dtype', 'user.shape', 'user.nbytes'):
                check(k in names, '%s: listxattr lacks %s (%r)' % (p, k, names))
            dtype = os.getxattr(p, 'user.dtype').decode().strip()
            check(dtype == NP_NAME[dt], '%s: user.dtype %r' % (p, dtype))
            nb = os.getxattr(p, 'user.nbytes').decode().strip()
            check(nb == str(len(raw)), '%s: user.nbytes %r != %d' % (p, nb, len(raw)))
            shp = os.getxattr(p, 'user.shape').decode().strip()
            want = '[' + ', '.join(str(x) for x in shape) + ']'
            check(shp == want, '%s: user.shape %r != %r' % (p, shp, want))
            expect_errno(lambda: os.getxattr(p, 'user.nonexistent'), errno.ENODATA,
                         '%s: getxattr user.nonexistent' % p)
    # No attributes on a plain file; a too-small buffer gets ERANGE (via
    # ctypes: os.getxattr always probes the size first).
    check(os.listxattr(os.path.join(mnt, 'format')) == [], '/format has xattrs')
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(2)
    p = os.path.join(tdir(mnt, 'embed.weight'), 'data').encode()
    r = libc.getxattr(p, b'user.dtype', buf, ctypes.c_size_t(2))
    check(r == -1 and ctypes.get_errno() == errno.ERANGE,
          'getxattr with a 2-byte buffer: %d errno %d, expected ERANGE' % (r, ctypes.get_errno()))
    r = libc.getxattr(p, b'user.dtype', None, ctypes.c_size_t(0))
    check(r == len('float32') or r == len('float32\n'), 'getxattr size probe: %d' % r)
    r = libc.listxattr(p, buf, ctypes.c_size_t(2))
    check(r == -1 and ctypes.get_errno() == errno.ERANGE, 'listxattr with a 2-byte buffer')


def check_erofs(mnt):
    data = os.path.join(tdir(mnt, 'counts'), 'data')
    new = os.path.join(mnt, 'newfile')
    expect_errno(lambda: os.open(new, os.O_WRONLY | os.O_CREAT, 0o644), errno.EROFS, 'create')
    expect_errno(lambda: os.open(data, os.O_WRONLY), errno.EROFS, 'open O_WRONLY')
    expect_errno(lambda: os.open(data, os.O_RDWR), errno.EROFS, 'open O_RDWR')
    expect_errno(lambda: os.open(data, os.O_RDONLY | os.O_TRUNC), errno.EROFS, 'open O_TRUNC')
    expect_errno(lambda: os.truncate(data, 0), errno.EROFS, 'truncate')
    expect_errno(lambda: os.mkdir(os.path.join(mnt, 'newdir')), errno.EROFS, 'mkdir')
    expect_errno(lambda: os.rmdir(tdir(mnt, 'counts')), errno.EROFS, 'rmdir')
    expect_errno(lambda: os.unlink(data), errno.EROFS, 'unlink')
    expect_errno(lambda: os.rename(data, data + '2'), errno.EROFS, 'rename')
    expect_errno(lambda: os.symlink('x', os.path.join(mnt, 'ln')), errno.EROFS, 'symlink')
    expect_errno(lambda: os.link(data, os.path.join(mnt, 'hl')), errno.EROFS, 'link')
    expect_errno(lambda: os.chmod(data, 0o777), errno.EROFS, 'chmod')
    expect_errno(lambda: os.utime(data, (0, 0)), errno.EROFS, 'utime')
    expect_errno(lambda: os.setxattr(data, 'user.x', b'1'), errno.EROFS, 'setxattr')
    expect_errno(lambda: os.removexattr(data, 'user.dtype'), errno.EROFS, 'removexattr')
    # Modes say read-only too.
    st = os.stat(data)
    check(st.st_mode & 0o777 == 0o444, 'file mode %o' % st.st_mode)
    check(os.stat(mnt).st_mode & 0o777 == 0o555, 'root mode')


def check_enoent(mnt):
    for p in ('nope', 'tensors/nope', 'tensors/counts/nope', 'tensors/counts/data/x'):
        full = os.path.join(mnt, p)
        want = errno.ENOTDIR if p.endswith('data/x') else errno.ENOENT
        for attempt in ('first', 'cached'):
            expect_errno(lambda: os.stat(full), want, 'stat %s (%s)' % (p, attempt))
            expect_errno(lambda: open(full, 'rb'), want, 'open %s (%s)' % (p, attempt))
    expect_errno(lambda: os.listdir(os.path.join(tdir(mnt, 'counts'), 'data')),
                 errno.ENOTDIR, 'listdir of a file')


def sha(name):
    for n, _, _, raw, _ in tensors():
        if n == name:
            print(hashlib.sha256(raw).hexdigest())
            return
    sys.exit('no tensor ' + name)


def main():
    cmd = sys.argv[1]
    if cmd == 'gen':
        gen(sys.argv[2])
    elif cmd == 'gen-many':
        gen_many(sys.argv[2], int(sys.argv[3]))
    elif cmd == 'corrupt':
        corrupt(sys.argv[2], sys.argv[3])
    elif cmd == 'sha':
        sha(sys.argv[3])
    elif cmd.startswith('check-'):
        {'check-data': check_data, 'check-xattr': check_xattr,
         'check-erofs': check_erofs, 'check-enoent': check_enoent}[cmd](sys.argv[2])
        if FAIL:
            print('%d check(s) failed' % len(FAIL), file=sys.stderr)
            sys.exit(1)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
