#!/usr/bin/python3
"""tf_corpus.py: every TensorFlow checkpoint and SavedModel of the corpus
through modelfs, against EXPECTED.json (ctest oracle.tf_corpus).

For every EXPECTED file that is a tensor bundle (*.index of tf_checkpoint/,
keras_tf_checkpoint/, saved_model/*/variables/), each way of mounting it is
checked: the .index file, the prefix (not a file), the checkpoint directory
(then the checkpoint is the main model when the `checkpoint` state file
names it, and is always under checkpoints/<name>/), and, for SavedModel
variables, the SavedModel directory (and a TF Serving base directory).
For each: every expected key is in `summary` with its dtype and shape, its
`SHA256SUMS` line equals EXPECTED's sha256 (SHA256SUMS reads every tensor
through the CRC-checked read path), and for a sample of keys
`modelfs cat MOUNT tensors/<key>/data | sha256sum` equals it too.

Then the structure the issue asks for: optimizer slots under
optimizer/state/<param>/<slot> holding the slot's bytes, optimizer
config/step, layer names from Keras configs and metadata, signatures of
the half_plus_two, counter and Keras SavedModels with their dtypes and
shapes, TF1 .meta summary, the frozen GraphDef. Exit 1 on any failure,
77 without the corpus.
"""
import hashlib
import json
import os
import sys

from tf_oracle import MODELFS, check, run, report

