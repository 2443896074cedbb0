#!/usr/bin/python3
"""keras_layouts.py: Keras layouts written here in the exact form Keras
gives them (keras_writers.py), read through modelfs and compared with
h5py/numpy's own reading.

Cases (one row each):
  sharded      save_weights(max_shard_size=...): x.weights.json + shards,
               newer (list) and older (string-only) weight_map, the index
               and its directory mounted: format keras3-weights-sharded;
               layers/, optimizer/, tensors/ list exactly what the
               unsharded .weights.h5 of the same variables lists, with
               h5py's dtype/shape/bytes; info.json names the shard h5py
               finds each dataset in, at h5py's offset (read lazily from
               that shard); metadata/total_size and shards
  k2_anon      Keras 2.0 model.save() files whose optimizer weights are
               anonymous ("Variable_N:0"; Theano "param_N") for Adam, SGD,
               RMSprop, Adagrad, Adadelta, Adamax, Nadam: each at
               optimizer/state/<param>/<slot> with h5py's bytes and
               info.json stored_name/param/slot, optimizer/step; frozen
               layers and BatchNormalization statistics get no slots;
               a wrong count or a wrong shape leaves them at vars/<name>
  npz          .keras saved with weights_format="npz" (model.weights.npz
               of pickled dicts, as NpzIOStore writes it): the same
               layers/ optimizer/ tensors/ as the h5 .keras of the same
               variables (names from config.json, Adam slots, step), with
               numpy's bytes; stored archive: info.json's offset in the
               .keras holds the bytes; deflated archive; the unzipped
               directory; values pickled inside a wrapper object (a Keras
               Variable) are found
"""
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import types
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hdf5_common import Failure, Model, main_wrapper, run_cases  # noqa: E402
import keras_writers as kw  # noqa: E402

TMP = tempfile.mkdtemp(prefix="mfs-keraslay-")


def views(m):
    """Every non-raw, non-metadata path of a model (readdir order)."""
    return [p for p in m.paths if p.split("/")[0] in ("layers", "optimizer", "tensors")]


def expected_tensors(saveables):
    return {(f"{p}/vars/{i}" if p else f"vars/{i}"): a for p, _, arrs in saveables
            for i, a in enumerate(arrs)}


def tdir(p):
    """Where variable @p is shown: tensors/<path>, optimizer/vars/<i>."""
    return p if p.startswith("optimizer/") else f"tensors/{p}"


def same_views(m, ref, what):
    """@m shows exactly @ref's layers/ optimizer/ tensors/ (paths, each
    directory's order, and every tensor's dtype/shape/data)."""
    a, b = views(m), views(ref)
    if set(a) != set(b):
        extra = sorted(set(a) - set(b))[:5]
        missing = sorted(set(b) - set(a))[:5]
        raise Failure(f"{what}: views differ from the reference's (extra {extra}, missing {missing})")
    for d in (p for p in a if p.endswith("/")):  # each directory in readdir order
        if m.ls(d) != ref.ls(d):
            raise Failure(f"{what}: ls {d} = {m.ls(d)}, the reference has {ref.ls(d)}")
    for p in a:
        if p.endswith(("/dtype", "/shape", "/data")) and m.cat(p) != ref.cat(p):
            raise Failure(f"{what}: {p} differs")
    return len(a)


