#!/usr/bin/python3
"""pytorch_oracle.py: PyTorch files made here with Debian's torch, read by
modelfs (`modelfs ls -R` / `modelfs cat`, what a mount shows) and compared
with torch.load's own reading.

Made in a temp dir:
  * state_dicts of a conv/batchnorm/linear model, zip and legacy
    (_use_new_zipfile_serialization=False), and the zip rewritten with
    deflated members (as other zip tools do);
  * every dtype this torch can save (float16/32/64, bfloat16, complex,
    bool, int8..int64, uint8, quantized), scalars, empty tensors;
  * views sharing one storage (row/column slices, transposes, offsets,
    expand with stride 0, a non-contiguous 3-d permute), zip and legacy;
  * an archive as a big-endian writer makes it (byteorder "big", storages
    byte-swapped): must read as the little-endian original;
  * checkpoints with Adam (amsgrad) and SGD (momentum) state, epoch, loss,
    a frozen parameter (fewer optimizer entries than parameters);
  * whole models (torch.save(model)), zip and legacy;
  * a TorchScript module (torch.jit.save), a bare tensor, tensors with
    Python attributes, a Parameter with state, a meta tensor;
  * the ancient tar format (pytorch_tar.py), with views and storage views;
  * torch.export PT2 archives (pytorch_pt2.py, written after torch's writer:
    this torch predates torch.export), with shared records and views,
    constants, one and two models (expected: torch.as_strided's reading);
  * a pickle whose REDUCE would create a marker file (must never appear).

Expected names: torch.load's object flattened, dict keys and list indexes
joined by "/" (modules by their state_dict keys), as in the corpus's
EXPECTED.json; corpus_oracle.find_candidates locates them (tensors/<name>,
raw/<name>, else a tensor dir whose path ends with the name). Each must have
torch's dtype, shape and sha256 of its C-order bytes. Structure checks:
state_dict keys under tensors/ and layers/, optimizer/state/<param name>/
<slot> for checkpoints, metadata/epoch, security/ verdicts.
Exit 0 pass, 1 fail, 77 skipped."""
import hashlib
import os
import sys
import tempfile
import zipfile

try:
    import torch
except ImportError as ex:
    print(f"skipped: {ex}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_common as co  # noqa: E402

if not co.MODELFS:
    print("MODELFS is not set")
    sys.exit(1)
FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL", msg)


NP_NAME = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
           torch.bfloat16: "bfloat16", torch.int8: "int8", torch.uint8: "uint8",
           torch.int16: "int16", torch.int32: "int32", torch.int64: "int64", torch.bool: "bool",
           torch.complex64: "complex64", torch.complex128: "complex128",
           torch.qint8: "qint8", torch.quint8: "quint8", torch.qint32: "qint32"}
for _n in ("uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2"):
    if hasattr(torch, _n):
        NP_NAME[getattr(torch, _n)] = _n


def tensor_bytes(t):
    """C-order little-endian bytes of @t (raw bits for bfloat16/float8,
    int_repr for quantized tensors)."""
    t = t.detach()
    if t.is_quantized:
        t = t.int_repr()
    t = t.contiguous()
    if t.numel() == 0:
        return b""
    # reinterpret as bytes without numpy (bfloat16 has no numpy type)
    return bytes(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def flatten(obj, prefix, out):
    if isinstance(obj, torch.Tensor):
        if obj.device.type != "meta":  # no data: checked separately
            out[prefix or "."] = obj
    elif isinstance(obj, torch.nn.Module):
        for k, v in obj.state_dict().items():
            out[(prefix + "/" if prefix else "") + k] = v
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, (prefix + "/" if prefix else "") + str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, (prefix + "/" if prefix else "") + str(i), out)
    return out


class SubTensor(torch.Tensor):
    """A tensor subclass: pickled through torch._tensor._rebuild_from_type_v2."""


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.fc(x.flatten(1))


def trained(opt_name, frozen=None):
    torch.manual_seed(0)
    m = Net()
    if frozen:
        m.get_parameter(frozen).requires_grad_(False)
    params = [p for p in m.parameters() if p.requires_grad]
    if opt_name == "adam":
        opt = torch.optim.Adam(params, lr=1e-3, amsgrad=True)
    else:
        opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(5, 1, 4, 4)).sum().backward()
        opt.step()
    return m, opt


