/* test_pickle.c: the pickle VM, opcode by opcode (hand-assembled streams,
 * byte values from CPython's Lib/pickle.py), plus the hooks and limits. */
#include "mfs_test.h"
#include "readers/pickle/vm.h"
#include "readers/pickle/raw.h"
#include <math.h>

/* Loads @len bytes of @data in a fresh heap (freed by the caller). */
static int load(const void *data, size_t len, mfs_pk_heap **h, mfs_pk **o, mfs_err *e)
{
    mfs_src *s = mfs_src_new_mem(data, len, 1, "test");
    MFS_ASSERT(s);
    *h = mfs_pk_heap_new(NULL);
    MFS_ASSERT(*h);
    memset(e, 0, sizeof *e);
    int rc = mfs_pk_load(*h, s, 0, 0, NULL, o, NULL, e);
    mfs_src_unref(s);
    return rc;
}

#define P(lit) lit, sizeof(lit) - 1

/* Loads and asserts success. */
static mfs_pk *ok(const void *data, size_t len, mfs_pk_heap **h)
{
    mfs_err e;
    mfs_pk *o = NULL;
    int rc = load(data, len, h, &o, &e);
    if (rc != MFS_OK) fprintf(stderr, "load failed: %s\n", e.msg);
    MFS_ASSERT(rc == MFS_OK && o);
    return o;
}

/* Loads and asserts failure with @needle in the message. */
static void fails(const void *data, size_t len, const char *needle)
{
    mfs_pk_heap *h;
    mfs_pk *o;
    mfs_err e;
    int rc = load(data, len, &h, &o, &e);
    if (rc == MFS_OK || !strstr(e.msg, needle))
        fprintf(stderr, "expected failure with \"%s\", got rc %d \"%s\"\n", needle, rc, e.msg);
    MFS_ASSERT(rc == MFS_FATAL && strstr(e.msg, needle));
    MFS_ASSERT(strncmp(e.msg, "pickle", 6) == 0);
    mfs_pk_heap_free(h);
}

static int64_t ival(const mfs_pk *o)
{
    int64_t v;
    MFS_ASSERT(mfs_pk_int(o, &v));
    return v;
}

static mfs_pk *item(const mfs_pk *o, size_t i)
{
    size_t n;
    mfs_pk **v = mfs_pk_items(o, &n);
    MFS_ASSERT(i < n);
    return v[i];
}

MFS_TEST(test_pickle_ints)
{
    mfs_pk_heap *h;
    /* list of: BININT -2, BININT1 255, BININT2 65535, LONG1 0 bytes, LONG1 INT64_MIN,
     * LONG1 9 bytes 2^64, LONG4 -1, INT 42, INT 01 (True), INT 00 (False),
     * LONG 123456789012345678901234567890L, LONG -5L, NEWTRUE, NEWFALSE */
    static const unsigned char p[] =
        "\x80\x02]q\x00(J\xfe\xff\xff\xffK\xffM\xff\xff\x8a\x00"
        "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"
        "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01"
        "\x8b\x01\x00\x00\x00\xff"
        "I42\nI01\nI00\nL123456789012345678901234567890L\nL-5L\n\x88\x89" "e.";
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT(o->kind == MFS_PK_LIST && o->u.seq.n == 14);
    MFS_ASSERT_EQ_U(ival(item(o, 0)), (uint64_t)-2);
    MFS_ASSERT_EQ_U(ival(item(o, 1)), 255);
    MFS_ASSERT_EQ_U(ival(item(o, 2)), 65535);
    MFS_ASSERT_EQ_U(ival(item(o, 3)), 0);
    MFS_ASSERT(ival(item(o, 4)) == INT64_MIN);
    mfs_pk *big = item(o, 5);
    MFS_ASSERT(big->kind == MFS_PK_INT && (big->flags & MFS_PK_F_BIG) && big->u.i.nbytes == 9);
    MFS_ASSERT(big->u.i.bytes[8] == 1 && big->u.i.bytes[0] == 0);
    MFS_ASSERT(ival(item(o, 6)) == -1);
    MFS_ASSERT(ival(item(o, 7)) == 42);
    MFS_ASSERT(item(o, 8)->kind == MFS_PK_BOOL && item(o, 8)->u.b == 1);
    MFS_ASSERT(item(o, 9)->kind == MFS_PK_BOOL && item(o, 9)->u.b == 0);
    /* 123456789012345678901234567890 = 0x18ee90ff6c373e0ee4e3f0ad2 (13 bytes) */
    mfs_pk *dec = item(o, 10);
    MFS_ASSERT(dec->flags & MFS_PK_F_BIG);
    MFS_ASSERT_EQ_U(dec->u.i.nbytes, 13);
    MFS_ASSERT(dec->u.i.bytes[0] == 0xd2 && dec->u.i.bytes[12] == 0x01);
    MFS_ASSERT(ival(item(o, 11)) == -5);
    MFS_ASSERT(item(o, 12)->u.b == 1 && item(o, 13)->u.b == 0);
    char buf[128];
    mfs_pk_repr(big, buf, sizeof buf);
    MFS_ASSERT(strstr(buf, "0x010000000000000000"));
    mfs_pk_heap_free(h);
}