SHARED = os.environ.get("MFS_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
CORPUS = os.path.join(SHARED, "corpus")
P = os.path.join(CORPUS, "public")


def cat(mount, path):
    return run(["cat", mount, path])


def text(mount, path):
    return cat(mount, path).decode()


def esc(key):
    return "/".join("%00" if c == "" else c.replace("%", "%25") for c in key.split("/"))


def summary(mount, prefix=""):
    """{key: (dtype, shape)} from `summary` (or a sub-checkpoint's
    tensors/ dtype+shape files when @prefix is given)."""
    out = {}
    for ln in text(mount, "summary").splitlines():
        dt, rest = ln.split(" ", 1)
        shape_txt, rest = rest.split("]", 1)
        nbytes, key = rest.strip().split(" ", 1)
        out[key] = (dt, json.loads(shape_txt + "]"))
    return out


def sums(mount):
    out = {}
    for ln in text(mount, "SHA256SUMS").splitlines():
        h, name = ln.split("  ", 1)
        out[name[:-5]] = h  # strip "/data"
    return out


def check_main(mount, exp, label, sample=3):
    """The mounted model's tensors/ against EXPECTED's {key: [dtype, shape, sha]}."""
    try:
        s, h = summary(mount), sums(mount)
    except Exception as e:  # noqa: BLE001
        check(False, f"{label}: {e}")
        return
    for key, (dt, shape, sha) in exp.items():
        ek = esc(key)
        check(key in s, f"{label}: {key} not in summary")
        if key not in s:
            continue
        check(s[key] == (dt, shape), f"{label}: {key}: {s[key]} != {(dt, shape)}")
        check(h.get(ek) == sha, f"{label}: {key}: SHA256SUMS {h.get(ek, '-')[:12]} != {sha[:12]}")
    for key in list(exp)[:sample]:
        data = cat(mount, f"tensors/{esc(key)}/data")
        check(hashlib.sha256(data).hexdigest() == exp[key][2], f"{label}: cat {key}/data sha256")


ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "float16": 2, "bfloat16": 2,
            "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "bool": 1}


def cat_many(mount, paths):
    """`modelfs cat MOUNT P...` in groups (the CLI takes up to 63 paths)."""
    return b"".join(run(["cat", mount] + paths[i:i + 50]) for i in range(0, len(paths), 50))


def check_sub(mount, name, exp, label):
    """checkpoints/<name>/tensors/<key> of a directory mount: every dtype,
    shape and data file, each kind read with one `modelfs cat` of all."""
    keys = list(exp)
    base = [f"checkpoints/{name}/tensors/{esc(k)}" for k in keys]
    try:
        dts = cat_many(mount, [b + "/dtype" for b in base]).decode().splitlines()
        shs = cat_many(mount, [b + "/shape" for b in base]).decode().splitlines()
        data = cat_many(mount, [b + "/data" for b in base])
    except Exception as e:  # noqa: BLE001
        check(False, f"{label}: {e}")
        return
    pos = 0
    for i, k in enumerate(keys):
        dt, shape, sha = exp[k]
        if i >= len(dts) or i >= len(shs):
            check(False, f"{label}: only {len(dts)} dtype / {len(shs)} shape lines for {len(keys)} keys")
            return
        check(dts[i] == dt, f"{label}: {base[i]} dtype {dts[i]}")
        check(json.loads(shs[i]) == shape, f"{label}: {base[i]} shape {shs[i]}")
        n = ITEMSIZE[dt]
        for x in shape:
            n *= x
        check(hashlib.sha256(data[pos:pos + n]).hexdigest() == sha, f"{label}: {base[i]} sha256")
        pos += n
    check(pos == len(data), f"{label}: {len(data)} data bytes, expected {pos}")


def state_latest(d):
    try:
        for ln in open(os.path.join(d, "checkpoint")):
            if ln.startswith("model_checkpoint_path:"):
                return os.path.basename(ln.split(":", 1)[1].strip().strip('"'))
    except OSError:
        pass
    return None


def bundles(expected):
    for rel, v in sorted(expected.items()):
        if rel.endswith(".index") and any(s in rel for s in ("tf_checkpoint/", "saved_model/", "keras_tf_checkpoint/")):
            yield rel, {k: x for k, x in v.get("tensors", {}).items() if isinstance(x, list) and len(x) == 3}


def main():
    if not os.path.exists(os.path.join(CORPUS, "EXPECTED.json")):
        print(f"skipped: no corpus at {CORPUS}")
        return 77
    expected = json.load(open(os.path.join(CORPUS, "EXPECTED.json")))
    n = 0
    for rel, exp in bundles(expected):
        n += 1
        index = os.path.join(CORPUS, rel)
        prefix = index[:-len(".index")]
        d = os.path.dirname(index)
        name = os.path.basename(prefix)
        check_main(index, exp, f"{rel} (.index)")
        check_main(prefix, exp, f"{rel} (prefix)", sample=1)
        if "/variables/" in rel:  # a SavedModel's variables
            sm = os.path.dirname(d)
            check_main(sm, exp, f"{rel} (SavedModel dir)", sample=1)
            if os.path.basename(sm).isdigit():
                check_main(os.path.dirname(sm), exp, f"{rel} (TF Serving base dir)", sample=1)
        else:
            if state_latest(d) == name:
                check_main(d, exp, f"{rel} (directory)", sample=1)
            check_sub(d, name, exp, f"{rel} (directory, checkpoints/{name})")
    check(n >= 9, f"only {n} TF bundles found in EXPECTED.json")

    # --- structure ---
    a2c = os.path.join(P, "tf_checkpoint/tf2_object_based_a2c_adam_slots")
    check(text(a2c, "format") == "tf-checkpoint\n", "a2c: format")
    check(text(a2c, "metadata/checkpoint_name") == "ckpt-9\n", "a2c dir: the state file's latest is mounted")
    check(set(run(["ls", a2c, "checkpoints"]).decode().split()) == {"ckpt-7", "ckpt-8", "ckpt-9"}, "a2c: checkpoints/")
    for who, opt in (("actor", "actor_optimizer"), ("critic", "critic_optimizer")):
        for slot in ("m", "v"):
            key = f"{who}/hidden1/kernel/.OPTIMIZER_SLOT/{opt}/{slot}/.ATTRIBUTES/VARIABLE_VALUE"
            exp = expected["public/tf_checkpoint/tf2_object_based_a2c_adam_slots/ckpt-9.index"]["tensors"][key]
            got = hashlib.sha256(cat(a2c, f"optimizer/state/{who}/hidden1/kernel/{slot}/data")).hexdigest()
            check(got == exp[2], f"a2c: optimizer/state/{who}/hidden1/kernel/{slot} holds the slot")
    cfg = json.loads(text(a2c, "optimizer/config.json"))
    check(cfg["actor_optimizer"]["learning_rate"] == 0.0001 and cfg["critic_optimizer"]["learning_rate"] == 0.001,
          "a2c: optimizer/config.json per optimizer")
    check(text(a2c, "metadata/save_counter").strip().isdigit(), "a2c: metadata/save_counter")
    check("kernel" in run(["ls", a2c, "layers/critic/value_layer"]).decode().split(), "a2c: layers/critic/value_layer/kernel")

    two = os.path.join(P, "keras_tf_checkpoint/tf2_keras_adam_slots_two_shards/cp.ckpt")
    it = text(two, "tensors/optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE/values").strip()
    check(text(two, "optimizer/step").strip() == str(int(it)), "two shards: optimizer/step = optimizer/iter")
    for p in ("layers/HL1/kernel", "optimizer/state/HL1/kernel/m", "optimizer/state/out/bias/v",
              "optimizer/beta_1"):
        check(text(two, p + "/dtype") == "float32\n", f"two shards: {p}")
    info = json.loads(text(two, "optimizer/state/HL1/kernel/m/info.json"))
    check(info.get("crc32c_check") == "matched" and info.get("shard") == 1, "two shards: info.json crc32c_matched, shard")

    seq = os.path.join(P, "keras_tf_checkpoint/tf2.0_2019_sequential_save_weights_only/cp.ckpt.index")
    check(run(["ls", seq, "layers"]).decode().split() == ["dense_11_input", "dropout_3", "dense_11", "dense_12"]
          or set(run(["ls", seq, "layers"]).decode().split()) >= {"dense_11", "dense_12"},
          "sequential: layer names from OBJECT_CONFIG_JSON")
    check(json.loads(text(seq, "metadata/model_config.json"))["class_name"] == "Sequential", "sequential: model_config.json")
    check(json.loads(text(seq, "layers/dense_11/kernel/info.json"))["key"] ==
          "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", "sequential: raw key in info.json")

    tf1 = os.path.join(P, "tf_checkpoint/tf1_name_based_simple_graph")
    mg = json.loads(text(tf1, "metadata/meta_graph.json"))
    check(mg["tensorflow_version"] == "1.4.1" and mg["op_count"] == 17 and
          mg["collections"]["variables"]["variables"] == ["Variable:0"], "TF1: .meta summary")
    check(text(tf1, "layers/Variable/shape") == "[4]\n", "TF1: layers/Variable")

    # signatures
    h2 = os.path.join(P, "saved_model/tfserving_half_plus_two_tf2_cpu/00000123")
    check(text(h2, "format") == "tf-savedmodel\n", "half_plus_two: format")
    sigs = run(["ls", h2, "signatures"]).decode().split()
    check(sigs == ["classify_x2_to_y3", "classify_x_to_y", "regress_x2_to_y3", "regress_x_to_y",
                   "regress_x_to_y2", "serving_default"], f"half_plus_two: signatures {sigs}")
    want = {"serving_default/inputs/x": ("float32", "[1]", "serving_default_x:0"),
            "serving_default/outputs/y": ("float32", "[1]", None),
            "classify_x_to_y/inputs/inputs": ("string", "[-1]", None),
            "classify_x_to_y/outputs/scores": ("float32", "[-1, 1]", None),
            "regress_x2_to_y3/inputs/inputs": ("float32", "[1]", None)}
    for p, (dt, sh, nm) in want.items():
        check(text(h2, f"signatures/{p}/dtype").strip() == dt, f"half_plus_two: {p} dtype")
        check(text(h2, f"signatures/{p}/shape").strip() == sh, f"half_plus_two: {p} shape")
        if nm:
            check(text(h2, f"signatures/{p}/name").strip() == nm, f"half_plus_two: {p} name")
    check(text(h2, "signatures/classify_x_to_y/method_name").strip() == "tensorflow/serving/predict",
          "half_plus_two: method_name")
    check(text(h2, "metadata/tensorflow_version") == "2.14.0\n" and text(h2, "metadata/tags") == "serve\n",
          "half_plus_two: version, tags")
    check(cat(h2, "assets/foo.txt") == open(os.path.join(h2, "assets/foo.txt"), "rb").read(), "half_plus_two: assets")
    fp = json.loads(text(h2, "metadata/fingerprint.json"))
    check(fp.get("saved_model_checksum") == "3202314178945370836", "half_plus_two: fingerprint")

    km = os.path.join(P, "saved_model/tfkeras2.10.0_sequential_mnist_keras_metadata")
    check(text(km, "signatures/serving_default/inputs/conv2d_input/dtype") == "float32\n" and
          text(km, "signatures/serving_default/inputs/conv2d_input/shape") == "[-1, 28, 28, 1]\n" and
          text(km, "signatures/serving_default/outputs/dense_1/shape") == "[-1, 10]\n", "keras SavedModel: signature")
    check(text(km, "metadata/keras_version") == "2.10.0\n", "keras SavedModel: keras_version")
    layers = run(["ls", km, "layers"]).decode().split()
    check({"conv2d", "batch_normalization", "dense", "dense_1"} <= set(layers), f"keras SavedModel: layer names {layers}")
    check(run(["ls", km, "layers/keras_api/metrics"]).decode().split() == ["loss", "accuracy"], "keras SavedModel: metric names")
    check(run(["ls", km, "optimizer/state/conv2d/kernel"]).decode().split() == ["m", "v"], "keras SavedModel: slots")
    check(json.loads(text(km, "metadata/training_config.json"))["loss"] == "sparse_categorical_crossentropy",
          "keras SavedModel: training_config.json")

    ctr = os.path.join(P, "saved_model/tfserving_counter")
    check(run(["ls", ctr, "signatures"]).decode().split() ==
          ["get_counter", "incr_counter_by", "incr_counter", "reset_counter"], "counter: signatures")
    check(text(ctr, "signatures/incr_counter_by/inputs/delta/dtype") == "float32\n", "counter: input dtype")
    check(text(ctr, "metadata/tensorflow_version") == "1.5.0-rc1\n", "counter: TF version")

    fz = os.path.join(P, "tf_frozen_graph/tf2onnx_lstm/frozen.pb")
    check(text(fz, "format") == "tf-graphdef\n", "frozen graph: format")
    g = json.loads(text(fz, "metadata/graph.json"))
    check(g["graph_nodes"] == 529 and g["ops"]["Const"] == 106 and g["constants_shown"] == 106, "frozen graph: summary")
    w1 = cat(fz, "tensors/model/w1/data")
    check(len(w1) == 128 * 10 * 4 and text(fz, "tensors/model/w1/shape") == "[128, 10]\n", "frozen graph: a constant")

    return report(f"{n} bundles, ")


if __name__ == "__main__":
    if not MODELFS:
        print("set MODELFS")
        sys.exit(1)
    sys.exit(main())
