#!/usr/bin/python3
"""keras_corpus.py: every Keras/HDF5 file of the corpus against EXPECTED.json
and against h5py's reading of its structure.

Files: every EXPECTED.json key ending in .h5/.hdf5/.keras or under a
keras*/hdf5 folder. For each:
  * it opens with the reader its folder implies (format file);
  * every EXPECTED dataset (an HDF5 path) is found at raw/<path> (for a
    .keras: raw/model.weights/<path>) with EXPECTED's dtype, shape and the
    sha256 of its data. EXPECTED hashes C-order little-endian bytes: a
    big-endian '>i4' dataset is int32 here with little-endian data;
  * Keras legacy files: `ls layers` is layer_names (read by h5py, chunked
    layer_names0.. too), and layers/ holds as many tensors as the layers'
    weight_names list; tensors/ as many as well;
  * Keras 3: `ls layers` is the config's layer names (for .keras, replaying
    Keras' snake_case container naming) or the stored group names;
  * optimizer weights: every dataset under optimizer_weights/ (legacy) or
    optimizer/ (Keras 3) has a tensor with identical bytes under optimizer/,
    TF2-style "<opt>/<param>/<slot>:0" names sit at
    optimizer/state/<param>/<slot>, Keras 2.0's anonymous "Variable_N:0"
    ones there too by their position in Keras' order for the optimizer
    class, and iterations give optimizer/step;
  * metadata/keras_version equals the file's own attribute.
"""
import hashlib
import io
import json
import os
import re
import sys
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hdf5_common import Failure, Model, esc_path, main_wrapper  # noqa: E402
import keras_writers as kw  # noqa: E402

