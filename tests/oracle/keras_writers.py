"""keras_writers.py: writes Keras files in the exact on-disk layouts of the
Keras versions that produce them, with h5py/numpy/zipfile only (Keras is
not installed). Shared by keras_layouts.py (oracle), the mount test
(tests/mount/mount_keras.sh) and the bad-input test (tests/bad/hdf5_bad.sh).

  K3_CONFIG          a Keras 3 Sequential's config.json (hdf5_generated.py too)
  k3_variables()     its saveables in _save_state order:
                     [(inner path, vars-group name attribute, [arrays])]
  write_k3_h5()      H5IOStore: one .weights.h5
  write_k3_sharded() ShardedH5IOStore (keras/src/saving/saving_lib.py):
                     x.weights.json + x_00000.weights.h5, ...: a shard is
                     closed when the next variable would take it past
                     max_shard_size (bytes here); the new shard re-creates
                     the current vars group (without its name attribute);
                     weight_map maps "/<path>/vars" to the shard, or to the
                     list of shards once a group straddles two (newer Keras;
                     list_style=False writes the older string-only map)
  write_k3_keras()   a .keras zip (config.json, metadata.json) whose weights
                     are the h5 (H5IOStore) or model.weights.npz
                     (NpzIOStore: np.savez of {path: {"0": array, ...}},
                     "__root__" for the model itself, written through
                     zf.open(..., force_zip64=True) like Keras does)
  write_k2_full()    a Keras 2.0.x model.save() HDF5 file whose optimizer
                     weights are anonymous TF variables ("Variable_N:0") in
                     the optimizer's own order (keras/optimizers.py of 2.0:
                     Adam [iterations] + ms + vs, RMSprop accumulators ...)
"""
import json
import os
import zipfile

import h5py
import numpy as np

K3_CONFIG = {
    "module": "keras", "class_name": "Sequential",
    "config": {"name": "sequential", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"name": "input_layer"}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "encoder"}},
        {"module": "keras.layers", "class_name": "BatchNormalization", "config": {"name": "bn"}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "head"}},
        {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "rnn"}},
        {"module": "keras.layers", "class_name": "Dropout", "config": {"name": "drop"}}]},
    "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                                     "config": {"name": "adam", "learning_rate": 0.001}}},
}


def k3_variables(rng, big=False):
    """The saveables of K3_CONFIG's model in Keras' _save_state order, as
    (inner path, name attribute or None, [arrays]); trainable variables
    get Adam's momentum/velocity in the optimizer (interleaved)."""
    f = np.float32
    n = 64 if big else 6
    layers = [
        ("layers/dense", "encoder", [rng.standard_normal((n, 40)).astype(f), rng.standard_normal(40).astype(f)]),
        ("layers/batch_normalization", "bn", [rng.standard_normal(40).astype(f) for _ in range(4)]),
        ("layers/dense_1", "head", [rng.standard_normal((40, 24)).astype(f), rng.standard_normal(24).astype(f)]),
        ("layers/lstm", "rnn", []),
        ("layers/lstm/cell", "lstm_cell", [rng.standard_normal((24, 32)).astype(f),
                                          rng.standard_normal((8, 32)).astype(f),
                                          rng.standard_normal(32).astype(f)]),
        ("layers/dropout", "drop", []),
    ]
    trainable = [a for p, _, vs in layers for i, a in enumerate(vs)
                 if not (p == "layers/batch_normalization" and i >= 2)]
    opt = [np.array(17, dtype=np.int64), np.array(0.001, dtype=f)]
    for a in trainable:
        opt += [rng.standard_normal(a.shape).astype(f), rng.standard_normal(a.shape).astype(f)]
    return [("", "sequential", [])] + layers + [("optimizer", "adam", opt)]


def _group(f, path):
    return f.require_group(f"{path}/vars" if path else "vars")


