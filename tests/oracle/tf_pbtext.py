#!/usr/bin/python3
"""tf_pbtext.py: text-format SavedModels (saved_model.pbtxt) against their
binary twins (ctest oracle.tf_pbtext).

Every corpus SavedModel's saved_model.pb is printed here as protobuf text
format by a printer independent of modelfs (a wire-format decoder and the
field names of TensorFlow's saved_model.proto, meta_graph.proto,
graph.proto, function.proto, node_def.proto, attr_value.proto,
tensor.proto, saved_object_graph.proto), into a copy of the SavedModel
directory that has saved_model.pbtxt instead of saved_model.pb. Both are
mounted and everything modelfs shows from the proto must be identical:
the whole listing (but raw/), and, in one `modelfs cat` per mount,
every file of signatures/ and metadata/ (tags, versions, meta_graph.json
with its op histogram, collections, saver, object count) and the layer
names the SavedObjectGraph gives.

The printer varies the text the way writers and people do, so the parser
meets all of it on real content: enums by name (DT_FLOAT, DT_FLOAT_REF)
and by number, strings with octal, hex and \\u escapes, single quotes,
strings split into adjacent parts, messages in <...> and after a colon,
repeated scalars as [a, b] lists, ',' and ';' separators, # comments,
fields the reader does not know (node attributes with their tensors,
function signatures, concrete functions, Any values as [type.url] { }).
Exit 1 on a difference, 77 without the corpus.
"""
import os
import random
import struct
import subprocess
import sys
import tempfile

from tf_oracle import MODELFS, check, run, report