def dtype_zoo():
    torch.manual_seed(1)
    d = {
        "f32": torch.randn(3, 4), "f64": torch.randn(2, 3, dtype=torch.float64),
        "f16": torch.randn(5).half(), "bf16": torch.randn(2, 5).bfloat16(),
        "c64": torch.randn(3, dtype=torch.complex64), "c128": torch.randn(2, 2, dtype=torch.complex128),
        "bool": torch.tensor([True, False, True]), "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.arange(7, dtype=torch.uint8), "i16": torch.tensor([-300, 300], dtype=torch.int16),
        "i32": torch.tensor([-(2 ** 31), 2 ** 31 - 1], dtype=torch.int32),
        "i64": torch.tensor([-(2 ** 63), 2 ** 63 - 1]), "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 4), "empty_scalar_like": torch.zeros(1, 0, 2),
        "nan_inf": torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0]),
        "q8": torch.quantize_per_tensor(torch.randn(4), 0.1, 2, torch.qint8),
        "qu8": torch.quantize_per_tensor(torch.randn(2, 3), 0.05, 10, torch.quint8),
    }
    for n in ("uint16", "uint32", "uint64"):
        if hasattr(torch, n):
            d[n] = torch.arange(5).to(getattr(torch, n))
    for n in ("float8_e4m3fn", "float8_e5m2"):
        if hasattr(torch, n):
            d[n] = torch.randn(4).to(getattr(torch, n))
    return d


def views():
    base = torch.arange(60, dtype=torch.float32).reshape(5, 12)
    big = torch.arange(24, dtype=torch.int64).reshape(2, 3, 4)
    return {
        "base": base, "row": base[2], "col": base[:, 3], "block": base[1:4, 2:7],
        "transposed": base.t(), "strided": base[::2, ::3], "offset_flat": base.view(-1)[17:29],
        "expanded": torch.arange(3.0).expand(4, 3), "permuted": big.permute(2, 0, 1),
        "big": big, "shared_again": base,
    }


def make_files(d):
    files = {}

    def save(name, obj, legacy=False):
        p = os.path.join(d, name)
        torch.save(obj, p, _use_new_zipfile_serialization=not legacy)
        files[name] = p
        return p

    torch.manual_seed(0)
    m = Net()
    sd = m.state_dict()
    p = save("state_dict.pth", sd)
    save("state_dict_legacy.pth", sd, legacy=True)
    # the same archive with deflated members
    q = os.path.join(d, "state_dict_deflated.pth")
    with zipfile.ZipFile(p) as zin, zipfile.ZipFile(q, "w", zipfile.ZIP_DEFLATED) as zout:
        for it in zin.infolist():
            zout.writestr(it.filename, zin.read(it.filename))
    files["state_dict_deflated.pth"] = q
    # a big-endian writer's archive: float32 storages byte-swapped, byteorder "big"
    be_src = save("be_source.pt", {"a": torch.randn(3, 4), "b": torch.randn(6)[1:4], "c": torch.randn(2, 3).t()})
    be = os.path.join(d, "bigendian.pt")
    with zipfile.ZipFile(be_src) as zin, zipfile.ZipFile(be, "w", zipfile.ZIP_STORED) as zout:
        folder = zin.namelist()[0].split("/")[0]
        for it in zin.infolist():
            data = zin.read(it.filename)
            if "/data/" in it.filename:
                data = b"".join(data[i:i + 4][::-1] for i in range(0, len(data), 4))
            if not it.filename.endswith("/byteorder"):  # torch < 2.0 writes none
                zout.writestr(it.filename, data)
        zout.writestr(f"{folder}/byteorder", b"big")
    files["bigendian.pt"] = be
    BE_SOURCE["bigendian.pt"] = be_src
    save("dtypes.pt", dtype_zoo())
    save("dtypes_legacy.pt", {k: v for k, v in dtype_zoo().items()
                              if not v.is_quantized}, legacy=True)
    save("views.pt", views())
    save("views_legacy.pt", views(), legacy=True)
    m1, o1 = trained("adam")
    save("ckpt_adam.pth", {"epoch": 7, "model_state_dict": m1.state_dict(),
                           "optimizer_state_dict": o1.state_dict(), "loss": torch.tensor(0.5),
                           "note": "adam run", "lr_history": [0.1, 0.01]})
    m2, o2 = trained("sgd")
    save("ckpt_sgd.pth", {"epoch": 3, "state_dict": m2.state_dict(), "optimizer": o2.state_dict()})
    save("ckpt_sgd_legacy.pth", {"epoch": 3, "state_dict": m2.state_dict(),
                                 "optimizer": o2.state_dict()}, legacy=True)
    m3, o3 = trained("adam", frozen="conv.weight")
    save("ckpt_frozen.pth", {"model": m3.state_dict(), "optimizer": o3.state_dict()})
    m4, o4 = trained("adam", frozen="conv.bias")
    save("ckpt_frozen_ambiguous.pth", {"model": m4.state_dict(), "optimizer": o4.state_dict()})
    save("whole_model.pt", m)
    save("whole_model_legacy.pt", m, legacy=True)
    save("tensor.pt", torch.arange(10.0).reshape(2, 5).t())
    import pytorch_tar  # the ancient tar format, written by hand (torch still reads it)
    named, tviews = pytorch_tar.sample()
    pytorch_tar.make_tar(os.path.join(d, "ancient.tar"), named, tviews)
    files["ancient.tar"] = os.path.join(d, "ancient.tar")
    import pytorch_pt2  # torch.export PT2 archives, written by hand after torch's writer
    PT2_EXPECTED["export.pt2"] = pytorch_pt2.make_pt2(os.path.join(d, "export.pt2"), pytorch_pt2.sample())
    two = pytorch_pt2.sample()
    two["other"] = {"weights": {"w": torch.arange(6.0).reshape(2, 3)[:, 1:]}}
    PT2_EXPECTED["export2.pt2"] = pytorch_pt2.make_pt2(os.path.join(d, "export2.pt2"), two, folder="arch")
    for n in ("export.pt2", "export2.pt2"):
        files[n] = os.path.join(d, n)
    save("list.pt", [torch.ones(2), {"a": torch.zeros(3, dtype=torch.int32)}])
    # tensors with Python attributes (_rebuild_from_type_v2 / parameter state), a meta tensor
    attr = torch.arange(4.0)
    attr.note = "x"
    par = torch.nn.Parameter(torch.ones(3))
    par.tag = 1
    save("odd.pt", {"attr": attr, "param": par, "meta": torch.empty(2, 3, device="meta")})
    # torch 1.13's torch.load fails on subclasses saved from __main__: expected by hand
    save("subclass.pt", {"sub": torch.arange(6.0).reshape(2, 3).as_subclass(SubTensor)})
    PT2_EXPECTED["subclass.pt"] = {"sub": torch.arange(6.0).reshape(2, 3)}
    # TorchScript: scripting needs the class source, so it lives in a file
    src = os.path.join(d, "tsmod.py")
    with open(src, "w") as f:
        f.write("import torch\n"
                "class TS(torch.nn.Module):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                "        self.lin = torch.nn.Linear(3, 2)\n"
                "        self.register_buffer('scale', torch.tensor([2.0, 3.0]))\n"
                "    def forward(self, x):\n"
                "        return self.lin(x) * self.scale\n")
    sys.path.insert(0, d)
    import tsmod  # noqa: E402
    torch.manual_seed(0)
    ts = torch.jit.script(tsmod.TS())
    tp = os.path.join(d, "scripted.pt")
    ts.save(tp)
    files["scripted.pt"] = tp
    return files


