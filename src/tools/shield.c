/* shield.c: opening a model in a watched child process.
 *
 * A model file may be hostile or corrupt, and some libraries we read it
 * with (libhdf5 1.10) crash or loop on such files. The binary therefore
 * forks before it opens the model: the child does the real work and, for
 * a mount, becomes the daemon; the parent only waits on a pipe:
 *
 *   child writes 'o'   the model is open (command mode): no more timeout
 *   child writes 'r'   mounted and detached (daemon mode): parent exits 0
 *   EOF, child exited  parent exits with the child's status (the child
 *                      printed its own error line, if any)
 *   EOF, child killed  one line: "<model>: crashed (<signal>) while
 *                      opening it ...", exit 1
 *   no word in time    the child is killed; "gave up after N s", exit 1
 *
 * For a mount this fork replaces fuse_daemonize()'s (same steps: setsid,
 * chdir /, stdio on /dev/null, then the parent exits), so the shield costs
 * nothing there, and it makes the HDF5 reader's own crash canary (a second
 * fork and a second full open) unnecessary: mfs_set_open_isolated(1).
 * Until it detaches, the child dies with the parent (PR_SET_PDEATHSIG), so
 * killing the command (timeout(1)) never leaves a stuck open behind.
 * MFS_OPEN_TIMEOUT=<seconds> sets the limit (default 60); MFS_SHIELD=0
 * turns the shield off (then readers isolate themselves again).
 */
#include "tools/shield.h"
#include "modelfs/modelfs.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int g_fd = -1; /* child: the write end of the pipe */

static int open_timeout_ms(void)
{
    const char *s = getenv("MFS_OPEN_TIMEOUT");
    long v = s ? strtol(s, NULL, 10) : 0;
    return (v > 0 && v < 86400 ? (int)v : 60) * 1000;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The parent's side: waits for @pid's word on @fd; never returns. */
static void parent_wait(pid_t pid, int fd, const char *model, enum mfs_shield_mode mode)
{
    long long deadline = now_ms() + open_timeout_ms();
    int opened = 0, status = 0;
    char c;

    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = opened ? -1 : (int)(deadline - now_ms());
        if (!opened && left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fprintf(stderr, "modelfs: %s: gave up after %d s opening it (a reader loops on "
                            "this file: it is probably corrupt); nothing was %s\n",
                    model, open_timeout_ms() / 1000,
                    mode == MFS_SHIELD_DAEMON ? "mounted" : "read");
            _exit(1);
        }
        int n = poll(&p, 1, left);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) continue; /* timeout: handled at the top */
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r == 1 && c == 'r') _exit(0);  /* mounted: the daemon lives on */
        if (r == 1 && c == 'o') {          /* opened: wait for the end */
            opened = 1;
            continue;
        }
        break; /* EOF (or an error): the child is gone or going */
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGPIPE || sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            /* `modelfs cat ... | head`, ^C, kill: end the way the child did */
            signal(sig, SIG_DFL);
            raise(sig);
            _exit(128 + sig);
        }
        fprintf(stderr, "modelfs: %s: crashed (%s) while %s it: the file is corrupt or "
                        "hostile%s\n",
                model, strsignal(sig), opened ? "reading" : "opening",
                mode == MFS_SHIELD_DAEMON ? "; nothing was mounted" : "");
    }
    _exit(1);
}

int mfs_shield_begin(const char *model, enum mfs_shield_mode mode)
{
    const char *env = getenv("MFS_SHIELD");
    int fds[2];
    pid_t pid;

    if (!MFS_SHIELD_BUILD || (env && strcmp(env, "0") == 0))
        return 0;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return 0;
    fflush(NULL); /* nothing buffered may be written twice */
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    if (pid > 0) {
        close(fds[1]);
        parent_wait(pid, fds[0], model, mode);
    }
    close(fds[0]);
    g_fd = fds[1];
    /* killed with the parent (timeout(1), ^C in another group ...) until
     * the daemon detaches; a parent already gone means the same */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(1);
    mfs_set_open_isolated(1);
    return 1;
}

/* Sends @c to the parent. @return 0, or -1 when the parent is gone. */
static int tell(char c)
{
    ssize_t r;
    do
        r = write(g_fd, &c, 1);
    while (r < 0 && errno == EINTR);
    return r == 1 ? 0 : -1;
}

void mfs_shield_opened(void)
{
    if (g_fd < 0) return;
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    tell('o');
    signal(SIGPIPE, old);
}

int mfs_shield_ready(void)
{
    int nul, rc;

    if (g_fd < 0) return 0;
    prctl(PR_SET_PDEATHSIG, 0); /* the daemon outlives the parent */
    /* what fuse_daemonize() does in its child */
    if (setsid() < 0 && errno != EPERM) return -1;
    if (chdir("/") != 0) return -1;
    nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        if (nul > 2) close(nul);
    }
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    rc = tell('r');
    signal(SIGPIPE, old);
    close(g_fd);
    g_fd = -1;
    return rc;
}