SHARED = os.environ.get("MFS_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
CORPUS = os.path.join(SHARED, "corpus")

DT = ["DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16", "DT_INT8", "DT_STRING",
      "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_QINT8", "DT_QUINT8", "DT_QINT32", "DT_BFLOAT16", "DT_QINT16",
      "DT_QUINT16", "DT_UINT16", "DT_COMPLEX128", "DT_HALF", "DT_RESOURCE", "DT_VARIANT", "DT_UINT32",
      "DT_UINT64"]

# message: {number: (name, kind)}; kind: int, sint (int64 shown signed),
# bool, str, bytes, float, double, dtype, or a message name; repeated
# fields are simply repeated on the wire (packed ones decoded too).
S = {
    "SavedModel": {1: ("saved_model_schema_version", "int"), 2: ("meta_graphs", "MetaGraphDef")},
    "MetaGraphDef": {1: ("meta_info_def", "MetaInfoDef"), 2: ("graph_def", "GraphDef"), 3: ("saver_def", "SaverDef"),
                     4: ("collection_def", "CollectionEntry"), 5: ("signature_def", "SignatureEntry"),
                     6: ("asset_file_def", "AssetFileDef"), 7: ("object_graph_def", "SavedObjectGraph")},
    "MetaInfoDef": {1: ("meta_graph_version", "str"), 2: ("stripped_op_list", "OpList"), 3: ("any_info", "Any"),
                    4: ("tags", "str"), 5: ("tensorflow_version", "str"), 6: ("tensorflow_git_version", "str"),
                    7: ("stripped_default_attrs", "bool")},
    "OpList": {1: ("op", "OpDef")},
    "OpDef": {1: ("name", "str"), 2: ("input_arg", "ArgDef"), 3: ("output_arg", "ArgDef"), 5: ("summary", "str"),
              6: ("description", "str"), 18: ("is_stateful", "bool")},
    "ArgDef": {1: ("name", "str"), 3: ("type", "dtype"), 4: ("type_attr", "str"), 5: ("number_attr", "str"),
               16: ("is_ref", "bool")},
    "Any": {1: ("type_url", "str"), 2: ("value", "bytes")},
    "GraphDef": {1: ("node", "NodeDef"), 2: ("library", "FunctionDefLibrary"), 4: ("versions", "VersionDef")},
    "NodeDef": {1: ("name", "str"), 2: ("op", "str"), 3: ("input", "str"), 4: ("device", "str"),
                5: ("attr", "AttrEntry")},
    "AttrEntry": {1: ("key", "str"), 2: ("value", "AttrValue")},
    "AttrValue": {1: ("list", "ListValue"), 2: ("s", "bytes"), 3: ("i", "sint"), 4: ("f", "float"), 5: ("b", "bool"),
                  6: ("type", "dtype"), 7: ("shape", "TensorShapeProto"), 8: ("tensor", "TensorProto"),
                  9: ("placeholder", "str"), 10: ("func", "NameAttrList")},
    "ListValue": {2: ("s", "bytes"), 3: ("i", "sint"), 4: ("f", "float"), 5: ("b", "bool"), 6: ("type", "dtype"),
                  7: ("shape", "TensorShapeProto"), 8: ("tensor", "TensorProto"), 9: ("func", "NameAttrList")},
    "NameAttrList": {1: ("name", "str"), 2: ("attr", "AttrEntry")},
    "TensorProto": {1: ("dtype", "dtype"), 2: ("tensor_shape", "TensorShapeProto"), 3: ("version_number", "int"),
                    4: ("tensor_content", "bytes"), 5: ("float_val", "float"), 6: ("double_val", "double"),
                    7: ("int_val", "sint"), 8: ("string_val", "bytes"), 10: ("int64_val", "sint"),
                    11: ("bool_val", "bool"), 13: ("half_val", "int")},
    "TensorShapeProto": {2: ("dim", "Dim"), 3: ("unknown_rank", "bool")},
    "Dim": {1: ("size", "sint"), 2: ("name", "str")},
    "FunctionDefLibrary": {1: ("function", "FunctionDef"), 2: ("gradient", "GradientDef")},
    "GradientDef": {1: ("function_name", "str"), 2: ("gradient_func", "str")},
    "FunctionDef": {1: ("signature", "OpDef"), 3: ("node_def", "NodeDef"), 4: ("ret", "StrEntry"),
                    5: ("attr", "AttrEntry"), 6: ("control_ret", "StrEntry")},
    "StrEntry": {1: ("key", "str"), 2: ("value", "str")},
    "VersionDef": {1: ("producer", "int"), 2: ("min_consumer", "int"), 3: ("bad_consumers", "int")},
    "SaverDef": {1: ("filename_tensor_name", "str"), 2: ("save_tensor_name", "str"), 3: ("restore_op_name", "str"),
                 4: ("max_to_keep", "int"), 5: ("sharded", "bool"), 6: ("keep_checkpoint_every_n_hours", "float"),
                 7: ("version", "int")},
    "CollectionEntry": {1: ("key", "str"), 2: ("value", "CollectionDef")},
    "CollectionDef": {1: ("node_list", "NodeList"), 2: ("bytes_list", "BytesList"), 3: ("int64_list", "Int64List"),
                      4: ("float_list", "FloatList"), 5: ("any_list", "AnyList")},
    "NodeList": {1: ("value", "str")}, "BytesList": {1: ("value", "bytes")}, "Int64List": {1: ("value", "sint")},
    "FloatList": {1: ("value", "float")}, "AnyList": {1: ("value", "Any")},
    "SignatureEntry": {1: ("key", "str"), 2: ("value", "SignatureDef")},
    "SignatureDef": {1: ("inputs", "TensorInfoEntry"), 2: ("outputs", "TensorInfoEntry"), 3: ("method_name", "str")},
    "TensorInfoEntry": {1: ("key", "str"), 2: ("value", "TensorInfo")},
    "TensorInfo": {1: ("name", "str"), 2: ("dtype", "dtype"), 3: ("tensor_shape", "TensorShapeProto"),
                   4: ("coo_sparse", "CooSparse")},
    "CooSparse": {1: ("values_tensor_name", "str"), 2: ("indices_tensor_name", "str"),
                  3: ("dense_shape_tensor_name", "str")},
    "AssetFileDef": {1: ("tensor_info", "TensorInfo"), 2: ("filename", "str")},
    "SavedObjectGraph": {1: ("nodes", "SavedObject"), 2: ("concrete_functions", "ConcreteEntry")},
    "ConcreteEntry": {1: ("key", "str"), 2: ("value", "SavedConcreteFunction")},
    "SavedConcreteFunction": {2: ("bound_inputs", "int")},
    "SavedObject": {1: ("children", "ObjectReference"), 3: ("slot_variables", "SlotVariableReference"),
                    4: ("user_object", "SavedUserObject"), 5: ("asset", "SavedAsset"), 6: ("function", "SavedFunction"),
                    7: ("variable", "SavedVariable"), 13: ("registered_name", "str"),
                    15: ("dependencies", "ObjectReference")},
    "ObjectReference": {1: ("node_id", "int"), 2: ("local_name", "str")},
    "SlotVariableReference": {1: ("original_variable_node_id", "int"), 2: ("slot_name", "str"),
                              3: ("slot_variable_node_id", "int")},
    "SavedUserObject": {1: ("identifier", "str"), 2: ("version", "VersionDef"), 3: ("metadata", "str")},
    "SavedAsset": {1: ("asset_file_def_index", "int")},
    "SavedFunction": {1: ("concrete_functions", "str")},
    "SavedVariable": {1: ("dtype", "dtype"), 2: ("shape", "TensorShapeProto"), 3: ("trainable", "bool"),
                      4: ("synchronization", "int"), 5: ("aggregation", "int"), 6: ("name", "str"),
                      7: ("device", "str")},
}
SCALAR = {"int", "sint", "bool", "str", "bytes", "float", "double", "dtype"}


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    i = 0
    while i < len(b):
        tag, i = varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def values(kind, wt, v):
    """The scalar values of one wire field (packed lists expanded)."""
    if wt == 2 and kind not in ("str", "bytes"):
        out, i = [], 0
        while i < len(v):
            if kind == "float":
                out.append(struct.unpack("<f", v[i:i + 4])[0])
                i += 4
            elif kind == "double":
                out.append(struct.unpack("<d", v[i:i + 8])[0])
                i += 8
            else:
                x, i = varint(v, i)
                out.append(x)
        return [scalar_of(kind, 0, x) for x in out]
    return [scalar_of(kind, wt, v)]


def scalar_of(kind, wt, v):
    if kind == "float":
        return struct.unpack("<f", v)[0] if isinstance(v, bytes) else v
    if kind == "double":
        return struct.unpack("<d", v)[0] if isinstance(v, bytes) else v
    if kind == "sint" and v >= 1 << 63:
        return v - (1 << 64)
    return v


class Printer:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.out = []

    def quote(self, b):
        """A string literal of bytes @b, escaped in varied ways."""
        q = self.r.choice(['"', "'"])
        s = []
        for c in b:
            ch = chr(c)
            if ch == q or ch == "\\":
                s.append("\\" + ch)
            elif ch == "\n":
                s.append("\\n")
            elif 32 <= c < 127:
                s.append(ch if self.r.random() > 0.02 else f"\\x{c:02x}")
            else:
                s.append(self.r.choice([f"\\{c:03o}", f"\\x{c:02X}"]))
        if len(s) > 8 and self.r.random() < 0.2:  # adjacent parts, split between characters
            cut = self.r.randrange(1, len(s))
            return f"{q}{''.join(s[:cut])}{q} {q}{''.join(s[cut:])}{q}"
        return q + "".join(s) + q

    def scalar(self, kind, v):
        if kind in ("str", "bytes"):
            if kind == "str" and self.r.random() < 0.1 and all(0x20 <= c < 0x7F for c in v) and v:
                # a \u escape for one plain character
                i = self.r.randrange(len(v))
                if chr(v[i]) not in "\"'\\":
                    return '"' + "".join(f"\\u{c:04x}" if k == i else ("\\" + chr(c) if chr(c) in "\"\\" else chr(c))
                                         for k, c in enumerate(v)) + '"'
            return self.quote(v)
        if kind == "bool":
            return self.r.choice([["false", "true"], ["False", "True"], ["f", "t"], ["0", "1"]])[v]
        if kind == "dtype":
            base, ref = (v - 100, "_REF") if v > 100 else (v, "")
            if base < len(DT) and self.r.random() < 0.9:
                return DT[base] + ref
            return str(v)
        if kind in ("float", "double"):
            if v != v:
                return "nan"
            if v in (float("inf"), float("-inf")):
                return "-inf" if v < 0 else "inf"
            t = repr(v)
            return t + ("f" if kind == "float" and self.r.random() < 0.2 and "e" not in t else "")
        if kind == "int" and v > 9 and self.r.random() < 0.1:
            return hex(v)
        return str(v)

    def message(self, name, b, ind):
        sch = S[name]
        pending = []
        for num, wt, v in fields(b):
            if num not in sch:
                continue
            fname, kind = sch[num]
            if kind in SCALAR:
                vals = values(kind, wt, v)
                if len(vals) > 1 and self.r.random() < 0.5:
                    self.line(ind, f"{fname}: [{', '.join(self.scalar(kind, x) for x in vals)}]")
                else:
                    for x in vals:
                        self.line(ind, f"{fname}: {self.scalar(kind, x)}" + self.r.choice(["", "", ",", ";"]))
            elif kind == "Any" and self.r.random() < 0.5:
                self.line(ind, f"{fname} {{")
                self.line(ind + 1, "[type.googleapis.com/tensorflow.Whatever] { a: 1 b { c: \"x\" } }")
                self.line(ind, "}")
            else:
                o, c = self.r.choice([("{", "}"), ("{", "}"), ("{", "}"), ("<", ">")])
                colon = ":" if self.r.random() < 0.2 else ""
                self.line(ind, f"{fname}{colon} {o}")
                self.message(kind, v, ind + 1)
                self.line(ind, c)
            if self.r.random() < 0.01:
                self.line(ind, "# a comment { not: a field }")
        return pending

    def line(self, ind, s):
        self.out.append("  " * ind + s)


def to_text(pb, seed):
    p = Printer(seed)
    p.line(0, "# saved_model.pbtxt written by tf_pbtext.py")
    p.message("SavedModel", pb, 0)
    return "\n".join(p.out) + "\n"


def files_under(listing, tops):
    """Regular files (from `ls -R -l`) under @tops."""
    out, cur = [], ""
    for ln in listing.splitlines():
        if ln.endswith(":") and not ln.startswith(("-", "d", "l")):
            cur = ln[:-1]
            continue
        parts = ln.split()
        if ln.startswith("-") and cur.split("/")[0] in tops:
            out.append(f"{cur}/{parts[-1]}")
    return out


def compare(src, label, seed):
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "sm")
        os.mkdir(d)
        for n in os.listdir(src):
            if n != "saved_model.pb":
                os.symlink(os.path.join(src, n), os.path.join(d, n))
        text = to_text(open(os.path.join(src, "saved_model.pb"), "rb").read(), seed)
        open(os.path.join(d, "saved_model.pbtxt"), "w").write(text)
        try:
            lb = run(["ls", "-R", src]).decode()
            lt = run(["ls", "-R", d]).decode()
            strip = lambda s: [x for x in s.splitlines() if "saved_model.pb" not in x]  # noqa: E731
            check(strip(lb) == strip(lt), f"{label}: listings differ")
            ll = run(["ls", "-R", "-l", src]).decode()
            paths = files_under(ll, {"signatures", "metadata"})
            check(len(paths) > 3, f"{label}: only {len(paths)} files under signatures/ and metadata/")
            for i in range(0, len(paths), 50):
                part = paths[i:i + 50]
                # (checkpoint.json names the index file by its path)
                check(run(["cat", src] + part) == run(["cat", d] + part).replace(d.encode(), src.encode()),
                      f"{label}: contents of {part[0]} ... differ")
            check(run(["cat", d, "format"]) == b"tf-savedmodel\n", f"{label}: format")
            check(run(["cat", d, "raw/saved_model.pbtxt"]) == text.encode(), f"{label}: raw/saved_model.pbtxt")
        except RuntimeError as e:
            check(False, f"{label}: {e}")
        return len(text)


