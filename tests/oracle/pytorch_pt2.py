#!/usr/bin/python3
"""pytorch_pt2.py: writes torch.export PT2 archives (.pt2) by hand, following
torch's writer (torch/export/pt2_archive/_package.py package_pt2 and the
PT2 Archive Spec), for tests on machines whose torch predates torch.export.

make_pt2(path, models) with models = {model_name: {"weights": {fqn: tensor},
"constants": {fqn: tensor}}}: tensors that are views of one base share one
raw record (weight_<i> / tensor_<i>), described by sizes, strides and
storage_offset as torch.as_strided rebuilds them. Returns {key: tensor}
with the keys modelfs should show (fqn, or model/fqn with several models).

pytorch_pt2.py FILE: writes a small sample (for fuzzing seeds)."""
import json
import sys
import zipfile

import torch

SCALAR = {torch.uint8: 1, torch.int8: 2, torch.int16: 3, torch.int32: 4, torch.int64: 5,
          torch.float16: 6, torch.float32: 7, torch.float64: 8, torch.complex64: 10,
          torch.complex128: 11, torch.bool: 12, torch.bfloat16: 13}


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def tensor_meta(t):
    return {"dtype": SCALAR[t.dtype], "sizes": [{"as_int": int(n)} for n in t.shape],
            "requires_grad": False, "device": {"type": "cpu", "index": None},
            "strides": [{"as_int": int(n)} for n in t.stride()],
            "storage_offset": {"as_int": int(t.storage_offset())}, "layout": 7}


def make_pt2(path, models, folder="package"):
    expected = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{folder}/archive_format", "pt2")
        z.writestr(f"{folder}/archive_version", "0")
        z.writestr(f"{folder}/byteorder", "little")
        z.writestr(f"{folder}/.data/version", "6")
        idx = {"weights": 0, "constants": 0}
        for name, parts in models.items():
            for kind, prefix in (("weights", "weight_"), ("constants", "tensor_")):
                cfg, records = {}, {}
                for fqn, t in parts.get(kind, {}).items():
                    base = t._base if t._base is not None else t
                    if id(base) not in records:
                        records[id(base)] = f"{prefix}{idx[kind]}"
                        idx[kind] += 1
                        z.writestr(f"{folder}/data/{kind}/{records[id(base)]}", raw_bytes(base))
                    cfg[fqn] = {"path_name": records[id(base)], "is_param": kind == "weights",
                                "use_pickle": False, "tensor_meta": tensor_meta(t)}
                    expected[fqn if len(models) == 1 else f"{name}/{fqn}"] = t
                z.writestr(f"{folder}/data/{kind}/{name}_{kind}_config.json", json.dumps({"config": cfg}))
            z.writestr(f"{folder}/models/{name}.json", json.dumps({"graph_module": {}, "schema_version":
                                                                   {"major": 8, "minor": 0}}))
    return expected


def sample():
    torch.manual_seed(0)
    w = torch.randn(4, 6)
    return {"model": {"weights": {"lin.weight": w, "lin.bias": torch.randn(4),
                                  "tied.weight": w, "tied_t.weight": w.t(),
                                  "emb.weight": torch.randn(3, 2).bfloat16(),
                                  "bn.num_batches_tracked": torch.tensor(5)},
                      "constants": {"mask": torch.tensor([True, False]), "_tensor_constant0": w[1:3, 2:]}}}


if __name__ == "__main__":
    make_pt2(sys.argv[1], sample())