def write_k3_h5(path_or_file, saveables):
    """H5IOStore: groups with a name attribute are made up front (make with
    metadata), the others when their first variable is set."""
    f = h5py.File(path_or_file, "w")
    for p, name, arrs in saveables:
        if name is not None:
            _group(f, p).attrs["name"] = name
        for i, a in enumerate(arrs):
            _group(f, p)[str(i)] = a
    f.close()


def write_k3_sharded(directory, base, saveables, max_shard_size, list_style=True):
    """ShardedH5IOStore.  Returns (index path, {dataset path: shard name})."""
    index = {"metadata": {"total_size": 0}, "weight_map": {}}
    shard_no = 0

    def new_shard():
        nonlocal shard_no
        name = f"{base}_{shard_no:05}.weights.h5"
        shard_no += 1
        return name, h5py.File(os.path.join(directory, name), "w")

    cur_name, cur = new_shard()
    cur_size = 0
    where = {}
    wm = index["weight_map"]
    for p, name, arrs in saveables:
        if name is not None:  # make(path, metadata): group now, in this shard
            _group(cur, p).attrs["name"] = name
        for i, a in enumerate(arrs):
            size = a.nbytes
            if size > max_shard_size:
                raise ValueError(f"{p}/vars/{i}: {size} bytes exceed max_shard_size")
            index["metadata"]["total_size"] += size
            cur_size += size
            if cur_size > max_shard_size:
                cur.close()
                cur_name, cur = new_shard()
                cur_size = size
            g = _group(cur, p)
            g[str(i)] = a
            key = g.name
            where[f"{p}/vars/{i}" if p else f"vars/{i}"] = cur_name
            if key not in wm:
                wm[key] = cur_name
            elif list_style:
                if not isinstance(wm[key], list):
                    wm[key] = [wm[key]]
                if cur_name not in wm[key]:
                    wm[key].append(cur_name)
    cur.close()
    ipath = os.path.join(directory, f"{base}.weights.json")
    with open(ipath, "w") as fh:
        fh.write(json.dumps(index, indent=4))
    return ipath, where


def npz_contents(saveables):
    """NpzIOStore.contents: {path or "__root__": {"0": array, ...}}."""
    return {(p or "__root__"): {str(i): a for i, a in enumerate(arrs)} for p, _, arrs in saveables}