def check_chunked(src):
    """saved_model.cpb (not decoded): the variables mount, and both the
    log and metadata/note say what is not shown."""
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(src, "variables"), os.path.join(tmp, "variables"))
        open(os.path.join(tmp, "saved_model.cpb"), "wb").write(b"\x8a\x2f\x1a\x8b riegeli chunks")
        r = subprocess.run([MODELFS, "cat", tmp, "metadata/note", "format"], capture_output=True, timeout=60)
        note = r.stdout.decode(errors="replace")
        check(r.returncode == 0 and "saved_model.cpb is a chunked SavedModel" in note and "Not shown: signatures/" in note
              and note.endswith("tf-savedmodel\n"), f"chunked SavedModel: metadata/note {note!r}")
        check(r.stderr.decode().count("saved_model.cpb") == 1, f"chunked SavedModel: one log line, got {r.stderr!r}")
        check(b"a/.ATTRIBUTES/VARIABLE_VALUE" in run(["cat", tmp, "summary"]), "chunked SavedModel: variables shown")
        check(b"saved_model.cpb" in run(["ls", tmp, "raw"]), "chunked SavedModel: raw/saved_model.cpb")


def main():
    if not MODELFS:
        print("set MODELFS")
        return 1
    base = os.path.join(CORPUS, "public/saved_model")
    if not os.path.isdir(base):
        print(f"skipped: no corpus at {CORPUS}")
        return 77
    n = 0
    for root, _, names in sorted(os.walk(base)):
        if "saved_model.pb" in names:
            for seed in (1, 2):
                size = compare(root, f"{os.path.relpath(root, base)} (seed {seed})", seed)
            n += 1
            print(f"{os.path.relpath(root, base)}: {size} bytes of text")
    check(n >= 3, f"only {n} SavedModels in the corpus")
    check_chunked(os.path.join(base, "tfserving_half_plus_two_tf2_cpu/00000123"))
    return report(f"{n} SavedModels, ")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--print":  # seeds: --print SAVED_MODEL_PB SEED
        sys.stdout.write(to_text(open(sys.argv[2], "rb").read(), int(sys.argv[3])))
        sys.exit(0)
    sys.exit(main())
