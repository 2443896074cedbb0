/* security.c: the security/ directory of pickle-based files.
 *
 * A pickle can import any callable and call it at load time (REDUCE,
 * NEWOBJ, BUILD -> __setstate__ ...). modelfs never does, but it shows
 * what loading the file with pickle/torch.load(weights_only=False) would
 * import. Every GLOBAL, STACK_GLOBAL and INST opcode of every pickle of
 * the file is listed with a verdict:
 *
 *   safe    on the allow-list: the functions and types that only rebuild
 *           data (torch's weights-only unpickler list: torch._utils
 *           rebuild functions, storages, dtypes, torch.Size/device,
 *           collections.OrderedDict, builtins set/frozenset/bytearray/
 *           complex/slice, _codecs.encode, numpy array/dtype/scalar
 *           reconstruction, joblib's NumpyArrayWrapper);
 *   unsafe  everything else. The reason says whether the global is known
 *           to be dangerous (os/posix/subprocess/builtins eval ...: runs
 *           commands or code, touches files or the network) or is merely
 *           unknown (a model class, a library function): unknown globals
 *           run code of that module at load time, which modelfs cannot
 *           vouch for.
 *
 * Layout:
 *   security/summary  counts, the verdict, and each distinct unsafe global
 *                     with its reason
 *   security/globals  one line per reference, in stream order:
 *                     "<safe|unsafe> <module.name> <byte> <where>"
 *                     <byte> = offset of the opcode in its pickle stream,
 *                     <where> = the raw/ path where the object is used, or
 *                     "<pickle>:(not in the loaded object)" when it was
 *                     used and discarded (e.g. a call whose result was
 *                     popped: still run by pickle!)
 *   security/unsafe   the unsafe lines only (empty when none) */
#include "readers/pickle/raw.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rule {
    const char *module; /* exact module */
    const char *name;   /* exact name, "*" any, "*Storage" suffix */
    const char *why;
};

/* Allow-list (FORMATS.md §6.3, torch/_weights_only_unpickler.py, §7.2). */
static const struct rule safe_rules[] = {
    {"torch._utils", "_rebuild_tensor", "torch tensor rebuild"},
    {"torch._utils", "_rebuild_tensor_v2", "torch tensor rebuild"},
    {"torch._utils", "_rebuild_tensor_v3", "torch tensor rebuild"},
    {"torch._utils", "_rebuild_parameter", "torch parameter rebuild"},
    {"torch._utils", "_rebuild_parameter_with_state", "torch parameter rebuild"},
    {"torch._utils", "_rebuild_qtensor", "torch quantized tensor rebuild"},
    {"torch._utils", "_rebuild_sparse_tensor", "torch sparse tensor rebuild"},
    {"torch._utils", "_rebuild_meta_tensor_no_storage", "torch meta tensor rebuild"},
    {"torch._utils", "_rebuild_nested_tensor", "torch nested tensor rebuild"},
    {"torch._utils", "_rebuild_wrapper_subclass", "torch tensor subclass rebuild"},
    {"torch._utils", "_rebuild_device_tensor_from_cpu_tensor", "torch tensor rebuild"},
    {"torch._utils", "_rebuild_device_tensor_from_numpy", "torch tensor rebuild"},
    {"torch._tensor", "_rebuild_from_type_v2", "torch tensor subclass rebuild"},
    {"torch._tensor", "_rebuild_from_type", "torch tensor subclass rebuild"},
    {"torch", "*Storage", "torch storage type"},
    {"torch.storage", "*Storage", "torch storage type"},
    {"torch.cuda", "*Storage", "torch storage type"},
    {"torch", "*Tensor", "torch tensor type (legacy)"},
    {"torch.cuda", "*Tensor", "torch tensor type (legacy)"},
    {"torch", "Size", "torch.Size"},
    {"torch", "device", "torch.device"},
    {"torch", "Tensor", "torch.Tensor type"},
    {"torch.nn.parameter", "Parameter", "torch Parameter"},
    {"torch", "per_tensor_affine", "quantization scheme"},
    {"torch", "per_channel_affine", "quantization scheme"},
    {"torch", "per_channel_affine_float_qparams", "quantization scheme"},
    {"torch", "per_tensor_symmetric", "quantization scheme"},
    {"torch", "per_channel_symmetric", "quantization scheme"},
    {"collections", "OrderedDict", "container"},
    {"collections", "Counter", "container"},
    {"collections", "defaultdict", "container"},
    {"collections", "deque", "container"},
    {"builtins", "set", "container"},
    {"builtins", "frozenset", "container"},
    {"builtins", "bytearray", "container"},
    {"builtins", "bytes", "container"},
    {"builtins", "complex", "number"},
    {"builtins", "slice", "container"},
    {"builtins", "list", "container"},
    {"builtins", "dict", "container"},
    {"builtins", "tuple", "container"},
    {"builtins", "int", "number"},
    {"builtins", "float", "number"},
    {"builtins", "bool", "number"},
    {"builtins", "str", "text"},
    {"builtins", "range", "container"},
    {"_codecs", "encode", "bytes from text (protocol 2)"},
    {"copyreg", "_reconstructor", "object reconstruction (protocol 0/1)"},
    {"numpy.core.multiarray", "_reconstruct", "numpy array rebuild"},
    {"numpy._core.multiarray", "_reconstruct", "numpy array rebuild"},
    {"numpy.core.multiarray", "scalar", "numpy scalar rebuild"},
    {"numpy._core.multiarray", "scalar", "numpy scalar rebuild"},
    {"numpy.core.numeric", "_frombuffer", "numpy array rebuild"},
    {"numpy._core.numeric", "_frombuffer", "numpy array rebuild"},
    {"numpy", "ndarray", "numpy array type"},
    {"numpy", "dtype", "numpy dtype"},
    {"numpy", "core.multiarray._reconstruct", "numpy array rebuild"},
    {"numpy.dtypes", "*DType", "numpy dtype"},
    {"joblib.numpy_pickle", "NumpyArrayWrapper", "joblib array wrapper"},
    {"sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper", "joblib array wrapper"},
    {"joblib.numpy_pickle_compat", "NDArrayWrapper", "joblib array wrapper"},
    {"joblib.numpy_pickle_compat", "ZNDArrayWrapper", "joblib array wrapper"},
};