def write_k3_keras(path, saveables, fmt="h5", config=K3_CONFIG, compression=zipfile.ZIP_STORED,
                   contents=None):
    """A .keras archive the way _save_model_to_fileobj writes it."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        with zf.open("metadata.json", "w") as f:
            f.write(json.dumps({"keras_version": "3.6.0", "date_saved": "2025-01-01@00:00:00"}).encode())
        with zf.open("config.json", "w") as f:
            f.write(json.dumps(config).encode())
        if fmt == "h5":
            import io
            bio = io.BytesIO()
            write_k3_h5(bio, saveables)
            zf.writestr("model.weights.h5", bio.getvalue())
        else:
            with zf.open("model.weights.npz", mode="w", force_zip64=True) as f:
                np.savez(f, **(contents if contents is not None else npz_contents(saveables)))


# ---------------------------------------------------------------- Keras 2.0

# The optimizer's weights list in Keras 2.0.x (keras/optimizers.py,
# get_updates): slot lists in order, and whether iterations comes first.
K2_SLOTS = {"SGD": (True, ["moment"]), "RMSprop": (False, ["accumulator"]),
            "Adagrad": (False, ["accumulator"]),
            "Adadelta": (False, ["accumulator", "delta_accumulator"]),
            "Adam": (True, ["m", "v"]), "Adamax": (True, ["m", "u"]), "Nadam": (True, ["m", "v"])}


def k2_layers(rng):
    """(layer name, trainable, [(weight name, array)]) of a small Keras 2.0
    Sequential model; BatchNormalization's moving statistics are not
    trainable, and dense_2 is frozen (trainable=False in its config)."""
    f = np.float32
    return [
        ("dense_1", True, [("dense_1/kernel:0", rng.standard_normal((5, 7)).astype(f)),
                           ("dense_1/bias:0", rng.standard_normal(7).astype(f))]),
        ("dropout_1", True, []),
        ("batch_normalization_1", True, [(f"batch_normalization_1/{w}:0", rng.standard_normal(7).astype(f))
                                         for w in ("gamma", "beta", "moving_mean", "moving_variance")]),
        ("dense_2", False, [("dense_2/kernel:0", rng.standard_normal((7, 7)).astype(f)),
                            ("dense_2/bias:0", rng.standard_normal(7).astype(f))]),
        ("dense_3", True, [("dense_3/kernel:0", rng.standard_normal((7, 3)).astype(f)),
                           ("dense_3/bias:0", rng.standard_normal(3).astype(f))]),
    ]


def k2_trainable(layers):
    return [(w, a) for _, tr, ws in layers if tr for w, a in ws
            if not w.split("/")[-1].startswith(("moving_mean", "moving_variance"))]


def write_k2_full(path, rng, opt_class="Adam", names="tf", corrupt=None):
    """Keras 2.0.6 model.save(): returns (layers, {stored name: (param, slot,
    array)}, iterations). @names "tf": Variable, Variable_1 ... (TF
    backend); "theano": param_<index in the weights list>. @corrupt:
    "count" drops the last slot, "shape" transposes one slot."""
    layers = k2_layers(rng)
    train = k2_trainable(layers)
    f = h5py.File(path, "w")
    cfg = {"class_name": "Sequential", "config": [
        {"class_name": "Dense" if ln.startswith("dense") else
         "Dropout" if ln.startswith("dropout") else "BatchNormalization",
         "config": {"name": ln, "trainable": tr}} for ln, tr, _ in layers]}
    opt_cfg = {"class_name": opt_class, "config": {"lr": 0.001, "decay": 0.0}}
    f.attrs["keras_version"] = b"2.0.6"
    f.attrs["backend"] = b"tensorflow"
    f.attrs["model_config"] = json.dumps(cfg).encode()
    f.attrs["training_config"] = json.dumps({"loss": "mse", "optimizer_config": opt_cfg}).encode()
    mw = f.create_group("model_weights")
    mw.attrs["layer_names"] = np.array([ln.encode() for ln, _, _ in layers])
    mw.attrs["keras_version"] = b"2.0.6"
    mw.attrs["backend"] = b"tensorflow"
    for ln, _, ws in layers:
        g = mw.create_group(ln)
        g.attrs["weight_names"] = np.array([w.encode() for w, _ in ws]) if ws else np.array([])
        for w, a in ws:
            g[w] = a
    with_iter, slots = K2_SLOTS[opt_class]
    weights = []  # optimizer.weights, in order
    iterations = np.array(123.0, dtype=np.float32)  # K.variable(0., name='iterations')
    if with_iter:
        weights.append(("iterations", None, None, iterations))
    for s in slots:
        for w, a in train:
            weights.append((None, w[:-2], s, rng.standard_normal(a.shape).astype(np.float32)))
    if corrupt == "count":
        weights.pop()
    elif corrupt == "shape":
        k = next(i for i, x in enumerate(weights) if x[3].ndim == 2 and x[3].shape[0] != x[3].shape[1])
        weights[k] = weights[k][:3] + (np.ascontiguousarray(weights[k][3].T),)
    out, nvar = {}, 0
    for i, (fixed, param, slot, a) in enumerate(weights):
        if fixed:
            name = fixed + (":0" if names == "tf" else "")
        elif names == "tf":
            name = "Variable:0" if nvar == 0 else f"Variable_{nvar}:0"
            nvar += 1
        else:
            name = f"param_{i}"
        out[name] = (param, slot, a)
    ow = f.create_group("optimizer_weights")
    ow.attrs["weight_names"] = np.array([n.encode() for n in out])
    for n, (_, _, a) in out.items():
        ow[n] = a
    f.close()
    return layers, out, int(iterations)
