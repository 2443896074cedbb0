/* main.c: the modelfs daemon: options, open + validate, mount, loop.
 *
 *   modelfs MODEL MOUNTPOINT [-f] [-d] [-s] [-o opt,...]
 *   modelfs ls|cat|... MODEL ...      (no mount: src/tools, mfs_tool_main)
 *
 * The order matters (squashfuse ll_main.c, STYLE.md "validate everything
 * before mounting"):
 *   1. parse options; --help/--version/--formats answer and exit;
 *   2. check the mount point is an existing directory;
 *   3. unless -f, fork: the child goes on, the parent waits and reports a
 *      crash or hang of the open (src/tools/shield.c);
 *   4. open the model: bid, parse headers, build the whole tree. A model
 *      that cannot be mounted ends here with ONE line on stderr
 *      ("modelfs: <path>: <format guess>: <what> at <where>") and exit 1,
 *      before the mount point is touched;
 *   5. create the session, install SIGINT/SIGTERM/SIGHUP handlers (they
 *      end the loop, after which we unmount cleanly), mount, detach (the
 *      shield's parent exits; with -f nothing), run the loop
 *      (multithreaded with one cloned /dev/fuse fd per worker unless -s);
 *   6. unwind in reverse order (goto ladder, hello_ll.c).
 *
 * Mount options we always add: ro, default_permissions (the kernel checks
 * our 0444/0555 modes), fsname=modelfs, subtype=modelfs, and max_read=
 * (libfuse 3.14 wants the same value here and in init(); see fs.h).
 */
#include "fs.h"
#include "spin.h"
#include "tools/shield.h"
#include "tools/tool.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Options of our own; everything else is left for libfuse. */
struct mfs_opts {
    char *model;      /* first non-option argument */
    char *mountpoint; /* second one (also left in args for libfuse) */
    char *format;     /* -o format=ID */
    char *log;        /* -o log=FILE */
    double timeout;   /* -o timeout=SECS */
    long spin;        /* -o spin=US (spin.c) */
    unsigned max_read;/* -o max_read=N (kept for libfuse too) */
    int show_help, show_version, show_formats;
    int extra_args;   /* more than two non-options: usage error */
};

enum { KEY_HELP, KEY_VERSION, KEY_FORMATS, KEY_MAX_READ };

#define MFS_OPT(t, p) { t, offsetof(struct mfs_opts, p), 1 }
static const struct fuse_opt mfs_opt_spec[] = {
    MFS_OPT("format=%s", format),
    MFS_OPT("log=%s", log),
    MFS_OPT("timeout=%lf", timeout),
    MFS_OPT("spin=%ld", spin),
    FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_KEY("--formats", KEY_FORMATS),
    FUSE_OPT_END
};

/* fuse_opt callback (sqfs_opt_proc pattern): the first non-option is the
 * model (consumed), the second the mount point (kept: fuse_parse_cmdline
 * wants it). Returns 0 to consume, 1 to keep, -1 on error. */
static int mfs_opt_proc(void *data, const char *arg, int key,
                        struct fuse_args *outargs)
{
    struct mfs_opts *o = data;

    (void)outargs;
    switch (key) {
    case FUSE_OPT_KEY_NONOPT:
        if (o->model == NULL) {
            o->model = strdup(arg);
            return o->model ? 0 : -1;
        }
        if (o->mountpoint == NULL) {
            o->mountpoint = strdup(arg);
            return o->mountpoint ? 1 : -1;
        }
        o->extra_args = 1;
        return 0;
    case KEY_HELP:
        o->show_help = 1;
        return 0;
    case KEY_VERSION:
        o->show_version = 1;
        return 0;
    case KEY_FORMATS:
        o->show_formats = 1;
        return 0;
    case KEY_MAX_READ: {
        /* Remember it (init() must repeat it) and pass it on to libfuse. */
        unsigned long v = strtoul(arg + strlen("max_read="), NULL, 10);
        o->max_read = v == 0 || v > MFS_MAX_READ ? MFS_MAX_READ : (unsigned)v;
        return 0; /* re-added, clamped, by add_mount_opts() */
    }
    default:
        return 1;
    }
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
"usage: %s MODEL MOUNTPOINT [-f] [-d] [-s] [-o opt,...]\n"
"       %s ls [-l] [-R] MODEL [PATH]   list what a mount would show (no FUSE)\n"
"       %s cat MODEL PATH              print one file of it (no FUSE)\n"
"\n"
"Mounts a saved model (safetensors, PyTorch, Keras/HDF5, TensorFlow, ...)\n"
"read-only at MOUNTPOINT. Unmount with `fusermount3 -u MOUNTPOINT`.\n"
"\n"
"modelfs options:\n"
"    -o format=ID           use reader ID, skip format detection\n"
"                           (IDs: `%s --formats`)\n"
"    -o timeout=SECS        how long the kernel caches names and attributes\n"
"                           (default %.0f; the tree never changes)\n"
"    -o log=FILE            append read-error lines to FILE (default: stderr\n"
"                           with -f, syslog when daemonized)\n"
"    -o max_read=N          largest read request in bytes (default and\n"
"                           maximum %u)\n"
"    -o spin=US             after a metadata reply, poll for the next request\n"
"                           this long before sleeping (default %d; 0: plain)\n"
"    --formats              list the format readers and exit\n"
"    -V, --version          print versions and exit\n"
"    -h, --help             print this help and exit\n"
"\n"
"Always set: -o ro,default_permissions,fsname=modelfs,subtype=modelfs\n"
"Multithreaded with one /dev/fuse clone per worker unless -s.\n"
"\n"
"FUSE options:\n",
            prog, prog, prog, prog, MFS_TIMEOUT_DEFAULT, MFS_MAX_READ, MFS_SPIN_DEFAULT_US);
    fflush(out);
}

