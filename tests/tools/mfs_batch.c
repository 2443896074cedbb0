/* mfs_batch.c: `modelfs ls -R` and `modelfs cat` over many model files
 * from ONE program start, for the bad-input tests (the scripts in
 * tests/bad/).
 *
 * Those tests run hundreds of damaged copies; one modelfs process per copy
 * cost most of their time (exec and dynamic linking, and in the ASan build
 * the sanitizer's start-up and exit-time leak scan). This driver does for
 * each FILE what the two commands do (src/tools/cli.c, same calls, same
 * error lines), through the public API only, each FILE in a forked child:
 * every file starts from the same fresh library state, as it would in its
 * own modelfs process (libhdf5 carries state from one corrupt file to the
 * next: a damaged .hdf5 opened after others in one process crashed it
 * now and then), and a crash ends only that child. It prints one record
 * per command:
 *
 *   ls  RC LINES STRAY FILE TEXT     RC 0 (opened; the tree was walked as
 *                                    `ls -R` does) or 1 (did not open)
 *   cat RC LINES STRAY FILE TEXT     only when it opened and -c/-m name
 *                                    paths: RC 1 when any read failed
 *   crash RC 0   0     FILE TEXT     the child died: RC 128+signal (an
 *                                    ASan abort, a segfault) or its exit
 *                                    status (UBSan's 1), TEXT its stderr
 *   hang 142 0   0     FILE TEXT     the child got SIGALRM (-t)
 *   end 0  0     0     FILE          FILE is done
 *
 * fields separated by tabs. TEXT is what the command printed on stderr
 * (the library's log lines, libhdf5's, our "modelfs: ..." error lines,
 * sanitizer reports), at most 4000 bytes, with '\\', tab and newline
 * written as \\ \t \n; LINES counts its lines (`wc -l`), STRAY the lines
 * that do not start with "modelfs: ". stderr is captured per command in
 * ERRFILE (-e), which is left holding the last command's stderr.
 *
 * A hang is ended by SIGALRM after -t seconds per command. In sanitizer
 * builds every model is followed by a leak check (LeakSanitizer's
 * recoverable one) in its child: a leak prints the report into that
 * command's TEXT and makes its RC 23, LSan's own status.
 *
 * usage: mfs_batch [-1] [-e ERRFILE] [-t SECONDS] [-c PATH]... [-m REGEX
 *                  [-x REGEX] [-n MAX]] FILE...
 *   -1        no child per FILE: all in this process, ~5x cheaper under
 *             ASan (a forked child's leak check faults in the pages it
 *             scans). For inputs whose libraries keep no state between
 *             files (not libhdf5's); a crash then ends the run with no
 *             `end` for that FILE, a leak with status 23 after its
 *             records (batch.inc resumes after either).
 *   -c PATH   cat PATH after the listing (repeatable, in order)
 *   -m REGEX  cat every path of `modelfs tree` (directories end in '/')
 *             matching the extended REGEX, except those matching -x, at
 *             most MAX of them (default 400), after the -c paths
 * Exit: 0 when every FILE was handled (whatever the records say), 2 on a
 * usage error, 23 after a leak with -1; anything else comes from a crash
 * (of the driver itself, or with -1), or from the sanitizers' exit-time
 * checks (then in ERRFILE). */
#define _GNU_SOURCE /* asprintf */
#include "modelfs/modelfs.h"
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* LeakSanitizer's interface, present only in sanitizer builds (weak). */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

#define TEXT_MAX 4000

struct opts {
    const char *errfile;
    unsigned secs;
    const char **cats;
    int ncats;
    regex_t *match, *skip;
    int max_match;
    int inproc;
};

static int g_out_fd = -1; /* our own stdout, for records */

/* Points stderr at a truncated ERRFILE (the command's capture). Returns 0,
 * or -1 with errno set. */
static int capture_begin(const char *errfile)
{
    fflush(stderr);
    int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int r = dup2(fd, 2);
    close(fd);
    return r < 0 ? -1 : 0;
}

/* Writes one record: KIND RC LINES STRAY FILE TEXT, TEXT read back from
 * ERRFILE. Never fails (what cannot be read is left out). */