SHARED = os.environ.get("MFS_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
CORPUS = os.path.join(SHARED, "corpus")

FORMAT_BY_DIR = {
    "keras_h5_full": "keras-h5",
    "keras_h5_weights": "keras-h5-weights",
    "keras3_weights_h5": "keras3-weights-h5",
    "keras_v3": "keras-v3",
    "hdf5": "hdf5",
}


def norm_dtype(d):
    d = d.lstrip("<>=|")
    table = {"i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64", "u1": "uint8",
             "u2": "uint16", "u4": "uint32", "u8": "uint64", "f2": "float16", "f4": "float32",
             "f8": "float64", "b1": "bool", "c8": "complex64", "c16": "complex128"}
    return table.get(d, d)


def attr_list(obj, name):
    """Keras' load_attributes_from_hdf5_group: name, or name0, name1..."""
    def dec(v):
        return [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in np.ravel(v)]
    if name in obj.attrs:
        v = obj.attrs[name]
        return [] if np.size(v) == 0 else dec(v)
    out, k = [], 0
    while f"{name}{k}" in obj.attrs:
        out += dec(obj.attrs[f"{name}{k}"])
        k += 1
    return out


def attr_str(obj, name):
    v = obj.attrs.get(name)
    if v is None:
        return None
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_layer_names(h5, config):
    """Expected `ls layers` of a Keras 3 weights file."""
    groups = set(h5["layers"].keys()) if "layers" in h5 else set()
    names = []
    if config is not None:
        used = {}
        for ly in config["config"]["layers"]:
            n = to_snake_case(ly["class_name"])
            if n in used:
                used[n] += 1
                n = f"{n}_{used[n]}"
            else:
                used[n] = 0
            if n in groups:
                names.append(ly["config"].get("name", n))
                groups.discard(n)
    rest = sorted(groups, key=lambda s: [int(c) if c.isdigit() else c
                                         for c in re.split(r"(\d+)", s)])
    for g in rest:
        vn = h5["layers"][g].get("vars")
        nm = attr_str(vn, "name") if vn is not None else None
        names.append(nm if nm and "/" not in nm else g)
    return names


ANON = re.compile(r"(^|/)(Variable(_\d+)?|param_\d+)(:\d+)?$")


def check_anonymous(m, h5, fmt):
    """Keras 1/2.0 optimizer weights without names ("Variable_N:0"): each
    must sit at optimizer/state/<param>/<slot> in Keras' order for the
    optimizer class (keras_writers.K2_SLOTS: the 2.0 source's lists) over
    the trainable weights (not frozen layers, not BatchNormalization's
    moving statistics)."""
    og = h5["optimizer_weights"]
    names = attr_list(og, "weight_names")
    anon = [w for w in names if ANON.search(w)]
    if not anon or len(anon) != len([w for w in names if not re.search(r"(^|/)iterations?(:\d+)?$", w)]):
        return []
    cls = json.loads(attr_str(h5, "training_config"))["optimizer_config"]["class_name"]
    frozen = set()
    def walk(j):
        if isinstance(j, dict):
            c = j.get("config")
            if isinstance(c, dict) and c.get("trainable") is False and isinstance(c.get("name"), str):
                frozen.add(c["name"])
            for v in j.values():
                walk(v)
        elif isinstance(j, list):
            for v in j:
                walk(v)
    walk(json.loads(attr_str(h5, "model_config")))
    wg = h5["model_weights"]
    params = []
    for ln in attr_list(wg, "layer_names"):
        for w in attr_list(wg[ln], "weight_names") if ln in wg else []:
            key = re.sub(r":\d+$", "", w)
            if ln in frozen or key.endswith(("moving_mean", "moving_variance", "running_mean", "running_std")):
                continue
            params.append((key, wg[ln][w].shape))
    slots = kw.K2_SLOTS[cls][1]
    if len(anon) != len(slots) * len(params):
        raise Failure(f"test premise: {len(anon)} anonymous weights for {len(params)} parameters")
    for i, w in enumerate(anon):
        key, shape = params[i % len(params)]
        slot = slots[i // len(params)]
        arr = og[w][()]
        if arr.shape != shape:
            raise Failure(f"test premise: {w} has shape {arr.shape}, {key} {shape}")
        d = f"optimizer/state/{esc_path(key)}/{slot}"
        if not m.has(d + "/data") or m.sha(d) != hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest():
            raise Failure(f"{w} is not at {d} with its bytes ({cls} order)")
    return [f"{len(anon)} anonymous {cls} weights placed by position"]


def check_file(rel, expected):
    path = os.path.join(CORPUS, rel)
    top = rel.split("/")[1]
    want_fmt = FORMAT_BY_DIR.get(top)
    m = Model(path)
    fmt = m.text("format").strip()
    if want_fmt and fmt != want_fmt:
        raise Failure(f"format is {fmt}, expected {want_fmt}")
    is_keras = rel.endswith(".keras")
    raw = "raw/model.weights" if is_keras else "raw"
    # 1. EXPECTED datasets at raw/<path>
    for name, (dt, shape, sha) in expected.items():
        d = f"{raw}/{esc_path(name)}"
        if d + "/data" not in m.set:
            raise Failure(f"{name}: {d}/data missing")
        got_dt = m.text(d + "/dtype").strip()
        if got_dt != norm_dtype(dt):
            raise Failure(f"{name}: dtype {got_dt}, EXPECTED {dt}")
        got_shape = m.text(d + "/shape").strip()
        if got_shape != "[" + ", ".join(str(x) for x in shape) + "]":
            raise Failure(f"{name}: shape {got_shape}, EXPECTED {shape}")
        if m.sha(d) != sha:
            raise Failure(f"{name}: sha256 of data differs from EXPECTED")
    # the h5 as h5py sees it
    if is_keras:
        zf = zipfile.ZipFile(path)
        h5 = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
        config = json.loads(zf.read("config.json"))
        meta = json.loads(zf.read("metadata.json"))
    else:
        h5 = h5py.File(path, "r")
        config, meta = None, None
    notes = []
    # 2. layers/
    if fmt in ("keras-h5", "keras-h5-weights"):
        wg = h5["model_weights"] if "model_weights" in h5 else h5
        lnames = attr_list(wg, "layer_names")
        got = m.ls("layers")
        if got != [esc_path(x) for x in lnames]:
            raise Failure(f"ls layers = {got}, layer_names = {lnames}")
        nweights = sum(len(attr_list(wg[ln], "weight_names")) for ln in lnames if ln in wg)
        nl = len(m.tensor_dirs("layers"))
        nt = len(m.tensor_dirs("tensors"))
        if nl != nweights or nt != nweights:
            raise Failure(f"{nweights} weights in weight_names, {nl} under layers/, {nt} under tensors/")
        notes.append(f"{len(lnames)} layers")
    elif fmt in ("keras3-weights-h5", "keras-v3"):
        want = keras3_layer_names(h5, config)
        got = m.ls("layers")
        if got != [esc_path(x) for x in want]:
            raise Failure(f"ls layers = {got}, expected {want}")
        notes.append(f"{len(want)} layers")
    # 3. optimizer
    opt_root = "optimizer_weights" if "optimizer_weights" in h5 else \
        "optimizer" if fmt in ("keras3-weights-h5", "keras-v3") and "optimizer" in h5 else None
    if opt_root:
        have = {}
        for d in m.tensor_dirs("optimizer"):
            have.setdefault(m.sha(d), []).append(d)
        nopt = 0
        def visit(name, obj):
            nonlocal nopt
            if isinstance(obj, h5py.Dataset):
                nopt += 1
                arr = obj[()]
                sha = hashlib.sha256(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()).hexdigest()
                if sha not in have:
                    raise Failure(f"optimizer weight {opt_root}/{name} not under optimizer/")
        h5[opt_root].visititems(visit)
        if opt_root == "optimizer_weights":
            for w in attr_list(h5[opt_root], "weight_names"):
                mm = re.match(r"^[^/]+/(.+)/(m|v|momentum|velocity|rms|accumulator):\d+$", w)
                if mm and not m.has(f"optimizer/state/{esc_path(mm.group(1))}/{mm.group(2)}/data"):
                    raise Failure(f"slot {w} not at optimizer/state/{mm.group(1)}/{mm.group(2)}")
                if re.search(r"(^|/)(iter|iterations|iteration):\d+$", w):
                    step = int(np.asarray(h5[opt_root][w][()]).item())
                    if m.text("optimizer/step").strip() != str(step):
                        raise Failure(f"optimizer/step != {step}")
            notes += check_anonymous(m, h5, fmt)
        notes.append(f"{nopt} optimizer weights")
    # 4. metadata
    kv = attr_str(h5, "keras_version") if not is_keras else meta.get("keras_version")
    if kv is None and "model_weights" in h5:
        kv = attr_str(h5["model_weights"], "keras_version")
    if kv is not None and m.text("metadata/keras_version") != kv + "\n":
        raise Failure(f"metadata/keras_version != {kv}")
    if "model_config" in h5.attrs:
        cfg = json.loads(attr_str(h5, "model_config"))
        if json.loads(m.text("metadata/model_config.json")) != cfg:
            raise Failure("metadata/model_config.json differs from the attribute")
    if is_keras and json.loads(m.text("metadata/config.json")) != config:
        raise Failure("metadata/config.json differs from config.json")
    return f"{len(expected)} datasets match; " + ", ".join(notes)


def main():
    exp_path = os.path.join(CORPUS, "EXPECTED.json")
    if not os.path.exists(exp_path):
        print(f"skipped: no corpus at {CORPUS}")
        sys.exit(77)
    expected = json.load(open(exp_path))
    files = sorted(k for k in expected
                   if re.search(r"\.(h5|hdf5|keras)$", k) or "/keras" in k or "/hdf5/" in k)
    files = [f for f in files if re.search(r"\.(h5|hdf5|keras)$", f)]
    results = []
    for rel in files:
        try:
            note = check_file(rel, expected[rel].get("tensors", {}))
            print(f"  {rel}: {note}")
            results.append((rel, None))
        except Failure as e:
            results.append((rel, str(e)))
        except Exception as e:  # a bug in the test or an unexpected file
            results.append((rel, f"{type(e).__name__}: {e}"))
    if not results:
        print("skipped: no HDF5/Keras files in the corpus")
        sys.exit(77)
    return results


if __name__ == "__main__":
    main_wrapper(main)
