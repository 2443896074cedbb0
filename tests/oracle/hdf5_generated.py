#!/usr/bin/python3
"""hdf5_generated.py: HDF5 and Keras files written here with h5py, read back
through modelfs and compared with h5py's own reading.

Cases (each one row of output):
  generic      every numeric type h5py writes, little- and big-endian
               (ints, float16/32/64, bool, complex, enum, array types,
               compounds as raw bytes), chunked+gzip+shuffle, fletcher32,
               compact and never-written (fill value) datasets, zero-size
               and scalar datasets, fixed/vlen string datasets, attributes
               of every kind, soft/external/cyclic links, odd names
  userblock    a file with a 512-byte user block (PLAIN offsets absolute)
  keras_full   Keras legacy model.save layout: model_config/training_config,
               3000 layers so layer_names is split into layer_names0/1/..,
               fixed-length names filling their width, empty weight_names,
               gzip and big-endian weights, optimizer_weights (iter, TF2
               "Adam/<param>/m:0", TF-Keras 2.11 "Adam/m/<param>:0" and
               Keras 3 "adam/<param>_momentum" forms)
  keras_wts    Keras save_weights layout with vlen (h5py str) names
  keras3       Keras 3 .weights.h5 (layers/<x>/vars/<i>, optimizer/vars,
               bfloat16 with dtype="bfloat16") standalone, inside a stored
               .keras with config.json (names, slots, assets, in-place
               offsets), a deflated .keras and the unzipped (zipped=False)
               directory; a .keras that is HDF5
"""
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hdf5_common import (Failure, Model, canonical_bytes, esc_path, main_wrapper,  # noqa: E402
                         run_cases)
import keras_writers as kw  # noqa: E402

TMP = tempfile.mkdtemp(prefix="mfs-h5gen-")
rng = np.random.default_rng(1234)


def rnd(shape, dtype):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, dtype=np.int64 if info.min < 0 else np.uint64,
                        endpoint=True).astype(dt)


def num_eq(text, values):
    """Attribute text (one element per line) equals @values numerically."""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    vals = list(np.ravel(values))
    if len(lines) != len(vals):
        return False
    for ln, v in zip(lines, vals):
        if isinstance(v, (bytes, np.bytes_)):
            v = v.decode()
        if isinstance(v, str):
            if ln != v:
                return False
        elif isinstance(v, (bool, np.bool_)):
            if ln not in ("TRUE", "FALSE") or (ln == "TRUE") != bool(v):
                return False
        elif isinstance(v, np.floating):  # compare at the stored precision
            if v.dtype.type(float(ln)) != v and not (np.isnan(float(ln)) and np.isnan(v)):
                return False
        elif float(ln) != float(v):
            return False
    return True


# ---------------------------------------------------------------- generic

