#!/usr/bin/python3
"""pytorch_tar.py: writes files in torch's ancient tar format (torch <= 0.1
torch.save), which current torch no longer writes but still reads
(torch.serialization._legacy_load's legacy_load): the layout is taken from
that reader. Tensors that are views of one base share its storage.

pytorch_tar.py FILE: writes a small sample (for fuzzing seeds)."""
import collections
import io
import pickle
import struct
import sys
import tarfile

import torch

STORAGE = {torch.float32: "FloatStorage", torch.float64: "DoubleStorage", torch.float16: "HalfStorage",
           torch.int64: "LongStorage", torch.int32: "IntStorage", torch.int16: "ShortStorage",
           torch.int8: "CharStorage", torch.uint8: "ByteStorage"}


def make_tar(path, named, views=()):
    """@named: {name: tensor}. @views: extra (name, base_name, offset, numel)
    1-d tensors stored as storage views of base_name's storage."""
    storages, tens, skeys = [], [], {}

    def root(t):
        return t._base if t._base is not None else t
    for i, (n, t) in enumerate(named.items()):
        base = root(t)
        if id(base) not in skeys:
            skeys[id(base)] = len(skeys) + 1
            storages.append((skeys[id(base)], base))
        tens.append((100 + i, skeys[id(base)], t))
    st = io.BytesIO()
    st.write(pickle.dumps(len(storages), 2))
    for k, b in storages:
        st.write(pickle.dumps((k, "cpu", getattr(torch, STORAGE[b.dtype])), 2))
        flat = b.contiguous().reshape(-1)
        st.write(struct.pack("<q", flat.numel()))
        st.write(flat.numpy().tobytes())
    vlist = []
    for j, (n, base_name, off, numel) in enumerate(views):
        vk = 1000 + j
        vlist.append((vk, skeys[id(root(named[base_name]))], off, numel))
        tens.append((200 + j, vk, torch.arange(numel)))  # shape [numel], contiguous
    st.write(pickle.dumps(vlist, 2))
    te = io.BytesIO()
    te.write(pickle.dumps(len(tens), 2))
    for k, sk, t in tens:
        te.write(pickle.dumps((k, sk, torch.FloatTensor), 2))
        te.write(struct.pack("<i", t.dim()) + b"\0" * 4)
        te.write(struct.pack(f"<{t.dim()}q", *t.shape))
        te.write(struct.pack(f"<{t.dim()}q", *t.stride()))
        te.write(struct.pack("<q", t.storage_offset() if sk < 1000 else 0))

    class Ref:
        def __init__(self, k):
            self.k = k

    class P(pickle.Pickler):
        def persistent_id(self, o):
            return str(o.k) if isinstance(o, Ref) else None

    names = list(named) + [v[0] for v in views]
    obj = collections.OrderedDict((n, Ref(k)) for n, (k, _, _) in zip(names, tens))
    pk = io.BytesIO()
    P(pk, protocol=2).dump({"state_dict": obj, "epoch": 4})
    si = pickle.dumps({"protocol_version": 1000, "little_endian": True,
                       "type_sizes": {"short": 2, "int": 4, "long": 8}}, 2)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("sys_info", si), ("pickle", pk.getvalue()), ("tensors", te.getvalue()),
                           ("storages", st.getvalue())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))


def sample():
    base = torch.arange(24.0).reshape(4, 6)
    named = {"w": base, "t": base.t(), "row": base[1], "col": base[:, 2],
             "d": torch.arange(5, dtype=torch.float64), "b": torch.tensor([1, 2, 255], dtype=torch.uint8),
             "l": torch.tensor([-1, 2 ** 40]), "h": torch.tensor([0.5, -2.0]).half()}
    return named, [("v", "w", 6, 6)]


if __name__ == "__main__":
    n, v = sample()
    make_tar(sys.argv[1], n, v)