static void record(const char *errfile, const char *kind, int rc, const char *file)
{
    fflush(stderr);
    size_t len = 0, cap = 0;
    char *all = NULL;
    int fd = open(errfile, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        for (;;) {
            if (len == cap) {
                char *g = cap < (64u << 20) ? realloc(all, cap ? cap * 2 : 8192) : NULL;
                if (!g) break;
                all = g;
                cap = cap ? cap * 2 : 8192;
            }
            ssize_t n = read(fd, all + len, cap - len);
            if (n <= 0) break;
            len += (size_t)n;
        }
        close(fd);
    }
    /* lines as `wc -l` counts them; stray ones as `grep -v '^modelfs: '`
     * finds them (a last line without '\n' counts there too) */
    long lines = 0, stray = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(all + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - all) : len;
        if (end - i < 9 || memcmp(all + i, "modelfs: ", 9)) stray++;
        if (nl) lines++;
        i = end + 1;
    }
    char text[2 * TEXT_MAX + 1];
    size_t t = 0;
    for (size_t i = 0; i < len && t < TEXT_MAX; i++) {
        unsigned char c = (unsigned char)all[i];
        if (c == '\\') { text[t++] = '\\'; text[t++] = '\\'; }
        else if (c == '\n') { text[t++] = '\\'; text[t++] = 'n'; }
        else if (c == '\t') { text[t++] = '\\'; text[t++] = 't'; }
        else if (c == '\r' || c == 0) text[t++] = ' ';
        else text[t++] = (char)c;
    }
    free(all);
    dprintf(g_out_fd, "%s\t%d\t%ld\t%ld\t%s\t%.*s\n", kind, rc, lines, stray, file, (int)t, text);
}

/* The walk of `modelfs ls -R`: every name of every directory. */
static void walk_ls(mfs_model *m, uint32_t dir)
{
    uint32_t n = mfs_dir_count(m, dir);
    for (uint32_t i = 0; i < n; i++) {
        (void)mfs_node_name(m, mfs_dir_child(m, dir, i)); /* ls prints each name */
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = mfs_dir_child(m, dir, i);
        if (mfs_node_is_dir(m, c) == 1) walk_ls(m, c);
    }
}

/* `modelfs cat MODEL PATH` with the output thrown away (cli.c cat_file,
 * same messages). @return 0, or 1 after printing one error line. */
static int cat_file(mfs_model *m, const char *model, const char *path, char *buf, size_t cap)
{
    uint32_t id = mfs_node_resolve(m, path);
    if (!id) {
        fprintf(stderr, "modelfs: %s: %s: No such file or directory\n", model, path);
        return 1;
    }
    if (mfs_node_is_dir(m, id) == 1) {
        fprintf(stderr, "modelfs: %s: %s: Is a directory\n", model, path);
        return 1;
    }
    uint64_t off = 0;
    for (;;) {
        mfs_err e;
        int64_t n = mfs_node_read(m, id, off, buf, cap, &e);
        if (n < 0) {
            fprintf(stderr, "modelfs: %s: %s: %s\n", model, path, e.msg);
            return 1;
        }
        if (n == 0) return 0;
        off += (uint64_t)n;
    }
}

/* The paths of `modelfs tree` (pre-order, directories with a trailing '/')
 * that -m/-x select, appended to *list (at most o->max_match in all). */
static void walk_match(mfs_model *m, uint32_t dir, const char *path, const struct opts *o,
                       char ***list, int *n)
{
    uint32_t cnt = mfs_dir_count(m, dir);
    for (uint32_t i = 0; i < cnt && *n < o->max_match; i++) {
        uint32_t c = mfs_dir_child(m, dir, i);
        int isdir = mfs_node_is_dir(m, c) == 1;
        char *sub = NULL, *shown = NULL;
        if (mfs_node_link(m, c)) continue; /* its target dir is walked where it lives */
        if (asprintf(&sub, "%s%s%s", path, *path ? "/" : "", mfs_node_name(m, c)) < 0) return;
        if (asprintf(&shown, "%s%s", sub, isdir ? "/" : "") < 0) { free(sub); return; }
        if (!regexec(o->match, shown, 0, NULL, 0) && !(o->skip && !regexec(o->skip, shown, 0, NULL, 0))) {
            char **grown = realloc(*list, (size_t)(*n + 1) * sizeof *grown);
            if (grown) { *list = grown; (*list)[(*n)++] = shown; shown = NULL; }
        }
        free(shown);
        if (isdir) walk_match(m, c, sub, o, list, n);
        free(sub);
    }
}

/* Leak check after a model closed (sanitizer builds). @return 1 on a leak. */
static int leaked(void)
{
    return __lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check() != 0;
}

/* One FILE: the `ls` record, then the `cat` record when there is
 * something to read. @return 1 when a leak was found, else 0. */