def make_generic(path):
    f = h5py.File(path, "w")
    data = {}
    g = f.create_group("types")
    for dt in ["i1", "u1"] + [o + k + s for o in "<>" for k in "iu" for s in "248"] + \
              ["<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "<c8", ">c8", "<c16", ">c16", "?"]:
        name = dt.replace("<", "le_").replace(">", "be_").replace("?", "bool")
        arr = rnd((7, 5), dt)
        g.create_dataset(name, data=arr, dtype=arr.dtype)
        data[f"types/{name}"] = arr
    en = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 7}, basetype=">i2")
    g.create_dataset("enum_be", data=np.array([0, 7, 1, 7], dtype=">i2"), dtype=en)
    data["types/enum_be"] = np.array([0, 7, 1, 7], dtype=">i2")
    d = g.create_dataset("array_f4", shape=(6,), dtype=np.dtype((">f4", (3, 2))))
    arr = rnd((6, 3, 2), ">f4")
    d[...] = arr
    data["types/array_f4"] = arr
    comp = np.zeros(4, dtype=[("a", "<i4"), ("b", "<f8")])
    comp["a"] = [1, 2, 3, 4]
    comp["b"] = [0.5, 1.5, 2.5, 3.5]
    g["compound"] = comp
    data["types/compound"] = np.frombuffer(comp.tobytes(), dtype="u1").reshape(4, 12)

    c = f.create_group("storage")
    arr = rnd((1000, 37), "<f4")
    c.create_dataset("gzip", data=arr, chunks=(64, 16), compression="gzip", shuffle=True)
    data["storage/gzip"] = arr
    arr = rnd((333,), ">f8")
    c.create_dataset("gzip_be", data=arr, chunks=(50,), compression="gzip", compression_opts=9)
    data["storage/gzip_be"] = arr
    arr = rnd((10, 10, 10), "<i2")
    c.create_dataset("fletcher", data=arr, chunks=(3, 4, 5), fletcher32=True)
    data["storage/fletcher"] = arr
    c.create_dataset("fill", shape=(9,), dtype="<i4", fillvalue=7)
    data["storage/fill"] = np.full(9, 7, dtype="<i4")
    c.create_dataset("fill_chunked", shape=(4, 4), dtype="<f4", chunks=(2, 2), fillvalue=1.5)
    data["storage/fill_chunked"] = np.full((4, 4), 1.5, dtype="<f4")
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple((5, 3))
    did = h5py.h5d.create(c.id, b"compact", h5py.h5t.STD_I32BE, space, dcpl=dcpl)
    arr = rnd((5, 3), ">i4")
    did.write(h5py.h5s.ALL, h5py.h5s.ALL, arr)
    data["storage/compact"] = arr
    for name, shape, kw in [("zero", (0,), {}), ("zero2d", (3, 0), {}),
                            ("zero_chunked", (0, 4), {"chunks": (1, 4), "maxshape": (None, 4)})]:
        c.create_dataset(name, shape=shape, dtype="<f4", **kw)
        data[f"storage/{name}"] = np.zeros(shape, dtype="<f4")
    f["scalar_f8"] = np.float64(3.25)
    data["scalar_f8"] = np.array(3.25)
    f.create_dataset("scalar_be", data=np.array(-5, dtype=">i4"))
    data["scalar_be"] = np.array(-5, dtype=">i4")

    s = f.create_group("strings")
    s["fixed"] = np.array([b"abc", b"hello", b"x"], dtype="S5")
    s["vlen"] = np.array(["alpha", "beta", "gamma ünïcode"], dtype=h5py.string_dtype())
    s["scalar"] = "just one"
    s["fixed2d"] = np.array([[b"a", b"bb"], [b"ccc", b"d"]], dtype="S3")
    strings = {"strings/fixed": ["abc", "hello", "x"],
               "strings/vlen": ["alpha", "beta", "gamma ünïcode"],
               "strings/scalar": ["just one"], "strings/fixed2d": ["a", "bb", "ccc", "d"]}

    a = f.create_group("attrs")
    attrs = {"i": np.int64(-3), "u8": np.array([1, 2, 3], dtype="u1"), "f4": np.float32(0.1),
             "f8s": np.array([1e-5, 2.5, -7e20]), "vs": "vlen text", "fs": np.bytes_(b"fixed"),
             "sarr": np.array([b"one", b"two"], dtype="S3"), "empty": np.array([]),
             "b": np.bool_(True)}
    for k, v in attrs.items():
        a.attrs[k] = v
    f["types/le_f4"].attrs["units"] = "meters"
    f.attrs["root_json"] = json.dumps({"k": [1, 2]})
    f.attrs["epoch"] = 12

    n = f.create_group("names")
    n["a.b"] = np.arange(3, dtype="<i8")
    n["with space"] = np.arange(2, dtype="<i8")
    n["100%"] = np.arange(1, dtype="<i8")
    data["names/a.b"] = np.arange(3, dtype="<i8")
    data["names/with space"] = np.arange(2, dtype="<i8")
    data["names/100%"] = np.arange(1, dtype="<i8")
    links = f.create_group("zlinks")  # after "names" in name order
    links["soft"] = h5py.SoftLink("/scalar_f8")
    links["ext"] = h5py.ExternalLink("/nonexistent/other.h5", "/x")
    links["again"] = f["names"]        # second hard link to a group
    links["loop"] = links              # a cycle
    f.close()
    return data, strings, attrs