def check_sharded():
    rng = np.random.default_rng(11)
    sv = kw.k3_variables(rng)
    want = expected_tensors(sv)
    upath = os.path.join(TMP, "model.weights.h5")
    kw.write_k3_h5(upath, sv)
    ref = Model(upath)
    notes = []
    for style in ("list", "string"):
        d = os.path.join(TMP, f"sharded_{style}")
        os.makedirs(d)
        ipath, where = kw.write_k3_sharded(d, "model", sv, 9000, list_style=style == "list")
        index = json.load(open(ipath))
        shards = sorted(set(where.values()))
        straddle = [k for k, v in index["weight_map"].items() if isinstance(v, list) and len(v) > 1]
        if len(shards) < 3 or (style == "list" and not straddle):
            raise Failure("test bug: the variables did not spread over shards")
        for target in (ipath, d) if style == "list" else (ipath,):
            m = Model(target)
            if m.text("format") != "keras3-weights-sharded\n":
                raise Failure(f"{target}: format is {m.text('format')!r}")
            n = same_views(m, ref, f"{style} {os.path.basename(target)}")
            for p, arr in want.items():
                m.check_tensor(tdir(p), arr, p)
        m = Model(ipath)
        for p, shard in where.items():
            info = json.loads(m.text(f"{tdir(p)}/info.json"))
            with h5py.File(os.path.join(d, shard), "r") as f:
                off = f[p].id.get_offset()
            if info.get("shard") != shard or info.get("file") != os.path.join(d, shard) or \
                    info.get("offset") != off or info.get("encoding") != "plain":
                raise Failure(f"{style}: {p} is in {shard} at {off} (h5py), info.json says "
                              f"{info.get('shard')} {info.get('file')} {info.get('offset')}")
        if m.text("metadata/total_size") != f"{index['metadata']['total_size']}\n":
            raise Failure(f"metadata/total_size is {m.text('metadata/total_size')!r}")
        if m.text("metadata/shards").split() != shards:
            raise Failure(f"metadata/shards is {m.text('metadata/shards')!r}")
        if m.cat("raw/model.weights.json") != open(ipath, "rb").read():
            raise Failure("raw/model.weights.json is not the index")
        notes.append(f"{style} map: {len(shards)} shards, {n} view paths")
    # no config: stored groups in natural order, shown by their vars/@name
    # (which a straddling group carries in its first shard only)
    if ref.ls("layers") != ["bn", "encoder", "head", "drop", "rnn"]:
        raise Failure(f"unsharded: layers are {ref.ls('layers')}")
    return ", ".join(notes)


def check_k2_anon():
    # (the HDF5 canary re-does every open in a child: nothing to learn from
    # it on these eleven well-formed files, and it doubles their cost)
    os.environ["MFS_H5_CANARY"] = "0"
    try:
        return k2_anon_cases()
    finally:
        del os.environ["MFS_H5_CANARY"]


def k2_anon_cases():
    rng = np.random.default_rng(5)
    notes = []
    cases = [(c, "tf", None) for c in kw.K2_SLOTS] + [("Adadelta", "theano", None),
                                                       ("Adam", "tf", "count"), ("Adam", "tf", "shape")]
    for cls, names, corrupt in cases:
        path = os.path.join(TMP, f"k2_{cls}_{names}_{corrupt}.h5")
        layers, out, iters = kw.write_k2_full(path, rng, cls, names=names, corrupt=corrupt)
        m = Model(path)
        what = f"{cls}/{names}" + (f"/{corrupt}" if corrupt else "")
        with h5py.File(path, "r") as f:
            h5 = {n: f["optimizer_weights"][n][()] for n in out}
        if corrupt:
            if any(p.startswith("optimizer/state/") for p in m.paths):
                raise Failure(f"{what}: slots attached although the {corrupt} does not fit")
            for n, (param, _, _) in out.items():
                if param:
                    m.check_tensor(f"optimizer/vars/{n[:-2]}", h5[n], f"{what} {n}")
            continue
        slotted = set()
        for n, (param, slot, _) in out.items():
            if not param:
                continue
            d = f"optimizer/state/{param}/{slot}"
            m.check_tensor(d, h5[n], f"{what} {n}")
            info = json.loads(m.text(d + "/info.json"))
            if info.get("stored_name") != n or info.get("param") != param or info.get("slot") != slot:
                raise Failure(f"{what}: {d}/info.json: {info}")
            slotted.add(param)
        frozen = {w[:-2] for _, tr, ws in layers for w, _ in ws} - \
            {w[:-2] for w, _ in kw.k2_trainable(layers)}
        if any(p.startswith(f"optimizer/state/{x}/") for x in frozen for p in m.paths):
            raise Failure(f"{what}: a non-trainable weight got slots")
        if kw.K2_SLOTS[cls][0] and m.text("optimizer/step") != f"{iters}\n":
            raise Failure(f"{what}: optimizer/step is {m.text('optimizer/step')!r}")
        if any(p.startswith("optimizer/vars/Variable") or p.startswith("optimizer/vars/param_")
               for p in m.paths):
            raise Failure(f"{what}: anonymous weights left under optimizer/vars")
        notes.append(f"{cls}{'(theano)' if names == 'theano' else ''}")
    return "mapped: " + " ".join(notes) + "; count and shape mismatches listed by name"