static int do_file(const char *file, const struct opts *o, char *buf, size_t cap)
{
    if (capture_begin(o->errfile) < 0) {
        dprintf(g_out_fd, "ls\t1\t1\t1\t%s\tmfs_batch: cannot open %s: %s\n", file, o->errfile,
                strerror(errno));
        return 0;
    }
    alarm(o->secs);
    mfs_open_opts opts;
    memset(&opts, 0, sizeof opts);
    mfs_model *m = NULL;
    mfs_err e;
    int leak = 0;
    if (mfs_model_open(file, &opts, &m, &e) < 0) {
        fprintf(stderr, "modelfs: %s\n", e.msg);
        leak = leaked();
        alarm(0);
        record(o->errfile, "ls", leak ? 23 : 1, file);
    } else {
        walk_ls(m, MFS_ROOT);
        char **paths = NULL;
        int npaths = 0;
        if (o->match) walk_match(m, MFS_ROOT, "", o, &paths, &npaths);
        int want_cat = o->ncats > 0 || npaths > 0;
        if (!want_cat) {
            mfs_model_close(m);
            leak = leaked();
        }
        alarm(0);
        record(o->errfile, "ls", leak ? 23 : 0, file);
        if (want_cat) {
            capture_begin(o->errfile);
            alarm(o->secs);
            int rc = 0;
            for (int i = 0; i < o->ncats; i++) rc |= cat_file(m, file, o->cats[i], buf, cap);
            for (int i = 0; i < npaths; i++) rc |= cat_file(m, file, paths[i], buf, cap);
            mfs_model_close(m);
            for (int i = 0; i < npaths; i++) free(paths[i]);
            free(paths);
            paths = NULL;
            leak = leaked();
            alarm(0);
            record(o->errfile, "cat", leak ? 23 : rc, file);
        }
        free(paths);
    }
    return leak;
}

/* do_file() in a forked child (in-process when fork fails), then the
 * child's `crash` or `hang` record if it died, then `end`. */
static void run_file(const char *file, const struct opts *o, char *buf, size_t cap)
{
    fflush(NULL);
    pid_t pid = o->inproc ? -1 : fork();
    if (pid == 0) {
        do_file(file, o, buf, cap);
        _exit(0); /* no exit-time handlers: the leak check is done */
    }
    if (pid < 0) {
        if (do_file(file, o, buf, cap)) {
            /* in-process, a leak stays and every later check would report
             * it again: end after this file's records, with LSan's status
             * (batch.inc goes on with the next file) */
            dprintf(g_out_fd, "end\t0\t0\t0\t%s\t\n", file);
            fflush(NULL);
            _exit(23);
        }
    } else {
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        if (WIFSIGNALED(st))
            record(o->errfile, WTERMSIG(st) == SIGALRM ? "hang" : "crash", 128 + WTERMSIG(st), file);
        else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
            record(o->errfile, "crash", WEXITSTATUS(st), file);
    }
    dprintf(g_out_fd, "end\t0\t0\t0\t%s\t\n", file);
}

static int usage(void)
{
    fprintf(stderr, "usage: mfs_batch [-1] [-e ERRFILE] [-t SECONDS] [-c PATH]... "
                    "[-m REGEX [-x REGEX] [-n MAX]] FILE...\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    o.errfile = "mfs_batch.err";
    o.secs = 20;
    o.max_match = 400;
    o.cats = calloc((size_t)argc, sizeof *o.cats);
    regex_t match, skip;
    int opt;
    if (!o.cats) return 1;
    while ((opt = getopt(argc, argv, "e:t:c:m:x:n:1")) != -1) {
        switch (opt) {
        case 'e': o.errfile = optarg; break;
        case 't': o.secs = (unsigned)atoi(optarg); break;
        case 'c': o.cats[o.ncats++] = optarg; break;
        case 'm':
            if (regcomp(&match, optarg, REG_EXTENDED | REG_NOSUB)) return usage();
            o.match = &match;
            break;
        case 'x':
            if (regcomp(&skip, optarg, REG_EXTENDED | REG_NOSUB)) return usage();
            o.skip = &skip;
            break;
        case 'n': o.max_match = atoi(optarg); break;
        case '1': o.inproc = 1; break;
        default: return usage();
        }
    }
    if (optind >= argc) return usage();
    /* records go to our stdout; the model's own output (none expected)
     * could not mix with them: stdout is kept apart from fd 1 */
    fflush(stdout);
    g_out_fd = dup(1);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (g_out_fd < 0 || devnull < 0 || dup2(devnull, 1) < 0) return 1;
    close(devnull);
    size_t cap = 1 << 20; /* the CLI's read size */
    char *buf = malloc(cap);
    if (!buf) return 1;
    leaked(); /* LSan sets itself up on its first check: once, here, not in every child */
    for (int i = optind; i < argc; i++) run_file(argv[i], &o, buf, cap);
    free(buf);
    free(o.cats);
    if (o.match) regfree(&match);
    if (o.skip) regfree(&skip);
    return 0;
}
