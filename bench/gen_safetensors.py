#!/usr/bin/python3
"""gen_safetensors.py FILE [TOTAL_MIB [COUNT [BIG_MIB]]]: a large safetensors
file for the benchmarks, written fast and in constant memory.

Defaults: 2048 MiB in 2,000 tensors, one of them ("model.embed_tokens.weight",
float32) 1024 MiB, the other 1,999 sharing the rest (float32/float16/bfloat16,
layer-like names). The bytes are pseudo-random: one 64 MiB block of random
bytes is written over and over from rotating offsets, so nothing compresses
or dedups trivially and memory stays at ~64 MiB. Prints, on stdout, one line:
"<big tensor name> <absolute data offset> <nbytes>".

gen_safetensors.py --locate FILE: print that line for an existing FILE (the
largest tensor), without writing anything.
"""
import json
import os
import struct
import sys

import numpy as np


def plan(total, count, big):
    """[(name, dtype, shape, nbytes)] in file order."""
    items = [('model.embed_tokens.weight', 'F32', [big // 4 // 1024, 1024], big)]
    rest = total - big
    n = count - 1
    each = (rest // n) // 4096 * 4096  # 4 KiB multiples keep shapes simple
    kinds = [('F32', 4), ('F16', 2), ('BF16', 2)]
    for i in range(n):
        dt, isz = kinds[i % 3]
        nb = each if i < n - 1 else rest - each * (n - 1)
        nb -= nb % (isz * 64)
        name = 'model.layers.%d.%s.weight' % (i // 8, ('q_proj', 'k_proj', 'v_proj', 'o_proj',
                                                     'gate_proj', 'up_proj', 'down_proj',
                                                     'input_layernorm')[i % 8])
        items.append((name, dt, [nb // isz // 64, 64], nb))
    return items


def locate(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop('__metadata__', None)
    name, e = max(h.items(), key=lambda kv: kv[1]['data_offsets'][1] - kv[1]['data_offsets'][0])
    print(name, 8 + n + e['data_offsets'][0], e['data_offsets'][1] - e['data_offsets'][0])


def main():
    if sys.argv[1] == '--locate':
        locate(sys.argv[2])
        return
    path = sys.argv[1]
    total = int(sys.argv[2] if len(sys.argv) > 2 else 2048) << 20
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    big = int(sys.argv[4] if len(sys.argv) > 4 else 1024) << 20
    items = plan(total, count, big)
    header, off = {'__metadata__': {'format': 'pt', 'generator': 'modelfs bench'}}, 0
    for name, dt, shape, nb in items:
        header[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + nb]}
        off += nb
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    block = np.random.default_rng(42).bytes(64 << 20)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        left, rot = off, 0
        while left > 0:
            start = (rot * 7919 * 4096) % (len(block) - 4096)
            chunk = block[start:start + min(left, 16 << 20)]
            f.write(chunk)
            left -= len(chunk)
            rot += 1
    os.replace(tmp, path)
    print(items[0][0], 8 + len(h), items[0][3])


if __name__ == '__main__':
    main()
