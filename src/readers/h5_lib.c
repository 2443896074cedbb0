/* h5_lib.c: the HDF5 lock, per-thread setup, errors, and opening a file.
 *
 * Locking. libhdf5 1.10.8 on Debian is built thread-safe
 * (H5is_library_threadsafe says so, H5_HAVE_THREADSAFE), which means it
 * serialises every API call behind one internal lock. modelfs adds its
 * own process-wide mutex, h5_lock, around every sequence of HDF5 calls:
 * a tensor read is several calls (select a hyperslab, read, close the
 * space) that must not interleave with another thread's, and the
 * lazily opened dataset handles of h5_tensor.c are shared state. Reads
 * of HDF5 tensors served by a CUSTOM locator are therefore serialised;
 * contiguous unfiltered datasets are PLAIN locators the core serves with
 * pread, without the lock (see docs/hdf5.md for what this costs).
 *
 * Errors. HDF5 prints its error stack to stderr by default, per thread;
 * h5_thread_init() turns that off for every thread that enters, and
 * h5_err() turns the stack into one mfs_err line.
 *
 * The canary. libhdf5 1.10 is not hardened against hostile files: some
 * corrupt files crash or hang it inside its metadata parsers. Before
 * the real open, h5_open_src() forks a child that opens the file and
 * runs the whole mount-time walk (the same code: h5_model_canary), plus
 * reads of small datasets; the parent waits for it (with a timeout)
 * and refuses the file with a clear message if the child crashed or hung.
 * Set MFS_H5_CANARY=0 to skip it, MFS_H5_CANARY_TIMEOUT=<seconds> to
 * change the limit (default 60). It is skipped, too, when the caller
 * isolates the whole open (mfs_set_open_isolated: the modelfs binary's
 * shield, src/tools/shield.c); the small reads then run in-process at the
 * end of the build (h5_model_build), where a crash still stops the open. */
#include "readers/h5_lib.h"
#include "core/log.h"
#include "core/model.h"
#include <H5PLpublic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;

static __thread int t_ready;
static int g_lib_ready;

