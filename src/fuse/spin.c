/* spin.c: one reader of /dev/fuse at a time, busy-polling briefly.
 *
 * A walk (`ls -R`, find) is a chain of small requests, each sent only once
 * the previous reply arrived. With libfuse's loop a request wakes a worker
 * sleeping in read() and the next one another worker: on this VM a
 * sleep/wake-up pair costs as much as the rest of the round trip. Here the
 * workers take turns as the "leader", the only one reading: after a
 * metadata request (lookup, getattr, readdir, readlink, xattrs: short,
 * bounded work) the leader keeps the role, replies, and polls for the next
 * request without blocking for up to spin_us before sleeping in read();
 * (in poll(): the descriptor stays non-blocking, so no fcntl per request
 * and no EAGAIN ever reaches libfuse even if workers share one fd); the
 * other workers wait on a condition variable and are not woken. Any
 * other request (reads: decoding, stats, hashes can take long) hands the
 * role to a waiting worker before it is processed, so slow requests still
 * run in parallel. Plugged in through fuse_session_custom_io() on the
 * mounted descriptor; libfuse passes each worker's cloned fd.
 */
#include "spin.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>

static long g_spin_us;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_leader;            /* some worker holds the reading role */
static _Thread_local int t_lead; /* this worker holds it */
static _Thread_local int t_nbfd = -1; /* the fd this worker made non-blocking */

static void unlock_mu(void *m) { pthread_mutex_unlock(m); }

static long elapsed_us(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000L + (t.tv_nsec - t0->tv_nsec) / 1000;
}

/* Requests whose handlers only look at the immutable tree. */
static int is_meta(const void *buf, ssize_t n)
{
    const struct fuse_in_header *h = buf;
    if (n < (ssize_t)sizeof(*h)) return 0;
    switch (h->opcode) {
    case FUSE_LOOKUP: case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_GETATTR:
    case FUSE_READLINK: case FUSE_READDIR: case FUSE_READDIRPLUS: case FUSE_OPENDIR:
    case FUSE_RELEASEDIR: case FUSE_GETXATTR: case FUSE_LISTXATTR: case FUSE_ACCESS:
    case FUSE_STATFS:
        return 1;
    default:
        return 0;
    }
}

/* Makes @fd non-blocking, once per worker (each has its cloned fd). */
static void make_nonblocking(int fd)
{
    if (t_nbfd == fd)
        return;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    t_nbfd = fd;
}

/* Gives the reading role up and wakes one waiting worker. */
static void hand_over(void)
{
    pthread_mutex_lock(&g_mu);
    g_leader = 0;
    t_lead = 0;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* fuse_custom_io.read: read(2)'s contract (-1 with errno on error). */
static ssize_t mfs_spin_read(int fd, void *buf, size_t len, void *userdata)
{
    ssize_t r;
    int err;

    (void)userdata;
    if (!t_lead) {
        pthread_mutex_lock(&g_mu);
        /* libfuse cancels its workers inside read at exit */
        pthread_cleanup_push(unlock_mu, &g_mu);
        while (g_leader)
            pthread_cond_wait(&g_cv, &g_mu);
        g_leader = t_lead = 1;
        pthread_cleanup_pop(1);
    }
    make_nonblocking(fd);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int spinning = 1;
    for (;;) {
        r = read(fd, buf, len);
        if (r >= 0 || errno != EAGAIN)
            break;
        if (spinning && elapsed_us(&t0) < g_spin_us)
            continue;
        spinning = 0; /* sleep until a request (or an error) is there */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            break;
    }
    err = errno;
    /* keep the role for a metadata request, else let another read */
    if (r <= 0 || !is_meta(buf, r))
        hand_over();
    errno = err;
    return r;
}

/* fuse_custom_io.writev: replies, unchanged. */
static ssize_t mfs_spin_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    return writev(fd, iov, count);
}

static const struct fuse_custom_io spin_io = {
    .writev = mfs_spin_writev,
    .read = mfs_spin_read,
};

int mfs_spin_install(struct fuse_session *se, long spin_us)
{
    if (spin_us <= 0)
        return 0;
    g_spin_us = spin_us;
    return fuse_session_custom_io(se, &spin_io, fuse_session_fd(se));
}