MFS_TEST(test_pickle_floats)
{
    mfs_pk_heap *h;
    static const unsigned char p[] = "(F1.5\nG\x3f\xf8\x00\x00\x00\x00\x00\x00" "F-inf\nFnan\nt.";
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT(o->kind == MFS_PK_TUPLE && o->u.seq.n == 4);
    MFS_ASSERT(item(o, 0)->kind == MFS_PK_FLOAT && item(o, 0)->u.f == 1.5);
    MFS_ASSERT(item(o, 1)->u.f == 1.5);
    MFS_ASSERT(isinf(item(o, 2)->u.f) && item(o, 2)->u.f < 0);
    MFS_ASSERT(isnan(item(o, 3)->u.f));
    char buf[32];
    MFS_ASSERT_STR(mfs_pk_float_str(0.9, buf, sizeof buf), "0.9");
    MFS_ASSERT_STR(mfs_pk_float_str(2.0, buf, sizeof buf), "2.0");
    MFS_ASSERT_STR(mfs_pk_float_str(1e-8, buf, sizeof buf), "1e-08");
    mfs_pk_heap_free(h);
    fails(P("Fabc\n."), "invalid float");
}

MFS_TEST(test_pickle_strings)
{
    mfs_pk_heap *h;
    static const unsigned char p[] =
        "(S'a\\'b\\x41\\n\\101'\n"           /* STRING with escapes */
        "S\"q\"\n"                             /* double quotes */
        "T\x03\x00\x00\x00xyz"                 /* BINSTRING */
        "U\x02hi"                              /* SHORT_BINSTRING */
        "Vcaf\\u00e9\xe9\\U0001F600\n"         /* UNICODE raw-unicode-escape, latin-1 byte */
        "X\x02\x00\x00\x00\xc3\xa9"            /* BINUNICODE */
        "\x8c\x01z"                            /* SHORT_BINUNICODE */
        "\x8d\x01\x00\x00\x00\x00\x00\x00\x00w" /* BINUNICODE8 */
        "B\x02\x00\x00\x00\x00\x01"            /* BINBYTES */
        "C\x01\xff"                            /* SHORT_BINBYTES */
        "\x8e\x00\x00\x00\x00\x00\x00\x00\x00" /* BINBYTES8 empty */
        "\x96\x02\x00\x00\x00\x00\x00\x00\x00" "ab" /* BYTEARRAY8 */
        "l.";
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT_EQ_U(o->u.seq.n, 12);
    MFS_ASSERT(item(o, 0)->kind == MFS_PK_STR && (item(o, 0)->flags & MFS_PK_F_PY2STR));
    MFS_ASSERT_EQ_U(item(o, 0)->u.s.len, 6);
    MFS_ASSERT(memcmp(item(o, 0)->u.s.data, "a'bA\nA", 6) == 0);
    MFS_ASSERT(mfs_pk_str_eq(item(o, 1), "q"));
    MFS_ASSERT(mfs_pk_str_eq(item(o, 2), "xyz"));
    MFS_ASSERT(mfs_pk_str_eq(item(o, 3), "hi"));
    MFS_ASSERT(mfs_pk_str_eq(item(o, 4), "caf\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80"));
    MFS_ASSERT(mfs_pk_str_eq(item(o, 5), "\xc3\xa9"));
    MFS_ASSERT(mfs_pk_str_eq(item(o, 6), "z"));
    MFS_ASSERT(mfs_pk_str_eq(item(o, 7), "w"));
    MFS_ASSERT(item(o, 8)->kind == MFS_PK_BYTES && item(o, 8)->u.s.len == 2 &&
               item(o, 8)->u.s.data[1] == 1);
    MFS_ASSERT(item(o, 9)->kind == MFS_PK_BYTES && (unsigned char)item(o, 9)->u.s.data[0] == 0xff);
    MFS_ASSERT(item(o, 10)->kind == MFS_PK_BYTES && item(o, 10)->u.s.len == 0);
    MFS_ASSERT(item(o, 11)->kind == MFS_PK_BYTEARRAY && item(o, 11)->u.s.len == 2);
    /* payload offsets point into the source */
    MFS_ASSERT_EQ_U(item(o, 2)->u.s.off, 29);
    mfs_pk_heap_free(h);
    fails(P("S'abc\n."), "must be quoted");
    fails(P("Sabc\n."), "must be quoted");
    fails(P("T\xff\xff\xff\xff."), "negative byte count");
    fails(P("X\x10\x00\x00\x00" "ab."), "past the end");
    fails(P("Vab\\u12\n."), "escape");
}