void h5_thread_init(void)
{
    if (t_ready) return;
    if (!g_lib_ready) {
        H5open();
        /* Never load filter plugins named by a file: a crafted file could
         * otherwise make libhdf5 dlopen() libraries from its plugin path. */
        H5PLset_loading_state(0);
        g_lib_ready = 1;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    t_ready = 1;
}

/* Nesting depth of h5_enter in this thread: the chunk decoder's locate
 * callback enters while the canary (or a build) may already hold it. */
static __thread int t_depth;

void h5_enter(void)
{
    if (t_depth++ == 0) pthread_mutex_lock(&h5_lock);
    h5_thread_init();
}

void h5_leave(void)
{
    if (--t_depth == 0) pthread_mutex_unlock(&h5_lock);
}

/* ---- errors ------------------------------------------------------------ */

struct err_walk {
    char first[160]; /* outermost (API level) */
    char last[160];  /* innermost (the cause) */
    int n;
};

static herr_t err_cb(unsigned n, const H5E_error2_t *err, void *data)
{
    struct err_walk *w = data;
    const char *d = err->desc ? err->desc : "";
    if (w->n == 0) snprintf(w->first, sizeof w->first, "%s", d);
    snprintf(w->last, sizeof w->last, "%s", d);
    w->n = (int)n + 1;
    return 0;
}

int h5_err(mfs_err *e, int status, int errnum, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    struct err_walk w = {{0}, {0}, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, err_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    if (w.n == 0 || (!w.first[0] && !w.last[0]))
        return mfs_err_set(e, status, errnum, -1, "%s", what);
    if (w.n == 1 || strcmp(w.first, w.last) == 0)
        return mfs_err_set(e, status, errnum, -1, "%s: HDF5: %s", what, w.last);
    return mfs_err_set(e, status, errnum, -1, "%s: HDF5: %s: %s", what, w.first, w.last);
}

/* ---- deferred warnings ------------------------------------------------- */

void h5_warns_add(struct h5_warns *w, const char *fmt, ...)
{
    if (w->n >= 1000) return;
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0) return;
    char **v = realloc(w->v, (w->n + 1) * sizeof *v);
    if (!v) {
        free(s);
        return;
    }
    w->v = v;
    w->v[w->n++] = s;
}

void h5_warns_flush(struct h5_warns *w)
{
    for (size_t i = 0; i < w->n; i++) mfs_log("%s", w->v[i]);
    if (w->n >= 1000) mfs_log("(more warnings not shown)");
    h5_warns_free(w);
}

void h5_warns_free(struct h5_warns *w)
{
    for (size_t i = 0; i < w->n; i++) free(w->v[i]);
    free(w->v);
    w->v = NULL;
    w->n = 0;
}

/* ---- signature --------------------------------------------------------- */

static const unsigned char h5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

long h5_sig_offset(const unsigned char *head, size_t len)
{
    /* The superblock sits at 0 or, after a user block, at 512, 1024,
     * 2048 ... (powers of two); the probe only shows the first 4 KiB. */
    for (size_t off = 0; off + 8 <= len; off = off ? off * 2 : 512)
        if (memcmp(head + off, h5_sig, 8) == 0) return (long)off;
    return -1;
}

int h5_mem_has(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (!hay || k == 0 || n < k) return 0;
    return memmem(hay, n, needle, k) != NULL;
}

/* ---- the canary ---------------------------------------------------------- */

static int canary_timeout(void)
{
    const char *s = getenv("MFS_H5_CANARY_TIMEOUT");
    int v = s ? atoi(s) : 0;
    return v > 0 ? v : 60;
}

int h5_canary_enabled(void)
{
    /* the modelfs binary runs the whole open in a watched child already */
    if (mfs_open_isolated()) return 0;
    const char *s = getenv("MFS_H5_CANARY");
    return !(s && strcmp(s, "0") == 0);
}

/* Sanitizer builds (ASan tests, libFuzzer). libhdf5 itself is not
 * instrumented, but ASan's memcpy/memmove interceptors still catch its
 * overflows on corrupt files; in the child that is exactly what the canary
 * contains, so the report is kept quiet (the child's stderr is /dev/null)
 * and the child ends with CANARY_LIB_EXIT instead of the fuzzer's death
 * callback (which would save the input as a crash of the target). A
 * report whose first real frame is not in libhdf5 is a bug in modelfs:
 * it is written to the real stderr and the child ends with CANARY_OWN_EXIT,
 * which makes the parent abort loudly. Weak: absent from normal builds. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
extern void __asan_set_error_report_callback(void (*cb)(const char *)) __attribute__((weak));
#define CANARY_LIB_EXIT 99
#define CANARY_OWN_EXIT 98
static int g_own_bug;

/* 1 when stack line @line is the sanitizer's own frame (an interceptor
 * or allocator: malloc, memcpy, __interceptor_memcpy ...), not the code
 * that made the bad call. */
static int sanitizer_frame(const char *line)
{
    static const char *const fns[] = {"malloc", "calloc", "realloc", "free", "memcpy", "memmove",
                                      "memset", "memcmp", "strlen", "strnlen", "strcpy", "strncpy",
                                      "strcmp", "strncmp", "strdup", "strndup", "posix_memalign",
                                      "aligned_alloc", NULL};
    if (strstr(line, "sanitizer_common") || strstr(line, "libasan") || strstr(line, "libclang_rt"))
        return 1;
    const char *in = strstr(line, " in ");
    if (!in) return 0;
    in += 4;
    if (!strncmp(in, "__interceptor_", 14) || !strncmp(in, "__asan_", 7) ||
        !strncmp(in, "__sanitizer_", 12) || !strncmp(in, "__interceptor", 13))
        return 1;
    size_t n = strcspn(in, " (");
    for (size_t i = 0; fns[i]; i++)
        if (strlen(fns[i]) == n && !strncmp(in, fns[i], n)) return 1;
    return 0;
}

static void canary_report(const char *report)
{
    /* the first stack frame that is not the sanitizer's own */
    const char *p = report;
    int lib = 0;
    while ((p = strstr(p, "    #")) != NULL) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        p += n;
        if (sanitizer_frame(line)) continue;
        lib = strstr(line, "libhdf5") != NULL;
        break;
    }
    if (!lib) g_own_bug = 1;
}

static void canary_death(void) { _exit(g_own_bug ? CANARY_OWN_EXIT : CANARY_LIB_EXIT); }

/* LeakSanitizer: libhdf5 1.10 leaks a little memory inside its own error
 * paths on corrupt files (e.g. H5C_protect of a bad object header, found
 * by fuzz_keras). Not ours to fix, and its stacks are too shallow (no
 * frame pointers) for a function-level suppression, so leaks allocated
 * from libhdf5 are suppressed in sanitizer builds. modelfs' own handle
 * hygiene is checked instead by test_h5_no_open_objects (every HDF5 id
 * closed when a model closes). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }
/* ... and without LSan's "Suppressions used" table on stderr, which would
 * break the one-error-line rule for files that fail to mount. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

/* Runs h5_model_canary() in a child. @return MFS_OK when the child exited
 * 0, MFS_OK too when fork is impossible (logged), else MFS_FATAL. Caller
 * holds the lock (so no other thread is inside HDF5 when we fork). */