/* Modules and names known to run code, commands, or touch the system. */
static const struct rule danger_rules[] = {
    {"os", "*", "runs commands / touches files (os)"},
    {"posix", "*", "runs commands / touches files (os)"},
    {"nt", "*", "runs commands / touches files (os)"},
    {"subprocess", "*", "runs commands"},
    {"pty", "*", "runs commands"},
    {"commands", "*", "runs commands"},
    {"popen2", "*", "runs commands"},
    {"sys", "*", "interpreter internals"},
    {"socket", "*", "network access"},
    {"urllib", "*", "network access"},
    {"urllib.request", "*", "network access"},
    {"requests", "*", "network access"},
    {"http.client", "*", "network access"},
    {"webbrowser", "*", "opens URLs"},
    {"shutil", "*", "touches files"},
    {"tempfile", "*", "touches files"},
    {"io", "*", "opens files"},
    {"pathlib", "*", "touches files"},
    {"runpy", "*", "runs code"},
    {"code", "*", "runs code"},
    {"codeop", "*", "compiles code"},
    {"importlib", "*", "imports modules"},
    {"pickle", "*", "nested unpickling"},
    {"_pickle", "*", "nested unpickling"},
    {"marshal", "*", "loads code objects"},
    {"types", "*", "builds code/functions"},
    {"ctypes", "*", "calls native code"},
    {"operator", "attrgetter", "reaches any attribute"},
    {"operator", "methodcaller", "calls any method"},
    {"functools", "partial", "calls any function"},
    {"builtins", "eval", "runs code"},
    {"builtins", "exec", "runs code"},
    {"builtins", "compile", "compiles code"},
    {"builtins", "open", "opens files"},
    {"builtins", "getattr", "reaches any attribute"},
    {"builtins", "setattr", "modifies objects"},
    {"builtins", "delattr", "modifies objects"},
    {"builtins", "__import__", "imports modules"},
    {"builtins", "globals", "interpreter internals"},
    {"builtins", "locals", "interpreter internals"},
    {"builtins", "vars", "interpreter internals"},
    {"builtins", "input", "interpreter internals"},
    {"builtins", "breakpoint", "interpreter internals"},
    {"builtins", "apply", "calls any function"},
    {"builtins", "execfile", "runs code"},
    {"builtins", "file", "opens files"},
    {"torch", "load", "nested torch.load"},
    {"torch.serialization", "load", "nested torch.load"},
    {"torch.hub", "*", "downloads and runs code"},
    {"torch.jit", "load", "loads code"},
    {"torch.utils.cpp_extension", "*", "compiles and loads native code"},
    {"numpy", "load", "nested unpickling"},
    {"numpy.lib.npyio", "load", "nested unpickling"},
    {"joblib", "load", "nested unpickling"},
    {"copyreg._extension_registry", "*", "extension code: the loading process decides"},
};

static int name_match(const char *pat, const char *name)
{
    if (strcmp(pat, "*") == 0) return 1;
    if (pat[0] == '*') {
        size_t lp = strlen(pat + 1), ln = strlen(name);
        return ln >= lp && strcmp(name + ln - lp, pat + 1) == 0;
    }
    return strcmp(pat, name) == 0;
}

static const struct rule *find(const struct rule *r, size_t n, const char *module, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].module, module) == 0 && name_match(r[i].name, name)) return &r[i];
    return NULL;
}