class Variable:
    """Stands in for keras.Variable: pickled by __reduce_ex__ as
    copyreg.__newobj__(cls) + BUILD of its __dict__ (the value inside)."""
    def __init__(self, value, name):
        self._value = value
        self._name = name
        self._trainable = True


def with_fake_keras_variable():
    mod = types.ModuleType("keras.src.backend.numpy.core")
    Variable.__module__ = mod.__name__
    mod.Variable = Variable
    for name in ("keras", "keras.src", "keras.src.backend", "keras.src.backend.numpy"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[mod.__name__] = mod


def check_npz():
    rng = np.random.default_rng(21)
    sv = kw.k3_variables(rng, big=True)  # arrays > 64 KiB too
    want = expected_tensors(sv)
    hpath = os.path.join(TMP, "h5.keras")
    kw.write_k3_keras(hpath, sv, "h5")
    ref = Model(hpath)
    notes = []
    npath = os.path.join(TMP, "npz.keras")
    kw.write_k3_keras(npath, sv, "npz")
    # the test's premise: numpy reads the store back as Keras would
    with zipfile.ZipFile(npath) as z:
        store = np.load(io.BytesIO(z.read("model.weights.npz")), allow_pickle=True)
        for p, arr in want.items():
            key, _, i = p.rpartition("/vars/")
            if not np.array_equal(store[key or "__root__"].item()[i], arr):
                raise Failure(f"test bug: np.load reads {p} differently")
    dpath = os.path.join(TMP, "npz_deflated.keras")
    kw.write_k3_keras(dpath, sv, "npz", compression=zipfile.ZIP_DEFLATED)
    upath = os.path.join(TMP, "npz_unzipped")
    zipfile.ZipFile(npath).extractall(upath)
    for path, what in ((npath, "stored"), (dpath, "deflated"), (upath, "unzipped")):
        m = Model(path)
        if m.text("format") != "keras-v3\n":
            raise Failure(f"{what}: format is {m.text('format')!r}")
        n = same_views(m, ref, f"npz {what}")
        for p, arr in want.items():
            m.check_tensor(tdir(p), arr, f"{what} {p}")
        if m.text("optimizer/step") != "17\n" or m.ls("layers") != ref.ls("layers"):
            raise Failure(f"{what}: step or layers")
        notes.append(f"{what} ({n} view paths)")
    # stored in stored: PLAIN on the archive at info.json's offset
    m = Model(npath)
    with open(npath, "rb") as fh:
        for p, arr in want.items():
            info = json.loads(m.text(f"{tdir(p)}/info.json"))
            if info.get("encoding") != "plain" or info.get("file") != npath:
                raise Failure(f"{p}: not PLAIN on the archive: {info}")
            fh.seek(info["offset"])
            if fh.read(arr.nbytes) != arr.tobytes():
                raise Failure(f"{p}: the archive does not hold the tensor at offset {info['offset']}")
    notes.append("offsets in the archive")
    # layer variables pickled as Keras Variable objects
    with_fake_keras_variable()
    contents = kw.npz_contents(sv)
    for p, d in contents.items():
        if p.startswith("layers/"):
            for k in d:
                d[k] = Variable(d[k], f"v{k}")
    wpath = os.path.join(TMP, "npz_wrapped.keras")
    kw.write_k3_keras(wpath, sv, "npz", contents=contents)
    m = Model(wpath)
    same_views(m, ref, "npz wrapped")
    info = json.loads(m.text("tensors/layers/dense/vars/0/info.json"))
    if info.get("pickled_in") != "keras.src.backend.numpy.core.Variable":
        raise Failure(f"wrapped value: info.json {info}")
    notes.append("Variable-wrapped values")
    return ", ".join(notes)


def main():
    cases = [("sharded", check_sharded), ("k2_anon", check_k2_anon), ("npz", check_npz)]
    results = run_cases(cases, os.environ.get("MFS_KERAS_ONLY"))
    shutil.rmtree(TMP, ignore_errors=True)
    return results


if __name__ == "__main__":
    main_wrapper(main)