int h5_canary_run(mfs_src *src, const char *label, struct h5_model *tmpl, mfs_err *e)
{
    /* The child holds the write end of a pipe: its exit (or death) closes
     * it, which wakes our poll() at once. */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        mfs_log("%s: cannot set up the HDF5 canary (%s); opening without it", label,
                strerror(errno));
        return MFS_OK;
    }
    /* sanitizer builds: the child's stderr goes to a memory file, shown
     * only when the child found a bug in modelfs' own code */
    int errfd = __asan_set_error_report_callback ? memfd_create("mfs-canary-stderr", MFD_CLOEXEC) : -1;
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        if (errfd >= 0) close(errfd);
        close(pfd[0]);
        close(pfd[1]);
        mfs_log("%s: cannot fork the HDF5 canary (%s); opening without it", label,
                strerror(errno));
        return MFS_OK;
    }
    if (pid == 0) {
        /* Child: default crash behaviour (no sanitizer/fuzzer reports of a
         * library crash we turn into an error), no core files. */
        close(pfd[0]);
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
        signal(SIGILL, SIG_DFL);
        signal(SIGABRT, SIG_DFL);
        if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(canary_death);
        if (__asan_set_error_report_callback) __asan_set_error_report_callback(canary_report);
        if (errfd >= 0) dup2(errfd, 2);
        alarm((unsigned)canary_timeout() + 5);
        int rc = h5_model_canary(src, label, tmpl);
        _exit(rc == 0 ? 0 : 3);
    }
    close(pfd[1]);
    int status = 0, limit_ms = canary_timeout() * 1000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        struct pollfd p = {pfd[0], POLLIN, 0};
        int r = spent < limit_ms ? poll(&p, 1, (int)(limit_ms - spent)) : 0;
        if (r < 0 && errno == EINTR) continue;
        if (r > 0) {
            char c;
            if (read(pfd[0], &c, 1) > 0) continue; /* nothing is written; be safe */
        }
        pid_t w = waitpid(pid, &status, r == 0 ? WNOHANG : 0);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            close(pfd[0]);
            if (errfd >= 0) close(errfd);
            mfs_log("%s: lost the HDF5 canary (%s)", label, strerror(errno));
            return MFS_OK;
        }
        if (r == 0) { /* time is up and the child still runs */
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(pfd[0]);
            if (errfd >= 0) close(errfd);
            return mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                               "HDF5 metadata walk did not finish in %d s: the file is "
                               "corrupt (libhdf5 loops on it)", canary_timeout());
        }
    }
    close(pfd[0]);
    /* A sanitizer report from modelfs' own code (CANARY_OWN_EXIT), or a
     * sanitizer exit that bypassed our callbacks (UBSan dies with status 1;
     * the child never exits 1 otherwise): show the child's report and
     * abort, so tests and fuzzers see the bug. */
    if (errfd >= 0 && WIFEXITED(status) &&
        (WEXITSTATUS(status) == CANARY_OWN_EXIT || WEXITSTATUS(status) == 1)) {
        char buf[4096];
        ssize_t n;
        off_t at = 0;
        while ((n = pread(errfd, buf, sizeof buf, at)) > 0) {
            if (write(2, buf, (size_t)n) < 0) break;
            at += n;
        }
        fprintf(stderr, "modelfs: BUG: sanitizer report from modelfs code while checking %s\n",
                label);
        abort();
    }
    if (errfd >= 0) close(errfd);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return MFS_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == CANARY_LIB_EXIT)
        return mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                           "a memory error was detected while walking the file's metadata "
                           "(sanitizer build): the HDF5 structures are corrupt");
    if (WIFSIGNALED(status))
        return mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                           "libhdf5 crashed (signal %d) while walking the file's metadata: "
                           "the HDF5 structures are corrupt", WTERMSIG(status));
    return mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                       "HDF5 metadata walk failed in a check process (exit %d)",
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---- open ---------------------------------------------------------------- */

hid_t h5_open_src(mfs_src *src, const char *label, mfs_err *e)
{
    h5_thread_init();
    hid_t fapl = h5_vfd_fapl(src);
    if (fapl < 0) {
        h5_err(e, MFS_FATAL, ENOMEM, "%s: cannot set up the HDF5 file driver", label);
        return H5I_INVALID_HID;
    }
    /* Datasets opened while walking the file need no chunk cache (each
     * open would otherwise allocate and zero one); the read path opens
     * its datasets with a cache sized for them (h5_tensor.c). */
    H5Pset_cache(fapl, 0, 1, 0, 0.75);
    hid_t f = H5Fopen(label, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        h5_err(e, MFS_FATAL, EINVAL, "not a readable HDF5 file");
        return H5I_INVALID_HID;
    }
    return f;
}