MFS_TEST(test_pickle_containers)
{
    mfs_pk_heap *h;
    static const unsigned char p[] =
        "\x80\x04(]K\x01" "a(K\x02K\x03" "e"            /* [1, 2, 3] via APPEND/APPENDS */
        ")K\x01\x85K\x01K\x02\x86K\x01K\x02K\x03\x87"   /* (), (1,), (1,2), (1,2,3) */
        "}K\x01K\x02s(K\x03K\x04u"                       /* {1: 2, 3: 4} */
        "(K\x05K\x06" "d"                                /* DICT {5: 6} */
        "\x8f(K\x07K\x08\x90"                            /* set {7, 8} */
        "(K\x09\x91"                                     /* frozenset {9} */
        "t.";
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT(o->kind == MFS_PK_TUPLE && o->u.seq.n == 9);
    mfs_pk *l = item(o, 0);
    MFS_ASSERT(l->kind == MFS_PK_LIST && l->u.seq.n == 3 && ival(item(l, 2)) == 3);
    MFS_ASSERT(item(o, 1)->kind == MFS_PK_TUPLE && item(o, 1)->u.seq.n == 0);
    MFS_ASSERT(item(o, 2)->u.seq.n == 1 && item(o, 3)->u.seq.n == 2 && item(o, 4)->u.seq.n == 3);
    MFS_ASSERT(ival(item(item(o, 4), 2)) == 3);
    mfs_pk *d = item(o, 5);
    MFS_ASSERT(d->kind == MFS_PK_DICT && d->u.dict.n == 2 && ival(d->u.dict.v[1]) == 4);
    MFS_ASSERT(item(o, 6)->kind == MFS_PK_DICT && ival(item(o, 6)->u.dict.k[0]) == 5);
    MFS_ASSERT(item(o, 7)->kind == MFS_PK_SET && item(o, 7)->u.seq.n == 2);
    MFS_ASSERT(item(o, 8)->kind == MFS_PK_FROZENSET && ival(item(item(o, 8), 0)) == 9);
    mfs_pk_heap_free(h);
    fails(P("(K\x01" "d."), "odd number");
    fails(P("}(K\x01u."), "odd number");
    fails(P("\x85."), "underflow");
}

MFS_TEST(test_pickle_stack_and_memo)
{
    mfs_pk_heap *h;
    static const unsigned char p[] =
        "(K\x01K\x02" "0"        /* POP drops 2 */
        "(K\x09K\x09" "1"        /* POP_MARK */
        "K\x03" "2"              /* DUP 3 */
        "]p7\n" "g7\n"           /* PUT 7, GET 7 */
        "q\x08" "h\x08"          /* BINPUT 8, BINGET 8 */
        "r\x00\x00\x01\x00" "j\x00\x00\x01\x00" /* LONG_BINPUT/GET 65536 */
        "\x94" "h\x03"           /* MEMOIZE -> index 3 (memo holds 7, 8, 65536) */
        "t.";
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT(o->kind == MFS_PK_TUPLE);
    MFS_ASSERT_EQ_U(o->u.seq.n, 8);
    MFS_ASSERT(ival(item(o, 0)) == 1 && ival(item(o, 1)) == 3 && ival(item(o, 2)) == 3);
    /* the same list object all along */
    for (int i = 4; i < 8; i++) MFS_ASSERT(item(o, i) == item(o, 3));
    mfs_pk_heap_free(h);
    fails(P("h\x05."), "memo index 5 not set");
    fails(P("j\xff\xff\xff\xff."), "not set");
    fails(P("g12\n."), "not set");
    fails(P("p-1\n."), "invalid memo index");
    fails(P("1."), "MARK");
    fails(P("q\x01."), "empty stack");
    fails(P("."), "empty stack");
}

