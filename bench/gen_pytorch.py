#!/usr/bin/python3
"""gen_pytorch.py FILE: writes the PyTorch benchmark file, a torch.save zip
of a state_dict with 2,000 float32 tensors, about 2 GiB: "big.weight"
(16384 x 16384, 1 GiB) first, then 1,999 tensors of 256 x 512 (512 KiB).

gen_pytorch.py --locate FILE: prints "NAME OFFSET LENGTH MEMBER" of the
largest storage record (the big tensor's bytes): where its stored zip
member's data starts in the file, read from the zip headers with Python's
zipfile (not with modelfs)."""
import collections
import struct
import sys
import zipfile


def locate(path):
    with zipfile.ZipFile(path) as z:
        big = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        assert big.compress_type == zipfile.ZIP_STORED
    with open(path, "rb") as f:
        f.seek(big.header_offset)
        h = f.read(30)
        n, m = struct.unpack("<HH", h[26:30])
    print("big.weight", big.header_offset + 30 + n + m, big.file_size, big.filename)


def main():
    if sys.argv[1] == "--locate":
        return locate(sys.argv[2])
    import torch
    torch.manual_seed(0)
    sd = collections.OrderedDict()
    sd["big.weight"] = torch.randn(16384, 16384)
    for i in range(1999):
        sd[f"layers.{i // 2}.{'weight' if i % 2 == 0 else 'bias'}"] = torch.randn(256, 512)
    torch.save(sd, sys.argv[1])


if __name__ == "__main__":
    main()