PT2_EXPECTED = {}  # files whose expected tensors are given, not torch.load's
BE_SOURCE = {}  # a byte-swapped copy -> the file torch.load reads for it


def expected_of(path):
    if os.path.basename(path) in PT2_EXPECTED:
        return PT2_EXPECTED[os.path.basename(path)]
    if path.endswith("scripted.pt"):
        return flatten(torch.jit.load(path).state_dict(), "", {})
    if os.path.basename(path) in BE_SOURCE:
        return flatten(torch.load(BE_SOURCE[os.path.basename(path)]), "", {})
    return flatten(torch.load(path), "", {})


def check(name, path):
    exp = expected_of(path)
    try:
        tree = co.Tree(path)
    except co.Failure as f:
        fail(f"{name}: {f}")
        return None
    want = {key: (NP_NAME.get(t.dtype, str(t.dtype)), list(t.shape),
                  hashlib.sha256(tensor_bytes(t)).hexdigest()) for key, t in exp.items()}
    for why in tree.check_all(want):
        fail(f"{name}: {why}")
    print(f"ok    {name}: {len(exp)} tensors checked")
    return tree.paths, tree


def expect(name, cond, what):
    if not cond:
        fail(f"{name}: {what}")


def main():
    with tempfile.TemporaryDirectory() as d:
        files = make_files(d)
        res = {}
        for name, path in files.items():
            try:
                res[name] = check(name, path)
            except co.Failure as f:
                fail(f"{name}: {f}")
        # structure: formats, tensors/ and layers/ for state_dicts
        fmt = {"state_dict.pth": "pytorch-zip", "state_dict_legacy.pth": "pytorch-legacy",
               "state_dict_deflated.pth": "pytorch-zip", "scripted.pt": "torchscript",
               "whole_model_legacy.pt": "pytorch-legacy", "ancient.tar": "pytorch-tar",
               "export.pt2": "torch-export", "export2.pt2": "torch-export"}
        for n, f in fmt.items():
            if res.get(n):
                expect(n, res[n][1].text("format").strip() == f, f"format is not {f}")
        keys = list(Net().state_dict().keys())
        for n in ("state_dict.pth", "state_dict_legacy.pth", "state_dict_deflated.pth",
                  "whole_model.pt", "whole_model_legacy.pt", "ckpt_sgd.pth", "ckpt_adam.pth"):
            if not res.get(n):
                continue
            paths, m = res[n]
            for k in keys:
                expect(n, f"tensors/{k}/data" in paths, f"tensors/{k} missing")
                layer, w = k.rsplit(".", 1)
                expect(n, f"layers/{layer}/{w}/data" in paths, f"layers/{layer}/{w} missing")
            summ = [ln for ln in m.text("summary").split("\n") if ln]
            expect(n, len(summ) == len(keys), f"summary has {len(summ)} lines, {len(keys)} expected")
        # optimizer state named after parameters
        params = [k for k, _ in Net().named_parameters()]
        for n, slots in (("ckpt_adam.pth", ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step")),
                         ("ckpt_sgd.pth", ("momentum_buffer",)),
                         ("ckpt_sgd_legacy.pth", ("momentum_buffer",))):
            if not res.get(n):
                continue
            paths, m = res[n]
            for p in params:
                for s in slots:
                    expect(n, f"optimizer/state/{p}/{s}/dtype" in paths, f"optimizer/state/{p}/{s} missing")
            expect(n, "optimizer/config.json" in paths, "optimizer/config.json missing")
            expect(n, m.text("metadata/epoch").strip() in ("7", "3"), "metadata/epoch wrong")
        if res.get("ckpt_frozen.pth"):
            paths, m = res["ckpt_frozen.pth"]
            mp = m.text("optimizer/mapping")
            expect("ckpt_frozen.pth", "guessed" in mp and "0 conv.bias\n1 bn.weight\n" in mp and
                   "conv.weight" not in mp, f"frozen-parameter mapping wrong: {mp!r}")
        if res.get("ckpt_frozen_ambiguous.pth"):
            paths, m = res["ckpt_frozen_ambiguous.pth"]
            mp = m.text("optimizer/mapping")
            expect("ckpt_frozen_ambiguous.pth", "index" in mp.split("\n")[0] and "0 0\n" in mp,
                   f"ambiguous mapping not left as indexes: {mp!r}")
        if res.get("ckpt_adam.pth"):
            m = res["ckpt_adam.pth"][1]
            expect("ckpt_adam.pth", m.text("metadata/note").strip() == "adam run", "metadata/note")
            expect("ckpt_adam.pth", m.text("metadata/content").strip() == "checkpoint", "content")
        if res.get("whole_model.pt"):
            m = res["whole_model.pt"][1]
            expect("whole_model.pt", m.text("metadata/model_class").strip().endswith("Net"), "model_class")
            sec = m.text("security/unsafe")
            expect("whole_model.pt", "__main__.Net" in sec, "security/unsafe lacks the model class")
        if res.get("odd.pt"):
            paths, m = res["odd.pt"]
            expect("odd.pt", m.text("raw/data.pkl/meta/shape").strip() == "[2, 3]" and
                   "meta" in m.text("raw/data.pkl/meta/device"), "meta tensor not described in raw/")
            expect("odd.pt", "tensors/meta/data" not in paths, "a meta tensor got data")
        for n in ("state_dict.pth", "state_dict_legacy.pth", "dtypes.pt"):
            if res.get(n):
                expect(n, res[n][1].text("security/unsafe") == "", "security/unsafe not empty")
        # a malicious pickle never runs
        marker = os.path.join(d, "pwned_marker")

        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))
        for legacy in (False, True):
            p = os.path.join(d, f"evil{int(legacy)}.pth")
            torch.save({"w": torch.ones(2), "evil": Evil()}, p, _use_new_zipfile_serialization=not legacy)
            try:
                m = co.Tree(p)
            except co.Failure as f:
                fail(f"{p}: {f}")
                continue
            expect(p, "system" in m.text("security/unsafe"), "os.system not flagged unsafe")
            expect(p, "UNSAFE" in m.text("security/summary"), "summary verdict not UNSAFE")
            try:  # every file read (in batches; a failing read is allowed, a crash is not)
                m.m.fetch([f for f in sorted(m.paths) if "/" in f and not m.entries[f][0] and
                           not f.endswith(("/data", "/data.npy"))])
            except co.mfs_fetch.Crash as e:
                fail(f"{p}: {e}")
            expect(p, not os.path.exists(marker), "THE PICKLE RAN: marker file exists")
    if FAILS:
        print(f"{len(FAILS)} failures")
        return 1
    print("all PyTorch oracle checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