def check_generic():
    path = os.path.join(TMP, "generic.h5")
    data, strings, attrs = make_generic(path)
    m = Model(path)
    if m.text("format") != "hdf5\n":
        raise Failure(f"format is {m.text('format')!r}")
    f = h5py.File(path, "r")
    for name, arr in data.items():
        h = f[name][()]
        if h.dtype.names or h.dtype.kind == "V":
            h = np.frombuffer(h.tobytes(), dtype="u1").reshape(arr.shape)
        if not np.array_equal(np.asarray(h).view(np.uint8) if False else h, arr) and \
                canonical_bytes(np.asarray(h)) != canonical_bytes(arr):
            raise Failure(f"test bug: h5py reads {name} differently from what was written")
        want = np.asarray(h)
        m.check_tensor(f"raw/{esc_path(name)}", want, name)
        m.check_tensor(f"tensors/{esc_path(name)}", want, name)
    for name, lines in strings.items():
        got = m.text(f"raw/{name}")
        if got != "".join(x + "\n" for x in lines):
            raise Failure(f"raw/{name} is {got!r}")
    for k, v in attrs.items():
        got = m.text(f"raw/attrs/@attrs/{k}")
        if not num_eq(got, v):
            raise Failure(f"raw/attrs/@attrs/{k} is {got!r}, h5py says {v!r}")
    if m.text("raw/types/le_f4/@attrs/units") != "meters\n":
        raise Failure("dataset attribute missing")
    if json.loads(m.text("metadata/root_json.json")) != {"k": [1, 2]} or m.text("metadata/epoch") != "12\n":
        raise Failure("root attributes are not in metadata/")
    if "soft link -> /scalar_f8" not in m.text("raw/zlinks/soft"):
        raise Failure("soft link not shown as such")
    if "not followed" not in m.text("raw/zlinks/ext"):
        raise Failure("external link not shown as such")
    if "hard link" not in m.text("raw/zlinks/loop"):
        raise Failure("a group cycle was not cut")
    if not m.has("raw/zlinks/again/a.b/data") and "hard link" not in m.text("raw/zlinks/again"):
        raise Failure("second link to a group missing")
    info = json.loads(m.text("raw/storage/gzip/info.json"))
    if info.get("compression") != "gzip" or info.get("hdf5_chunks") != [64, 16]:
        raise Failure(f"gzip info.json: {info}")
    info = json.loads(m.text("raw/types/le_f8/info.json"))
    off = f["types/le_f8"].id.get_offset()
    if info.get("encoding") != "plain" or info.get("offset") != off:
        raise Failure(f"contiguous dataset not PLAIN at {off}: {info}")
    info = json.loads(m.text("raw/types/be_i4/info.json"))
    if info.get("encoding") != "byteswap":
        raise Failure(f"big-endian contiguous dataset not BYTESWAP: {info}")
    summary = m.text("summary")
    if "float32 [1000, 37] 148000 storage/gzip\n" not in summary:
        raise Failure("summary lacks storage/gzip")
    return f"{len(data)} datasets, {len(strings)} string datasets, {len(attrs)} attributes"


def check_userblock():
    path = os.path.join(TMP, "userblock.h5")
    f = h5py.File(path, "w", userblock_size=512)
    arr = rnd((100, 3), "<f4")
    f["w"] = arr
    f.close()
    with open(path, "r+b") as fh:
        fh.write(b"user block text")
    m = Model(path)
    m.check_tensor("raw/w", arr, "userblock")
    info = json.loads(m.text("raw/w/info.json"))
    with open(path, "rb") as fh:
        fh.seek(info["offset"])
        if fh.read(arr.nbytes) != arr.tobytes():
            raise Failure(f"info.json offset {info['offset']} does not hold the data")
    return "PLAIN offset is absolute"


