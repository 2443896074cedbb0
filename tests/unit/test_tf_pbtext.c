/* test_tf_pbtext.c: the protobuf text-format parser (tf_pbtext.h) on
 * texts written here: every scalar kind and escape, nesting, lists, maps,
 * merging, unknown and extension fields skipped; the result compared with
 * the binary form of the same message (packed by protobuf-c and walked
 * back with the binary decoder); malformed texts give one error with line
 * and column and never a message; the limits hold. */
#include "mfs_test.h"
#include "readers/tf_dtype.h"
#include "readers/tf_pbtext.h"
#include "tf_bundle.pb-c.h"
#include "tf_saved_model_text.pb-c.h"
#include "tf_trackable.pb-c.h"
#include <math.h>

static ProtobufCMessage *parse(const ProtobufCMessageDescriptor *d, const char *text, mfs_err *e)
{
    struct tf_pbtext_opts o = {.ident = tf_dtype_ident};
    memset(e, 0, sizeof *e);
    return tf_pbtext_parse(d, text, strlen(text), &o, e);
}

/* Parses @text as a SignatureDef... (through SignatureEntry). */
MFS_TEST(test_tf_pbtext_signature)
{
    mfs_err e;
    const char *t =
        "# a signature, as saved_model_cli writes it\n"
        "key: \"serving_default\"\n"
        "value {\n"
        "  inputs { key: 'x' value { name: \"serving_default_x:0\" dtype: DT_FLOAT\n"
        "      tensor_shape { dim { size: -1 } dim { size: 28 } } } }\n"
        "  inputs: < key: \"ref\" value: { dtype: DT_HALF_REF tensor_shape { unknown_rank: true } } >,\n"
        "  outputs { key: \"y\" value { name: \"out:0\" dtype: 9 } };\n"
        "  method_name: \"tensorflow/serving/\" \"predict\"\n"
        "}\n";
    Tfpb__SignatureEntry *s = (Tfpb__SignatureEntry *)parse(&tfpb__signature_entry__descriptor, t, &e);
    MFS_ASSERT(s);
    MFS_ASSERT_STR(s->key, "serving_default");
    MFS_ASSERT_STR(s->value->method_name, "tensorflow/serving/predict");
    MFS_ASSERT_EQ_U(s->value->n_inputs, 2);
    const Tfpb__TensorInfo *x = s->value->inputs[0]->value;
    MFS_ASSERT_STR(s->value->inputs[0]->key, "x");
    MFS_ASSERT_STR(x->name, "serving_default_x:0");
    MFS_ASSERT(x->has_dtype && x->dtype == 1);
    MFS_ASSERT_EQ_U(x->tensor_shape->n_dim, 2);
    MFS_ASSERT(x->tensor_shape->dim[0]->has_size && x->tensor_shape->dim[0]->size == -1);
    MFS_ASSERT(x->tensor_shape->dim[1]->size == 28);
    const Tfpb__TensorInfo *r = s->value->inputs[1]->value;
    MFS_ASSERT(r->dtype == 119 && r->tensor_shape->has_unknown_rank && r->tensor_shape->unknown_rank);
    MFS_ASSERT(s->value->outputs[0]->value->dtype == 9);
    /* the same message through the binary decoder */
    size_t n = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *buf = malloc(n);
    protobuf_c_message_pack(&s->base, buf);
    Tfpb__SignatureEntry *b = tfpb__signature_entry__unpack(NULL, n, buf);
    MFS_ASSERT(b && b->value->n_inputs == 2 && b->value->inputs[1]->value->dtype == 119);
    MFS_ASSERT_STR(b->value->outputs[0]->value->name, "out:0");
    tfpb__signature_entry__free_unpacked(b, NULL);
    free(buf);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

MFS_TEST(test_tf_pbtext_scalars_and_escapes)
{
    mfs_err e;
    const char *t = "dtype: DT_INT64 tensor_content: \"a\\n\\t\\\\\\'\\\"\\?\\001\\x7f\\xFF\\101\\u00e9\\U0001F600z\"\n"
                    "float_val: [1.5, -2e3, .25, 3f, inf, -Infinity, nan] double_val: 0.1\n"
                    "int_val: 0x10 int_val: 010 int_val: -2147483648 int64_val: [9223372036854775807, -1]\n"
                    "bool_val: [true, false, t, f, True, False, 1, 0]\n"
                    "uint64_val: 18446744073709551615 string_val: '' string_val: 'two'\n";
    Tfpb__TensorProto *p = (Tfpb__TensorProto *)parse(&tfpb__tensor_proto__descriptor, t, &e);
    MFS_ASSERT(p);
    MFS_ASSERT(p->dtype == 9);
    static const char want[] = "a\n\t\\'\"?\001\x7f\xff" "A\xc3\xa9\xf0\x9f\x98\x80z";
    MFS_ASSERT_EQ_U(p->tensor_content.len, sizeof want - 1);
    MFS_ASSERT(!memcmp(p->tensor_content.data, want, sizeof want - 1));
    MFS_ASSERT_EQ_U(p->n_float_val, 7);
    MFS_ASSERT(p->float_val[0] == 1.5f && p->float_val[1] == -2000.f && p->float_val[2] == .25f &&
               p->float_val[3] == 3.f && isinf(p->float_val[4]) && p->float_val[5] < 0 &&
               isinf(p->float_val[5]) && isnan(p->float_val[6]));
    MFS_ASSERT(p->n_double_val == 1 && p->double_val[0] == 0.1);
    MFS_ASSERT(p->n_int_val == 3 && p->int_val[0] == 16 && p->int_val[1] == 8 && p->int_val[2] == INT32_MIN);
    MFS_ASSERT(p->n_int64_val == 2 && p->int64_val[0] == INT64_MAX && p->int64_val[1] == -1);
    MFS_ASSERT_EQ_U(p->n_bool_val, 8);
    for (int i = 0; i < 8; i++) MFS_ASSERT(p->bool_val[i] == !(i & 1));
    MFS_ASSERT(p->n_uint64_val == 1 && p->uint64_val[0] == UINT64_MAX);
    MFS_ASSERT(p->n_string_val == 2 && p->string_val[0].len == 0 && p->string_val[1].len == 3);
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* Unknown fields of every shape are skipped; a singular message given
 * twice is merged, a scalar given twice keeps the last; many elements
 * (the arrays grow by doubling). */
MFS_TEST(test_tf_pbtext_unknown_merge_many)
{
    mfs_err e;
    char *t = malloc(3000 * 160 + 2048);
    size_t n = (size_t)sprintf(t,
        "meta_graphs {\n"
        "  meta_info_def { tags: \"serve\" stripped_op_list { op { name: \"Add\" input_arg { name: 'x' type_attr: 'T' } } }\n"
        "    any_info { [type.googleapis.com/tensorflow.Foo] { a: 1 b: [1, 2] c { d: \"}\" } } }\n"
        "    tensorflow_version: \"1.0\" function_aliases { key: 'a' value: 'b' } }\n"
        "  meta_info_def { tensorflow_version: \"2.0\" tags: 'gpu' }\n"
        "  graph_def { versions { producer: 7 } library { function { signature { name: 'f' } node_def { op: 'Mul' }\n"
        "      ret [ { key: 'a' value: 'b' } ] } }\n");
    for (int i = 0; i < 3000; i++)
        n += (size_t)sprintf(t + n, "    node { name: \"n%d\" op: \"Const\" attr { key: \"value\" value { tensor {"
                                    " dtype: DT_FLOAT tensor_content: \"\\000\\001\" } } } }\n", i);
    sprintf(t + n, "  }\n} saved_model_schema_version: 2 saved_model_schema_version: 1\n");
    Tfpb__SavedModelText *s = (Tfpb__SavedModelText *)parse(&tfpb__saved_model_text__descriptor, t, &e);
    if (!s) fprintf(stderr, "%s\n", e.msg);
    MFS_ASSERT(s);
    MFS_ASSERT(s->has_saved_model_schema_version && s->saved_model_schema_version == 1);
    MFS_ASSERT_EQ_U(s->n_meta_graphs, 1);
    const Tfpb__MetaGraphDefText *m = s->meta_graphs[0];
    MFS_ASSERT_EQ_U(m->meta_info_def->n_tags, 2);
    MFS_ASSERT_STR(m->meta_info_def->tags[1], "gpu");
    MFS_ASSERT_STR(m->meta_info_def->tensorflow_version, "2.0");
    MFS_ASSERT_EQ_U(m->graph_def->n_node, 3000);
    MFS_ASSERT_STR(m->graph_def->node[2999]->name, "n2999");
    MFS_ASSERT_STR(m->graph_def->node[0]->op, "Const");
    MFS_ASSERT(m->graph_def->versions->producer == 7);
    MFS_ASSERT_STR(m->graph_def->library->function[0]->node_def[0]->op, "Mul");
    protobuf_c_message_free_unpacked(&s->base, NULL);
    free(t);
}

static void expect_error(const ProtobufCMessageDescriptor *d, const char *text, const char *what)
{
    mfs_err e;
    ProtobufCMessage *m = parse(d, text, &e);
    if (m || !strstr(e.msg, what) || !strstr(e.msg, "line ")) {
        fprintf(stderr, "text <<%s>>: %s, message \"%s\" (wanted \"%s\")\n", text, m ? "parsed" : "failed",
                e.msg, what);
        exit(1);
    }
}

MFS_TEST(test_tf_pbtext_malformed)
{
    const ProtobufCMessageDescriptor *ti = &tfpb__tensor_info__descriptor;
    const ProtobufCMessageDescriptor *tp = &tfpb__tensor_proto__descriptor;
    expect_error(ti, "name \"x\"", "expected ':'");
    expect_error(ti, "name: x", "expected a quoted string");
    expect_error(ti, "name: \"x", "unterminated string");
    expect_error(ti, "name: \"a\nb\"", "newline inside a string");
    expect_error(ti, "name: \"\\q\"", "unknown escape");
    expect_error(ti, "name: \"\\400\"", "beyond a byte");
    expect_error(ti, "name: \"\\u12\"", "hex digits");
    expect_error(ti, "name: \"\\U00110000\"", "out of range");
    expect_error(ti, "name: \"\\x\"", "without hex digits");
    expect_error(ti, "dtype: DT_NOPE", "not an integer");
    expect_error(ti, "dtype: 2147483648", "out of range");
    expect_error(ti, "dtype: 1.5", "not an integer");
    expect_error(ti, "dtype: --1", "expected an integer");
    expect_error(ti, "tensor_shape { dim { size: 1 }", "missing '}'");
    expect_error(ti, "tensor_shape { dim { size: 1 > }", "expected a field name");
    expect_error(ti, "tensor_shape: 5", "expected '{'");
    expect_error(ti, "name: [\"a\"]", "not repeated");
    expect_error(ti, "}", "expected a field name");
    expect_error(ti, "\x01", "byte 0x01");
    expect_error(ti, "unknown_field", "expected ':' or '{'");
    expect_error(ti, "unknown: [1, 2", "to end the list");
    expect_error(ti, "unknown { a: }", "expected a value");
    expect_error(ti, "[bad.ext { }", "extension");
    expect_error(tp, "bool_val: yes", "true or false");
    expect_error(tp, "bool_val: 2", "true or false");
    expect_error(tp, "float_val: abc", "expected a number");
    expect_error(tp, "float_val: 1.2.3", "not a number");
    expect_error(tp, "uint32_val: -1", "out of range");
    expect_error(tp, "int_val: [1, 2", "to end the list");
    /* the line and column are those of the error */
    mfs_err e;
    MFS_ASSERT(!parse(ti, "name: \"x\"\n  dtype: ?", &e));
    MFS_ASSERT(strstr(e.msg, "line 2, column 10"));
    MFS_ASSERT(e.offset == 19);
    /* empty input: an empty message */
    ProtobufCMessage *m = parse(ti, "  # nothing\n", &e);
    MFS_ASSERT(m);
    protobuf_c_message_free_unpacked(m, NULL);
}

MFS_TEST(test_tf_pbtext_limits)
{
    mfs_err e;
    /* nesting: within the limit, then beyond it (unknown fields too) */
    char t[4096];
    size_t n = 0;
    for (int i = 0; i < 150; i++) n += (size_t)sprintf(t + n, "a { ");
    for (int i = 0; i < 150; i++) n += (size_t)sprintf(t + n, "} ");
    MFS_ASSERT(!parse(&tfpb__tensor_info__descriptor, t, &e) && strstr(e.msg, "nested deeper"));
    struct tf_pbtext_opts o = {.max_items = 10};
    const char *many = "float_val: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]";
    MFS_ASSERT(!tf_pbtext_parse(&tfpb__tensor_proto__descriptor, many, strlen(many), &o, &e));
    MFS_ASSERT(strstr(e.msg, "more than 10 values"));
    /* every prefix of a valid text fails cleanly or parses (no crash, no
     * leak: ASan builds check) */
    const char *ok = "key: \"k\" value { inputs { key: 'x' value { dtype: DT_FLOAT tensor_shape { dim { size: 3 } } } }"
                     " method_name: \"m\\001\" }";
    for (size_t k = 0; k <= strlen(ok); k++) {
        ProtobufCMessage *m = tf_pbtext_parse(&tfpb__signature_entry__descriptor, ok, k, NULL, &e);
        protobuf_c_message_free_unpacked(m, NULL);
    }
}