static void list_formats(void)
{
    size_t n = mfs_reader_count();

    for (size_t i = 0; i < n; i++) {
        const char *id = mfs_reader_id(i);
        const char *d = mfs_reader_description(i);
        printf("%-16s %s\n", id ? id : "?", d ? d : "");
    }
}

/* Appends our fixed mount options to @args. ro comes last so that a user's
 * "-o rw" cannot win. @return 0, or -1 when out of memory. */
static int add_mount_opts(struct fuse_args *args, unsigned max_read)
{
    char opt[128];

    snprintf(opt, sizeof(opt),
             "-odefault_permissions,fsname=modelfs,subtype=modelfs,"
             "max_read=%u,ro", max_read);
    return fuse_opt_add_arg(args, opt);
}

/* Checks that @path is an existing directory; prints one line and returns
 * -1 when not. */
static int check_mountpoint(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "modelfs: mount point %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "modelfs: mount point %s: %s\n", path,
                strerror(ENOTDIR));
        return -1;
    }
    return 0;
}

/* Runs the request loop: single-threaded with -s, else one worker per
 * concurrent request up to max_threads, each with its own cloned
 * /dev/fuse fd (clone_fd) so workers do not contend on one queue.
 * @return the loop's result (0, a signal number, or -errno). */
static int run_loop(struct fuse_session *se, const struct fuse_cmdline_opts *c)
{
    struct fuse_loop_config *cfg;
    int ret;

    if (c->singlethread)
        return fuse_session_loop(se);
    cfg = fuse_loop_cfg_create();
    if (cfg == NULL)
        return -ENOMEM;
    fuse_loop_cfg_set_clone_fd(cfg, 1);
    fuse_loop_cfg_set_max_threads(cfg, c->max_threads);
    if (c->max_idle_threads != UINT_MAX) /* UINT_MAX = not given */
        fuse_loop_cfg_set_idle_threads(cfg, c->max_idle_threads);
    ret = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    return ret;
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct mfs_opts o = { .timeout = MFS_TIMEOUT_DEFAULT,
                          .max_read = MFS_MAX_READ, .spin = MFS_SPIN_DEFAULT_US };
    struct fuse_cmdline_opts c;
    struct mfs_fs fs;
    struct fuse_session *se = NULL;
    mfs_open_opts oo;
    mfs_err e;
    char *model_path = NULL;
    struct stat mst;
    int status = 1, ret, shielded = 0;

    /* glibc re-stats /etc/localtime at every mktime() while TZ is unset,
     * and libzip calls mktime for each member's DOS date: a stat per
     * tensor of a PyTorch file. The same zone, read once: */
    if (getenv("TZ") == NULL)
        setenv("TZ", ":/etc/localtime", 0);
    if (argc > 1 && mfs_tool_is_command(argv[1]))
        return mfs_tool_main(argc, argv);

    memset(&c, 0, sizeof(c));
    memset(&fs, 0, sizeof(fs));
    if (fuse_opt_parse(&args, &o, mfs_opt_spec, mfs_opt_proc) != 0)
        goto out_args;
    if (o.show_help) {
        usage(stdout, argv[0]);
        fuse_cmdline_help();
        fuse_lowlevel_help();
        status = 0;
        goto out_args;
    }
    if (o.show_version) {
        printf("modelfs %s\n", MFS_VERSION_STRING);
        printf("libfuse %s\n", fuse_pkgversion());
        printf("open shield: %s\n", MFS_SHIELD_BUILD ? "on" : "off (sanitizer build)");
        fflush(stdout);
        fuse_lowlevel_version();
        status = 0;
        goto out_args;
    }
    if (o.show_formats) {
        list_formats();
        status = 0;
        goto out_args;
    }
    if (o.model == NULL || o.mountpoint == NULL || o.extra_args) {
        fprintf(stderr, "modelfs: expected MODEL and MOUNTPOINT (try %s --help)\n",
                argv[0]);
        goto out_args;
    }
    if (!(o.timeout >= 0)) {
        fprintf(stderr, "modelfs: bad -o timeout: must be >= 0\n");
        goto out_args;
    }
    if (check_mountpoint(o.mountpoint) != 0)
        goto out_args;

    /* An absolute path: the daemon chdirs to / when it detaches, and a
     * reader may open sibling files (shards) later. If realpath fails,
     * mfs_model_open reports the problem with the name the user gave. */
    model_path = realpath(o.model, NULL);
    if (model_path == NULL)
        model_path = strdup(o.model);
    if (model_path == NULL)
        goto out_args;
    if (add_mount_opts(&args, o.max_read) != 0)
        goto out_path;
    if (fuse_parse_cmdline(&args, &c) != 0)
        goto out_path;
    /* From here on a background mount runs in a watched child (shield.c):
     * a reader crashing or looping on a hostile file costs one error
     * line; the same fork later detaches the daemon. */
    shielded = !c.foreground && mfs_shield_begin(model_path, MFS_SHIELD_DAEMON);

    memset(&oo, 0, sizeof(oo));
    memset(&e, 0, sizeof(e));
    oo.format = o.format;
    if (mfs_model_open(model_path, &oo, &fs.model, &e) < 0 || fs.model == NULL) {
        fprintf(stderr, "modelfs: %s\n",
                e.msg[0] ? e.msg : "cannot open the model");
        goto out_cmdline;
    }

    if (mfs_ll_fs_init(&fs) != 0) {
        fprintf(stderr, "modelfs: out of memory\n");
        goto out_model;
    }
    fs.timeout = o.timeout;
    fs.uid = getuid();
    fs.gid = getgid();
    if (stat(model_path, &mst) == 0) {
        fs.mtime = mst.st_mtim;
        fs.model_bytes = (uint64_t)mst.st_size;
    } else {
        clock_gettime(CLOCK_REALTIME, &fs.mtime);
    }

    if (o.log != NULL) {
        fs.log = fopen(o.log, "a");
        if (fs.log == NULL) {
            fprintf(stderr, "modelfs: log file %s: %s\n", o.log, strerror(errno));
            goto out_model;
        }
    } else if (c.foreground) {
        fs.log = stderr;
    } else {
        openlog("modelfs", LOG_PID, LOG_DAEMON);
    }

    fs.max_read = o.max_read; /* init() must repeat it */
    se = fuse_session_new(&args, &mfs_ll_ops, sizeof(mfs_ll_ops), &fs);
    if (se == NULL)
        goto out_log;
    if (fuse_set_signal_handlers(se) != 0)
        goto out_session;
    if (fuse_session_mount(se, c.mountpoint) != 0)
        goto out_signals;
    if (!c.singlethread && mfs_spin_install(se, o.spin) != 0)
        fprintf(stderr, "modelfs: -o spin: libfuse refused custom I/O; reading plainly\n");
    if (shielded ? mfs_shield_ready() != 0 : fuse_daemonize(c.foreground) != 0)
        goto out_unmount;

    ret = run_loop(se, &c);
    mfs_ll_thread_done();
    status = ret < 0 ? 1 : 0;

out_unmount:
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
out_log:
    if (fs.log != NULL && fs.log != stderr)
        fclose(fs.log);
    if (fs.log == NULL && o.log == NULL && !c.foreground)
        closelog();
out_model:
    mfs_ll_fs_destroy(&fs);
    mfs_model_close(fs.model);
out_cmdline:
    free(c.mountpoint);
out_path:
    free(model_path);
out_args:
    free(o.model);
    free(o.mountpoint);
    free(o.format);
    free(o.log);
    fuse_opt_free_args(&args);
    return status;
}
