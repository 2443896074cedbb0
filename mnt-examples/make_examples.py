#!/usr/bin/python3
"""make_examples.py: writes the small example models of mnt-examples/.

Run with Debian's interpreter (it has torch, h5py and numpy):

    /usr/bin/python3 mnt-examples/make_examples.py [OUTDIR]

Every file holds the same tiny MLP (16 -> 32 -> 4, seeded), saved the way
each framework saves it, so two mounts of different formats of the same
weights can be compared with `diff -r`. The output is deterministic: fixed
seeds, fixed zip timestamps, no HDF5 object timestamps, so rerunning the
script leaves the committed files unchanged (checked by
tests/mount/examples.sh through SHA256SUMS of the mounts).

safetensors is written by hand (struct + json) because python3-safetensors
is not packaged in Debian 12; the layout follows the format's README
(8-byte LE header length, JSON header padded with spaces to 8 bytes,
tensors tiling the byte buffer in header order).
"""
import io
import json
import os
import struct
import sys
import zipfile

import h5py
import numpy as np
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: reproducible zips


class MLP(torch.nn.Module):
    """Two Linear layers: fc1 (16 -> 32), ReLU, fc2 (32 -> 4)."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def state_numpy(sd):
    """state_dict -> ordered {name: float32 C-order numpy array}."""
    return {k: v.detach().cpu().numpy().copy() for k, v in sd.items()}


# ---------------------------------------------------------------- writers
ST_DTYPES = {np.dtype("float32"): "F32", np.dtype("float16"): "F16",
             np.dtype("float64"): "F64", np.dtype("int64"): "I64",
             np.dtype("int32"): "I32", np.dtype("int8"): "I8",
             np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL"}


def write_safetensors(path, tensors, metadata):
    """Writes {name: array} in insertion order with a __metadata__ dict."""
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False)
        raw = a.tobytes()
        header[name] = {"dtype": ST_DTYPES[a.dtype.newbyteorder("=")],
                        "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def npy_bytes(a):
    bio = io.BytesIO()
    np.lib.format.write_array(bio, a, allow_pickle=False)
    return bio.getvalue()


def write_npz(path, arrays, compressed):
    """np.savez/np.savez_compressed layout, but with fixed member dates."""
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w") as z:
        for name, a in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            z.writestr(info, npy_bytes(a))


def write_keras_h5(path, sd):
    """The tf.keras 2.x legacy full-model layout (model.save('x.h5')): root
    attributes keras_version/backend/model_config/training_config and group
    model_weights with layer_names, per-layer weight_names and datasets at
    model_weights/<layer>/<layer>/<var>:0. Keras kernels are [in, out], the
    transpose of torch's Linear weight [out, in]."""
    layers = [("dense", sd["fc1.weight"].T, sd["fc1.bias"], "relu"),
              ("dense_1", sd["fc2.weight"].T, sd["fc2.bias"], "linear")]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 16],
                                                "dtype": "float32", "name": "input_1"}}] + [
        {"class_name": "Dense", "config": {"name": n, "trainable": True, "dtype": "float32",
                                           "units": int(k.shape[1]), "activation": act,
                                           "use_bias": True}}
        for n, k, _b, act in layers]}}
    training = {"loss": "mse", "metrics": None, "weighted_metrics": None,
                "loss_weights": None, "optimizer_config": {
                    "class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.001,
                                                     "beta_1": 0.9, "beta_2": 0.999,
                                                     "epsilon": 1e-07, "amsgrad": False}}}
    with h5py.File(path, "w", track_order=False) as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.11.0"
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["training_config"] = json.dumps(training).encode()
        mw = f.create_group("model_weights")
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = b"2.11.0"
        mw.attrs["layer_names"] = np.array([n.encode() for n, *_ in layers])
        for n, k, b, _act in layers:
            g = mw.create_group(n)
            g.attrs["weight_names"] = np.array([f"{n}/kernel:0".encode(), f"{n}/bias:0".encode()])
            g.create_dataset(f"{n}/kernel:0", data=np.ascontiguousarray(k), track_times=False)
            g.create_dataset(f"{n}/bias:0", data=b, track_times=False)


# ---------------------------------------------------------------- models
def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    model = MLP()
    init = state_numpy(model.state_dict())

    # A fine-tuned head: fc1 frozen, fc2 trained a few SGD steps.
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 16, generator=g), torch.randn(64, 4, generator=g)
    tuned = MLP()
    tuned.load_state_dict(model.state_dict())
    tuned.fc1.requires_grad_(False)
    sgd = torch.optim.SGD(tuned.fc2.parameters(), lr=0.1)
    for _ in range(5):
        sgd.zero_grad()
        torch.nn.functional.mse_loss(tuned(x), y).backward()
        sgd.step()

    # A training checkpoint: the whole model, 3 Adam steps.
    trained = MLP()
    trained.load_state_dict(model.state_dict())
    adam = torch.optim.Adam(trained.parameters(), lr=1e-3)
    for _ in range(3):
        adam.zero_grad()
        loss = torch.nn.functional.mse_loss(trained(x), y)
        loss.backward()
        adam.step()

    meta = {"format": "pt", "source": "modelfs mnt-examples/make_examples.py",
            "model": "MLP 16-32-4"}
    write_safetensors(os.path.join(OUT, "mlp.safetensors"), init, meta)
    write_safetensors(os.path.join(OUT, "mlp_finetuned.safetensors"),
                      state_numpy(tuned.state_dict()), dict(meta, note="fc2 fine-tuned"))
    torch.save(model.state_dict(), os.path.join(OUT, "mlp.pth"))
    torch.save({"epoch": 3, "model_state_dict": trained.state_dict(),
                "optimizer_state_dict": adam.state_dict(), "loss": float(loss)},
               os.path.join(OUT, "mlp_checkpoint.pth"))
    write_keras_h5(os.path.join(OUT, "mlp.h5"), init)
    write_npz(os.path.join(OUT, "weights.npz"), init, compressed=False)
    write_npz(os.path.join(OUT, "weights_compressed.npz"), init, compressed=True)
    rng = np.random.default_rng(2)
    np.save(os.path.join(OUT, "array.npy"), rng.standard_normal((3, 4)).astype(np.float64))
    # Fortran order, big-endian: exercises the npy reader's conversions.
    np.save(os.path.join(OUT, "array_fortran_be.npy"),
            np.asfortranarray(np.arange(12, dtype=">i4").reshape(3, 4)))


if __name__ == "__main__":
    main()