# ---------------------------------------------------------------- Keras legacy

def fixed_names(names):
    return np.array([n.encode() for n in names])  # numpy 'S' width = longest


def make_keras_full(path, nlayers=3000):
    f = h5py.File(path, "w")
    cfg = {"class_name": "Sequential", "config": {"name": "seq", "layers": []}}
    train = {"loss": "mse", "optimizer_config": {"class_name": "Adam",
                                                 "config": {"learning_rate": 0.001}}}
    f.attrs["keras_version"] = "2.4.0"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = np.bytes_(json.dumps(cfg).encode())  # fixed-length
    f.attrs["training_config"] = json.dumps(train).encode()
    mw = f.create_group("model_weights")
    names = [f"layer_with_a_long_name_{i:05d}" for i in range(nlayers)]
    names[3] = "dense_1"
    names[7] = "dense_22"
    names[11] = "bn"
    arr_names = fixed_names(names)  # "dense_1" shorter; the long ones fill the width
    chunks = np.array_split(arr_names, -(-arr_names.nbytes // 64512))
    for k, ch in enumerate(chunks):
        mw.attrs[f"layer_names{k}"] = ch
    mw.attrs["keras_version"] = b"2.4.0"
    weights = {}
    for i, ln in enumerate(names):
        g = mw.create_group(ln)
        if ln == "dense_1":
            wn = ["dense_1/kernel:0", "dense_1/bias:0"]
            vals = [rnd((20, 30), "<f4"), rnd((30,), ">f4")]
        elif ln == "dense_22":
            wn = ["dense_22/kernel:0"]
            vals = [rnd((300, 40), "<f4")]
        elif ln == "bn":
            wn = ["bn/gamma:0", "bn/moving_mean:0"]
            vals = [rnd((8,), "<f8"), rnd((8,), "<f8")]
        else:
            g.attrs["weight_names"] = np.array([])  # numpy's [] (float64)
            continue
        g.attrs["weight_names"] = fixed_names(wn)
        for w, v in zip(wn, vals):
            kw = {"compression": "gzip", "chunks": (50, 8)} if v.shape == (300, 40) else {}
            g.create_dataset(w, data=v, dtype=v.dtype, **kw)
            weights[(ln, w)] = v
    ow = f.create_group("optimizer_weights")
    opt = {"Adam/iter:0": np.array(42, dtype="<i8"),
           "Adam/dense_1/kernel/m:0": rnd((20, 30), "<f4"),
           "Adam/dense_1/kernel/v:0": rnd((20, 30), "<f4"),
           "Adam/m/dense_22/kernel:0": rnd((300, 40), "<f4"),
           "adam/dense_1_bias_velocity:0": rnd((30,), "<f4"),
           "Adam/beta_1:0": np.array(0.9, dtype="<f4")}
    ow.attrs["weight_names"] = fixed_names(list(opt))
    for k, v in opt.items():
        ow.create_dataset(k, data=v)
    f.close()
    return names, weights, opt, cfg, train


def check_keras_full():
    path = os.path.join(TMP, "full.h5")
    names, weights, opt, cfg, train = make_keras_full(path)
    f = h5py.File(path, "r")
    nchunks = sum(1 for k in f["model_weights"].attrs if k.startswith("layer_names"))
    if nchunks < 2:
        raise Failure("test bug: layer_names was not split")
    m = Model(path)
    if m.text("format") != "keras-h5\n":
        raise Failure(f"format is {m.text('format')!r}")
    if m.ls("layers") != names:
        raise Failure("ls layers differs from layer_names")
    short = {"dense_1/kernel:0": "kernel", "dense_1/bias:0": "bias", "dense_22/kernel:0": "kernel",
             "bn/gamma:0": "gamma", "bn/moving_mean:0": "moving_mean"}
    for (ln, w), v in weights.items():
        m.check_tensor(f"layers/{ln}/{short[w]}", v, w)
        m.check_tensor(f"tensors/{w[:-2]}", v, w)
        m.check_tensor(f"raw/model_weights/{ln}/{w}", v, w)
        if json.loads(m.text(f"tensors/{w[:-2]}/info.json")).get("stored_name") != w:
            raise Failure(f"info.json of {w} lacks the stored name")
    if m.ls("layers/dense_1") != ["kernel", "bias"]:
        raise Failure(f"layers/dense_1 order: {m.ls('layers/dense_1')}")
    if json.loads(m.text("metadata/model_config.json")) != cfg:
        raise Failure("model_config.json")
    if json.loads(m.text("metadata/training_config.json")) != train:
        raise Failure("training_config.json")
    if json.loads(m.text("optimizer/config.json")) != train["optimizer_config"]:
        raise Failure("optimizer/config.json")
    if m.text("metadata/keras_version") != "2.4.0\n" or m.text("metadata/backend") != "tensorflow\n":
        raise Failure("keras_version/backend")
    if m.text("optimizer/step") != "42\n":
        raise Failure(f"optimizer/step is {m.text('optimizer/step')!r}")
    m.check_tensor("optimizer/state/dense_1/kernel/m", opt["Adam/dense_1/kernel/m:0"], "m")
    m.check_tensor("optimizer/state/dense_1/kernel/v", opt["Adam/dense_1/kernel/v:0"], "v")
    m.check_tensor("optimizer/state/dense_22/kernel/m", opt["Adam/m/dense_22/kernel:0"], "2.11 m")
    m.check_tensor("optimizer/state/dense_1/bias/velocity", opt["adam/dense_1_bias_velocity:0"],
                   "keras3 velocity")
    m.check_tensor("optimizer/vars/Adam/beta_1", opt["Adam/beta_1:0"], "beta_1")
    m.check_tensor("optimizer/vars/Adam/iter", opt["Adam/iter:0"], "iter")
    if sum(1 for p in m.paths if p.startswith("metadata/layer_names")):
        raise Failure("layer_names chunks leaked into metadata/")
    # a .keras that is really HDF5
    kpath = os.path.join(TMP, "really_hdf5.keras")
    shutil.copy(path, kpath)
    if Model(kpath).text("format") != "keras-h5\n":
        raise Failure("a .keras holding HDF5 is not read as keras-h5")
    return f"{len(names)} layers in {nchunks} layer_names chunks, {len(opt)} optimizer weights"


def check_keras_weights():
    path = os.path.join(TMP, "weights.h5")
    f = h5py.File(path, "w")
    names = ["input_1", "conv", "dense"]
    f.attrs["layer_names"] = np.array(names, dtype=h5py.string_dtype())  # vlen (h5py 3 str)
    f.attrs["keras_version"] = "2.13.1"
    f.attrs["backend"] = "tensorflow"
    vals = {}
    for ln in names:
        g = f.create_group(ln)
        if ln == "input_1":
            g.attrs["weight_names"] = np.array([], dtype=h5py.string_dtype())
            continue
        wn = [f"{ln}/kernel:0", f"{ln}/bias:0"]
        g.attrs["weight_names"] = np.array(wn, dtype=h5py.string_dtype())
        for w in wn:
            v = rnd((4, 3) if "kernel" in w else (3,), "<f4")
            g.create_dataset(w, data=v, chunks=True, compression="gzip")
            vals[w] = v
    f.close()
    m = Model(path)
    if m.text("format") != "keras-h5-weights\n":
        raise Failure(f"format is {m.text('format')!r}")
    if m.ls("layers") != names:
        raise Failure(f"ls layers = {m.ls('layers')}")
    for w, v in vals.items():
        ln, leaf = w[:-2].split("/")
        m.check_tensor(f"layers/{ln}/{leaf}", v, w)
    if m.text("metadata/keras_version") != "2.13.1\n":
        raise Failure("keras_version")
    return f"{len(vals)} weights, vlen names"


# ---------------------------------------------------------------- Keras 3

K3_CONFIG = kw.K3_CONFIG  # the same Sequential as keras_layouts.py


def make_keras3(path):
    f = h5py.File(path, "w")
    layer_vars = {
        "dense": [rnd((6, 5), "<f4"), rnd((5,), "<f4")],
        "batch_normalization": [rnd((5,), "<f4"), rnd((5,), "<f4"), rnd((5,), "<f4"), rnd((5,), "<f4")],
        "dense_1": [rnd((5, 7), "<f4"), rnd((7,), "<f4")],
        "lstm/cell": [rnd((7, 16), "<f4"), rnd((4, 16), "<f4"), rnd((16,), "<f4")],
    }
    data = {}
    for ln, vs in layer_vars.items():
        g = f.create_group(f"layers/{ln}/vars")
        for i, v in enumerate(vs):
            g[str(i)] = v
            data[f"layers/{ln}/vars/{i}"] = v
    f.create_group("layers/dropout/vars")
    f.create_group("layers/lstm/vars")
    f.create_group("vars")
    bf = rnd((3, 4), "<u2")
    d = f.create_dataset("layers/dense_1/extra/vars/0", data=bf.view("V2"))
    d.attrs["dtype"] = "bfloat16"
    data["layers/dense_1/extra/vars/0"] = bf  # compared as raw 2-byte values
    trainable = ["dense/vars/0", "dense/vars/1", "batch_normalization/vars/0",
                 "batch_normalization/vars/1", "dense_1/vars/0", "dense_1/vars/1",
                 "lstm/cell/vars/0", "lstm/cell/vars/1", "lstm/cell/vars/2"]
    og = f.create_group("optimizer/vars")
    og.attrs["name"] = "adam"
    og["0"] = np.array(77, dtype="<i8")
    og["1"] = np.array(0.001, dtype="<f4")
    opt = {}
    k = 2
    for t in trainable:
        for slot in ("momentum", "velocity"):
            v = rnd(data[f"layers/{t}"].shape, "<f4")
            og[str(k)] = v
            opt[(t, slot)] = (k, v)
            k += 1
    f.close()
    return data, opt


def check_keras3():
    wpath = os.path.join(TMP, "model.weights.h5")
    data, opt = make_keras3(wpath)
    notes = []
    # standalone: stored group names, natural order
    m = Model(wpath)
    if m.text("format") != "keras3-weights-h5\n":
        raise Failure(f"format is {m.text('format')!r}")
    want = ["batch_normalization", "dense", "dense_1", "dropout", "lstm"]
    if m.ls("layers") != want:
        raise Failure(f"ls layers = {m.ls('layers')}, expected {want}")
    for p, v in data.items():
        if p.endswith("extra/vars/0"):
            continue
        m.check_tensor(f"tensors/{p}", v, p)
    bd = "tensors/layers/dense_1/extra/vars/0"
    if m.text(bd + "/dtype") != "bfloat16\n" or m.cat(bd + "/data") != data["layers/dense_1/extra/vars/0"].tobytes():
        raise Failure("bfloat16 dataset")
    if m.text("optimizer/step") != "77\n" or len(m.tensor_dirs("optimizer/vars")) != 2 + len(opt):
        raise Failure("optimizer/vars or step")
    if m.ls("optimizer/vars")[:4] != ["0", "1", "2", "3"] or m.ls("optimizer/vars")[-1] != str(1 + len(opt)):
        raise Failure(f"optimizer/vars not in numeric order: {m.ls('optimizer/vars')}")
    notes.append("standalone")

    # .keras, stored
    kpath = os.path.join(TMP, "model.keras")
    with zipfile.ZipFile(kpath, "w", zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0", "date_saved": "2025-01-01@00:00:00"}))
        z.writestr("config.json", json.dumps(K3_CONFIG))
        z.write(wpath, "model.weights.h5")
        z.writestr("assets/vocab/words.txt", "a\nb\n")
    m = Model(kpath)
    if m.text("format") != "keras-v3\n":
        raise Failure(f".keras format is {m.text('format')!r}")
    want = ["encoder", "bn", "head", "rnn", "drop"]
    if m.ls("layers") != want:
        raise Failure(f".keras ls layers = {m.ls('layers')}, expected {want}")
    m.check_tensor("layers/encoder/vars/0", data["layers/dense/vars/0"], "encoder kernel")
    m.check_tensor("layers/rnn/cell/vars/1", data["layers/lstm/cell/vars/1"], "rnn")
    for (t, slot), (k, v) in opt.items():
        m.check_tensor(f"optimizer/state/layers/{t}/{slot}", v, f"slot {t} {slot}")
        m.check_tensor(f"optimizer/vars/{k}", v, f"var {k}")
    if json.loads(m.text("optimizer/config.json")) != K3_CONFIG["compile_config"]["optimizer"]:
        raise Failure("optimizer/config.json")
    if json.loads(m.text("metadata/config.json")) != K3_CONFIG or m.text("metadata/keras_version") != "3.5.0\n":
        raise Failure("metadata")
    if m.text("assets/vocab/words.txt") != "a\nb\n" or m.text("raw/assets/vocab/words.txt") != "a\nb\n":
        raise Failure("assets")
    with open(wpath, "rb") as fh:
        if m.cat("raw/model.weights.h5") != fh.read():
            raise Failure("raw/model.weights.h5 differs from the member")
    # in place: info.json names the archive and the absolute offset
    info = json.loads(m.text("tensors/layers/dense/vars/0/info.json"))
    zi = zipfile.ZipFile(kpath).getinfo("model.weights.h5")
    with open(kpath, "rb") as fh:
        fh.seek(zi.header_offset)
        hdr = fh.read(30)
        n, x = struct.unpack("<HH", hdr[26:30])
        base = zi.header_offset + 30 + n + x
        off = h5py.File(wpath, "r")["layers/dense/vars/0"].id.get_offset()
        if info.get("file") != os.path.abspath(kpath) and info.get("file") != kpath:
            raise Failure(f"info.json file is {info.get('file')}")
        if info.get("offset") != base + off:
            raise Failure(f"info.json offset {info.get('offset')} != {base + off}")
        fh.seek(base + off)
        if fh.read(data["layers/dense/vars/0"].nbytes) != data["layers/dense/vars/0"].tobytes():
            raise Failure("the archive does not hold the tensor at info.json's offset")
    notes.append("stored .keras")

    # .keras, deflated (not what Keras writes; must still work)
    dpath = os.path.join(TMP, "deflated.keras")
    with zipfile.ZipFile(dpath, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        z.writestr("config.json", json.dumps(K3_CONFIG))
        z.write(wpath, "model.weights.h5")
    m = Model(dpath)
    for p, v in data.items():
        if not p.endswith("extra/vars/0"):
            m.check_tensor(f"tensors/{p}", v, p)
    notes.append("deflated .keras")

    # zipped=False: a directory holding the same files
    upath = os.path.join(TMP, "unzipped_model")
    zipfile.ZipFile(kpath).extractall(upath)
    m = Model(upath)
    if m.text("format") != "keras-v3\n" or m.ls("layers") != ["encoder", "bn", "head", "rnn", "drop"]:
        raise Failure(f"unzipped .keras: format {m.text('format')!r}, layers {m.ls('layers')}")
    m.check_tensor("layers/head/vars/0", data["layers/dense_1/vars/0"], "unzipped head kernel")
    if m.text("assets/vocab/words.txt") != "a\nb\n":
        raise Failure("unzipped .keras: assets")
    notes.append("unzipped .keras directory")
    return ", ".join(notes)


def main():
    cases = [("generic", check_generic), ("userblock", check_userblock),
             ("keras_full", check_keras_full), ("keras_wts", check_keras_weights),
             ("keras3", check_keras3)]
    results = run_cases(cases, os.environ.get("MFS_H5GEN_ONLY"))
    shutil.rmtree(TMP, ignore_errors=True)
    return results


if __name__ == "__main__":
    main_wrapper(main)