MFS_TEST(test_pickle_calls)
{
    mfs_pk_heap *h;
    static const unsigned char p[] =
        "\x80\x02(c__builtin__\nset\n]\x85R"                     /* REDUCE set([]) */
        "ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00" "aK\x01u" /* OrderedDict + SETITEMS */
        "}X\x09\x00\x00\x00_metadata}sb"                         /* BUILD on it */
        "c__main__\nM\n)\x81}X\x01\x00\x00\x00xK\x02sb"         /* NEWOBJ + BUILD */
        "\x8c\x03mod\x8c\x04Name\x93)}\x92"                      /* STACK_GLOBAL + NEWOBJ_EX */
        "(K\x01imod\nC\n"                                        /* INST */
        "(c__main__\nK\nK\x05o"                                  /* OBJ */
        "c__main__\nL\n)\x81K\x07" "a"                         /* APPEND on a NEWOBJ */
        "t.";
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT_EQ_U(o->u.seq.n, 7);
    mfs_pk *s = item(o, 0);
    MFS_ASSERT(mfs_pk_call_is(s, "builtins", "set")); /* __builtin__ normalised */
    MFS_ASSERT(s->u.call.how == MFS_PK_REDUCE);
    mfs_pk *od = item(o, 1);
    MFS_ASSERT(mfs_pk_call_is(od, "collections", "OrderedDict"));
    MFS_ASSERT(ival(mfs_pk_dict_get(od, "a")) == 1);
    MFS_ASSERT(mfs_pk_dict_get(mfs_pk_state(od), "_metadata"));
    mfs_pk *m = item(o, 2);
    MFS_ASSERT(m->u.call.how == MFS_PK_NEWOBJ && mfs_pk_call_is(m, "__main__", "M"));
    MFS_ASSERT(ival(mfs_pk_dict_get(mfs_pk_state(m), "x")) == 2);
    mfs_pk *ex = item(o, 3);
    MFS_ASSERT(ex->u.call.how == MFS_PK_NEWOBJ_EX && mfs_pk_call_is(ex, "mod", "Name"));
    MFS_ASSERT(ex->u.call.kwargs && ex->u.call.kwargs->kind == MFS_PK_DICT);
    mfs_pk *in = item(o, 4);
    MFS_ASSERT(in->u.call.how == MFS_PK_INST && mfs_pk_call_is(in, "mod", "C"));
    MFS_ASSERT(mfs_pk_nargs(in) == 1 && ival(mfs_pk_arg(in, 0)) == 1);
    mfs_pk *ob = item(o, 5);
    MFS_ASSERT(ob->u.call.how == MFS_PK_OBJ && mfs_pk_call_is(ob, "__main__", "K"));
    MFS_ASSERT(ival(mfs_pk_arg(ob, 0)) == 5);
    size_t n;
    mfs_pk **it = mfs_pk_items(item(o, 6), &n);
    MFS_ASSERT(n == 1 && ival(it[0]) == 7);
    /* every global is recorded with its opcode and offset */
    const struct mfs_pk_global_ref *g = mfs_pk_heap_globals(h, &n);
    MFS_ASSERT_EQ_U(n, 7);
    MFS_ASSERT(g[0].opcode == 'c' && g[0].offset == 3);
    MFS_ASSERT(g[3].opcode == 0x93 && g[4].opcode == 'i');
    json_t *j = mfs_pk_to_json(o, 10);
    MFS_ASSERT(j);
    char *txt = json_dumps(j, JSON_COMPACT);
    MFS_ASSERT(strstr(txt, "\"a\":1"));
    free(txt);
    json_decref(j);
    mfs_pk_heap_free(h);
    fails(P("K\x01K\x02\x93."), "must be str");
    fails(P("(o."), "no class");
}