const char *mfs_pk_security_classify(const char *module, const char *name, const char **why)
{
    const struct rule *r;
    if ((r = find(danger_rules, sizeof danger_rules / sizeof *danger_rules, module, name))) {
        *why = r->why;
        return "unsafe";
    }
    /* torch dtypes: torch.float32 ... (a module attribute that is a dtype) */
    static const char *const dtypes[] = {
        "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int8", "uint8",
        "int16", "short", "int32", "int", "int64", "long", "bool", "complex32", "chalf",
        "complex64", "cfloat", "complex128", "cdouble", "uint16", "uint32", "uint64",
        "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
        "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "bits8", "bits16",
        "float4_e2m1fn_x2", "int1", "int2", "int3", "int4", "int5", "int6", "int7",
        "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "contiguous_format",
        "channels_last", "preserve_format", "strided", "sparse_coo", "sparse_csr", "float8_e4m3",
    };
    if (strcmp(module, "torch") == 0)
        for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
            if (strcmp(name, dtypes[i]) == 0) {
                *why = "torch dtype/layout";
                return "safe";
            }
    if ((r = find(safe_rules, sizeof safe_rules / sizeof *safe_rules, module, name))) {
        *why = r->why;
        return "safe";
    }
    *why = "not on the allow-list: runs this module's code at load time";
    return "unsafe";
}

/* Growing text buffer. */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if ((size_t)n < room) { b->len += (size_t)n; return; }
        size_t nc = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = nc;
    }
}

/* Copies @s with control characters and spaces-at-risk made visible. */
static void sb_clean(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) sb_add(b, "%%%02X", c);
        else sb_add(b, "%c", c);
    }
}

int mfs_pk_security_build(mfs_tree *t, const mfs_pk_heap *h, const char *const *load_names,
                          size_t nloads, const struct mfs_pk_where *w, mfs_err *e)
{
    size_t n;
    const struct mfs_pk_global_ref *g = mfs_pk_heap_globals(h, &n);
    struct sbuf all = {0}, bad = {0}, sum = {0}, why_list = {0};
    size_t nunsafe = 0, nsafe = 0;
    uint32_t dir = mfs_tree_top(t, MFS_TOP_SECURITY);
    if (!dir) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    sb_add(&all, "%s", "");
    sb_add(&bad, "%s", "");
    sb_add(&why_list, "%s", "");
    for (size_t i = 0; i < n; i++) {
        const mfs_pk *gl = g[i].g;
        const char *why;
        const char *v = mfs_pk_security_classify(gl->u.g.module, gl->u.g.name, &why);
        int unsafe = v[0] == 'u';
        struct sbuf *dst[2] = {&all, unsafe ? &bad : NULL};
        for (int k = 0; k < 2; k++) {
            struct sbuf *b = dst[k];
            if (!b) continue;
            sb_add(b, "%s ", v);
            sb_clean(b, gl->u.g.module);
            sb_add(b, ".");
            sb_clean(b, gl->u.g.name);
            sb_add(b, " %llu ", (unsigned long long)g[i].offset);
            const char *where = w && gl->id < w->cap ? w->path[gl->id] : NULL;
            if (where) {
                sb_clean(b, where);
            } else {
                if (g[i].load < nloads && load_names[g[i].load]) sb_clean(b, load_names[g[i].load]);
                else sb_add(b, "pickle %u", g[i].load);
                sb_add(b, ":(not in the loaded object)");
            }
            sb_add(b, "\n");
        }
        if (unsafe) {
            nunsafe++;
            /* one summary line per distinct unsafe global */
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++) {
                const mfs_pk *o = g[j].g;
                seen = strcmp(o->u.g.module, gl->u.g.module) == 0 &&
                       strcmp(o->u.g.name, gl->u.g.name) == 0;
            }
            if (!seen) {
                sb_add(&why_list, "unsafe: ");
                sb_clean(&why_list, gl->u.g.module);
                sb_add(&why_list, ".");
                sb_clean(&why_list, gl->u.g.name);
                sb_add(&why_list, " (%s)\n", why);
            }
        } else {
            nsafe++;
        }
    }
    sb_add(&sum, "globals: %zu (%zu safe, %zu unsafe)\n", n, nsafe, nunsafe);
    sb_add(&sum, "verdict: %s\n",
           nunsafe ? "UNSAFE: loading this file with pickle or torch.load(weights_only=False) "
                     "would import and may run the unsafe globals below"
                   : "safe: only allow-listed globals (weights-only loadable)");
    sb_add(&sum, "%s", why_list.p ? why_list.p : "");
    sb_add(&sum, "note: modelfs never executes pickles; see security/globals for where each is used\n");
    int rc = MFS_OK;
    if (all.oom || bad.oom || sum.oom || why_list.oom ||
        !mfs_tree_add_text(t, dir, "summary", sum.p, sum.len) ||
        !mfs_tree_add_text(t, dir, "globals", all.p, all.len) ||
        !mfs_tree_add_text(t, dir, "unsafe", bad.p, bad.len))
        rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    free(all.p);
    free(bad.p);
    free(sum.p);
    free(why_list.p);
    return rc;
}