/* persistent_load hook: replaces ids by a str "P:<id>". */
static mfs_pk *pl_hook(void *ctx, mfs_pk_vm *vm, mfs_pk *pid, mfs_err *e)
{
    (*(int *)ctx)++;
    char buf[64];
    snprintf(buf, sizeof buf, "P:%s", mfs_pk_str(pid) ? mfs_pk_str(pid) : "?");
    return mfs_pk_new_str(mfs_pk_vm_heap(vm), buf, strlen(buf), mfs_pk_vm_offset(vm), e);
}

MFS_TEST(test_pickle_persid)
{
    static const unsigned char p[] = "(Pabc\nX\x01\x00\x00\x00zQt.";
    mfs_pk_heap *h;
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT(item(o, 0)->kind == MFS_PK_PERSID && mfs_pk_str_eq(item(o, 0)->u.persid.pid, "abc"));
    MFS_ASSERT(item(o, 1)->kind == MFS_PK_PERSID && mfs_pk_str_eq(item(o, 1)->u.persid.pid, "z"));
    mfs_pk_heap_free(h);

    int calls = 0;
    struct mfs_pk_hooks hk = {.ctx = &calls, .persistent_load = pl_hook};
    mfs_src *s = mfs_src_new_mem(p, sizeof p - 1, 0, "t");
    h = mfs_pk_heap_new(NULL);
    mfs_err e = {0};
    MFS_ASSERT(mfs_pk_load(h, s, 0, 0, &hk, &o, NULL, &e) == MFS_OK);
    MFS_ASSERT(calls == 2 && mfs_pk_str_eq(item(o, 0), "P:abc") && mfs_pk_str_eq(item(o, 1), "P:z"));
    mfs_pk_heap_free(h);
    mfs_src_unref(s);
}

MFS_TEST(test_pickle_protocol5_and_ext)
{
    mfs_pk_heap *h;
    static const unsigned char p[] =
        "\x80\x05\x95\x0f\x00\x00\x00\x00\x00\x00\x00"
        "(\x97\x98\x82\x01\x83\x02\x01\x84\x03\x00\x00\x00t.";
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT(item(o, 0)->kind == MFS_PK_BUFFER && (item(o, 0)->flags & MFS_PK_F_RO));
    MFS_ASSERT(mfs_pk_global_is(item(o, 1), "copyreg._extension_registry", "1"));
    MFS_ASSERT(mfs_pk_global_is(item(o, 2), "copyreg._extension_registry", "258"));
    MFS_ASSERT(mfs_pk_global_is(item(o, 3), "copyreg._extension_registry", "3"));
    const char *why;
    MFS_ASSERT_STR(mfs_pk_security_classify("copyreg._extension_registry", "1", &why), "unsafe");
    mfs_pk_heap_free(h);
    fails(P("\x80\x06N."), "unsupported protocol");
    fails(P("\x82\x00."), "code <= 0");
    fails(P("\x95\xff\xff\xff\xff\xff\xff\x00\x00N."), "frame");
    fails(P("\xff."), "unknown opcode");
}

MFS_TEST(test_pickle_consecutive_and_offset)
{
    /* three pickles back to back, the second starting mid-file */
    static const unsigned char p[] = "\x80\x02K\x01.\x80\x02K\x02.I3\n.";
    mfs_src *s = mfs_src_new_mem(p, sizeof p - 1, 0, "t");
    mfs_pk_heap *h = mfs_pk_heap_new(NULL);
    mfs_err e = {0};
    uint64_t off = 0;
    for (int i = 1; i <= 3; i++) {
        mfs_pk *o;
        MFS_ASSERT(mfs_pk_load(h, s, off, 0, NULL, &o, &off, &e) == MFS_OK);
        MFS_ASSERT(ival(o) == i);
    }
    MFS_ASSERT_EQ_U(off, sizeof p - 1);
    /* an @end bound stops reads: the first pickle cut short */
    mfs_pk *o;
    MFS_ASSERT(mfs_pk_load(h, s, 0, 4, NULL, &o, NULL, &e) == MFS_FATAL);
    MFS_ASSERT(strstr(e.msg, "truncated"));
    mfs_pk_heap_free(h);
    mfs_src_unref(s);
}

/* after_build hook: skips @skip raw bytes after every BUILD. */
static int ab_hook(void *ctx, mfs_pk_vm *vm, mfs_pk **obj, uint64_t *skip, mfs_err *e)
{
    uint64_t *at = ctx;
    *at = mfs_pk_vm_offset(vm);
    *skip = 5;
    return MFS_OK;
}

MFS_TEST(test_pickle_after_build_skip)
{
    /* obj = M(); BUILD {} ; 5 raw bytes ; then K\x07 + TUPLE2 + STOP */
    static const unsigned char p[] = "\x80\x04\x8c\x01m\x8c\x01M\x93)\x81}bRAW!!K\x07\x86.";
    mfs_src *s = mfs_src_new_mem(p, sizeof p - 1, 0, "t");
    mfs_pk_heap *h = mfs_pk_heap_new(NULL);
    uint64_t at = 0;
    struct mfs_pk_hooks hk = {.ctx = &at, .after_build = ab_hook};
    mfs_err e = {0};
    mfs_pk *o;
    MFS_ASSERT(mfs_pk_load(h, s, 0, 0, &hk, &o, NULL, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(at, 13);
    MFS_ASSERT(o->kind == MFS_PK_TUPLE && ival(item(o, 1)) == 7);
    mfs_pk_heap_free(h);
    mfs_src_unref(s);
}

MFS_TEST(test_pickle_lazy_payload)
{
    struct mfs_pk_limits lim;
    mfs_pk_limits_default(&lim);
    lim.inline_max = 4;
    static const unsigned char p[] = "(C\x03" "abcC\x06" "abcdefX\x05\x00\x00\x00hellot.";
    mfs_src *s = mfs_src_new_mem(p, sizeof p - 1, 0, "t");
    mfs_pk_heap *h = mfs_pk_heap_new(&lim);
    mfs_err e = {0};
    mfs_pk *o;
    MFS_ASSERT(mfs_pk_load(h, s, 0, 0, NULL, &o, NULL, &e) == MFS_OK);
    MFS_ASSERT(item(o, 0)->u.s.data && !(item(o, 0)->flags & MFS_PK_F_LAZY));
    MFS_ASSERT(!item(o, 1)->u.s.data && (item(o, 1)->flags & MFS_PK_F_LAZY));
    MFS_ASSERT_EQ_U(item(o, 1)->u.s.off, 8);
    MFS_ASSERT_EQ_U(item(o, 1)->u.s.len, 6);
    MFS_ASSERT(!item(o, 2)->u.s.data && item(o, 2)->u.s.off == 19);
    mfs_pk_heap_free(h);
    mfs_src_unref(s);
}

/* ---- hostile input ---- */

static void fails_lim(const void *data, size_t len, const struct mfs_pk_limits *lim, const char *needle)
{
    mfs_src *s = mfs_src_new_mem(data, len, 0, "t");
    mfs_pk_heap *h = mfs_pk_heap_new(lim);
    mfs_err e = {0};
    mfs_pk *o;
    int rc = mfs_pk_load(h, s, 0, 0, NULL, &o, NULL, &e);
    if (rc != MFS_FATAL || !strstr(e.msg, needle)) fprintf(stderr, "got %d \"%s\"\n", rc, e.msg);
    MFS_ASSERT(rc == MFS_FATAL && strstr(e.msg, needle));
    mfs_pk_heap_free(h);
    mfs_src_unref(s);
}

MFS_TEST(test_pickle_hostile_deep_nesting)
{
    size_t n = 200000;
    unsigned char *p = malloc(n + 2);
    memset(p, '(', n);
    p[n] = '.';
    fails_lim(p, n + 1, NULL, "MARK nesting deeper");
    /* a list nested 200000 deep (no marks): loads; walkers stay bounded */
    unsigned char *q = malloc(n * 2 + 2);
    for (size_t i = 0; i < n; i++) q[i] = ']';
    for (size_t i = 0; i < n - 1; i++) q[n + i] = 'a';
    q[2 * n - 1] = '.';
    mfs_pk_heap *h;
    mfs_pk *o = ok(q, 2 * n, &h);
    char buf[256];
    mfs_pk_repr(o, buf, sizeof buf);
    json_t *j = mfs_pk_to_json(o, 0);
    MFS_ASSERT(j);
    json_decref(j);
    mfs_pk_heap_free(h);
    free(p);
    free(q);
}

MFS_TEST(test_pickle_hostile_huge_long)
{
    /* LONG4 announcing 2 GiB: refused by the limit before any read */
    fails(P("\x8b\xff\xff\xff\x7f."), "exceeds the limit");
    fails(P("\x8b\xff\xff\xff\xff."), "negative byte count");
    /* LONG4 within the limit but past the end */
    fails(P("\x8b\x00\x01\x00\x00\x01\x02."), "truncated");
    /* a 100000-digit decimal LONG */
    size_t n = 100000;
    char *p = malloc(n + 4);
    p[0] = 'L';
    memset(p + 1, '7', n);
    p[n + 1] = '\n';
    p[n + 2] = '.';
    fails(p, n + 3, "exceeds the limit");
    free(p);
    /* BINBYTES8 of 2^63: past the end, no allocation */
    fails(P("\x8e\x00\x00\x00\x00\x00\x00\x00\x80."), "past the end");
}

MFS_TEST(test_pickle_hostile_limits)
{
    struct mfs_pk_limits lim;
    mfs_pk_limits_default(&lim);
    lim.max_objects = 1000;
    size_t n = 5000;
    unsigned char *p = malloc(n + 1);
    memset(p, 'N', n);
    p[n] = '.';
    fails_lim(p, n + 1, &lim, "more than 1000 objects");
    mfs_pk_limits_default(&lim);
    lim.max_stack = 100;
    fails_lim(p, n + 1, &lim, "stack deeper");
    mfs_pk_limits_default(&lim);
    lim.max_alloc = 4096;
    fails_lim(p, n + 1, &lim, "heap limit");
    mfs_pk_limits_default(&lim);
    lim.max_memo = 10;
    unsigned char *q = malloc(4000);
    size_t k = 0;
    q[k++] = 'N';
    for (int i = 0; i < 600; i++) {
        q[k++] = 'r';
        q[k++] = (unsigned char)i;
        q[k++] = (unsigned char)(i >> 8);
        q[k++] = 0;
        q[k++] = 0;
    }
    q[k++] = '.';
    fails_lim(q, k, &lim, "memo entries");
    mfs_pk_limits_default(&lim);
    lim.max_input = 100;
    fails_lim(p, n + 1, &lim, "longer than the limit");
    free(p);
    free(q);
}

MFS_TEST(test_pickle_hostile_truncated_everywhere)
{
    /* every proper prefix of a real-looking state_dict pickle fails cleanly */
    static const unsigned char p[] =
        "\x80\x02\x63\x63ollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02"
        "ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04"
        "ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x00" "0q\x06X\x03\x00\x00\x00" "cpuq\x07K\x04tq\x08"
        "QK\x00K\x02K\x02\x86q\tK\x02K\x01\x86q\n\x89h\x00)Rq\x0btq\x0cRq\rs}q\x0e"
        "X\t\x00\x00\x00_metadataq\x0fh\x00)Rq\x10sb.";
    mfs_pk_heap *h;
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    MFS_ASSERT(mfs_pk_call_is(mfs_pk_dict_get(o, "w"), "torch._utils", "_rebuild_tensor_v2"));
    mfs_pk_heap_free(h);
    for (size_t len = 0; len < sizeof p - 1; len++) {
        mfs_err e;
        int rc = load(p, len, &h, &o, &e);
        MFS_ASSERT(rc == MFS_FATAL);
        MFS_ASSERT(e.msg[0]);
        mfs_pk_heap_free(h);
    }
}

MFS_TEST(test_pickle_hostile_memo_cycles)
{
    /* l = [l]; d = {'d': d}; then the walkers (repr, json, raw/) terminate */
    static const unsigned char p[] = "(]q\x00h\x00" "a}q\x01X\x01\x00\x00\x00" "dh\x01st.";
    mfs_pk_heap *h;
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    mfs_pk *l = item(o, 0);
    MFS_ASSERT(item(l, 0) == l);
    MFS_ASSERT(mfs_pk_dict_get(item(o, 1), "d") == item(o, 1));
    char buf[4096];
    mfs_pk_repr(o, buf, sizeof buf);
    json_t *j = mfs_pk_to_json(o, 0);
    char *txt = json_dumps(j, JSON_COMPACT);
    MFS_ASSERT(strstr(txt, "..."));
    free(txt);
    json_decref(j);
    mfs_tree *t = mfs_tree_new();
    mfs_err e = {0};
    struct mfs_pk_where w = {0};
    MFS_ASSERT(mfs_pk_raw_build(t, mfs_tree_top(t, MFS_TOP_RAW), "obj", o, NULL, "raw", NULL, &w, &e) >= 0);
    uint32_t see = mfs_tree_lookup_path(t, mfs_tree_top(t, MFS_TOP_RAW), "obj/0/0");
    MFS_ASSERT(see);
    mfs_pk_where_free(&w);
    mfs_tree_free(t);
    mfs_pk_heap_free(h);
}

MFS_TEST(test_pickle_hostile_dag_blowup)
{
    /* x0 = []; x(i+1) = [x_i, x_i]: 2^40 paths, expanded once each */
    unsigned char p[4096];
    size_t k = 0;
    p[k++] = ']';
    p[k++] = 'q'; p[k++] = 0;                 /* BINPUT 0 */
    for (int i = 0; i < 40; i++) {
        p[k++] = '0';                          /* POP x_i (kept in the memo) */
        p[k++] = '(';
        p[k++] = 'h'; p[k++] = 0;
        p[k++] = 'h'; p[k++] = 0;
        p[k++] = 'l';                          /* [x_i, x_i] */
        p[k++] = 'q'; p[k++] = 0;             /* becomes x_(i+1) */
    }
    p[k++] = '.';
    mfs_pk_heap *h;
    mfs_pk *o = ok(p, k, &h);
    mfs_tree *t = mfs_tree_new();
    mfs_err e = {0};
    int rc = mfs_pk_raw_build(t, mfs_tree_top(t, MFS_TOP_RAW), "obj", o, NULL, "raw", NULL, NULL, &e);
    MFS_ASSERT(rc >= 0);
    json_t *j = mfs_pk_to_json(o, 0);
    MFS_ASSERT(j);
    json_decref(j);
    mfs_tree_free(t);
    mfs_pk_heap_free(h);
}

MFS_TEST(test_pickle_security_classify)
{
    const char *why;
    MFS_ASSERT_STR(mfs_pk_security_classify("torch._utils", "_rebuild_tensor_v2", &why), "safe");
    MFS_ASSERT_STR(mfs_pk_security_classify("torch", "FloatStorage", &why), "safe");
    MFS_ASSERT_STR(mfs_pk_security_classify("torch", "bfloat16", &why), "safe");
    MFS_ASSERT_STR(mfs_pk_security_classify("collections", "OrderedDict", &why), "safe");
    MFS_ASSERT_STR(mfs_pk_security_classify("numpy.core.multiarray", "_reconstruct", &why), "safe");
    MFS_ASSERT_STR(mfs_pk_security_classify("posix", "system", &why), "unsafe");
    MFS_ASSERT(strstr(why, "commands"));
    MFS_ASSERT_STR(mfs_pk_security_classify("builtins", "eval", &why), "unsafe");
    MFS_ASSERT_STR(mfs_pk_security_classify("builtins", "getattr", &why), "unsafe");
    MFS_ASSERT_STR(mfs_pk_security_classify("subprocess", "Popen", &why), "unsafe");
    MFS_ASSERT_STR(mfs_pk_security_classify("__main__", "MyModel", &why), "unsafe");
    MFS_ASSERT(strstr(why, "allow-list"));
    MFS_ASSERT_STR(mfs_pk_security_classify("torch", "load", &why), "unsafe");
}

MFS_TEST(test_pickle_security_dir)
{
    /* os.system('x') called and discarded (POP), then a safe OrderedDict */
    static const unsigned char p[] =
        "\x80\x02" "cposix\nsystem\nX\x01\x00\x00\x00x\x85R0ccollections\nOrderedDict\n)R.";
    mfs_pk_heap *h;
    mfs_pk *o = ok(p, sizeof p - 1, &h);
    mfs_tree *t = mfs_tree_new();
    mfs_err e = {0};
    struct mfs_pk_where w = {0};
    uint32_t raw = mfs_tree_top(t, MFS_TOP_RAW);
    MFS_ASSERT(mfs_pk_raw_build(t, raw, "obj", o, NULL, "raw", NULL, &w, &e) >= 0);
    static const char *const names[] = {"data.pkl"};
    MFS_ASSERT(mfs_pk_security_build(t, h, names, 1, &w, &e) == MFS_OK);
    uint32_t sec = mfs_tree_top(t, MFS_TOP_SECURITY);
    MFS_ASSERT(mfs_tree_lookup_path(t, sec, "summary") && mfs_tree_lookup_path(t, sec, "globals") &&
               mfs_tree_lookup_path(t, sec, "unsafe"));
    mfs_pk_where_free(&w);
    mfs_tree_free(t);
    mfs_pk_heap_free(h);
}
