/* src.c: byte sources (see src.h). File sources pread a descriptor opened
 * once (pread is thread-safe and needs no lock); memory sources memcpy. */
#include "core/src.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t file_pread(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(s->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            mfs_err_set(e, MFS_FAILED, EIO, (int64_t)(off + done), "%s: read: %s",
                        s->path, strerror(errno));
            return -1;
        }
        if (n == 0) break;
        done += (size_t)n;
    }
    return (int64_t)done;
}

static void file_close(mfs_src *s) { close(s->fd); }

static const struct mfs_src_ops file_ops = {file_pread, file_close};

struct mem_ctx {
    const unsigned char *p;
    int owned;
};

static int64_t mem_pread(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    struct mem_ctx *m = s->ctx;
    if (off >= s->size) return 0;
    if (len > s->size - off) len = (size_t)(s->size - off);
    memcpy(buf, m->p + off, len);
    return (int64_t)len;
}

static void mem_close(mfs_src *s)
{
    struct mem_ctx *m = s->ctx;
    if (m->owned) free((void *)m->p);
    free(m);
}

static const struct mfs_src_ops mem_ops = {mem_pread, mem_close};

mfs_src *mfs_src_new_custom(const struct mfs_src_ops *ops, void *ctx, uint64_t size,
                            const char *path)
{
    mfs_src *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->path = strdup(path ? path : "");
    if (!s->path) {
        free(s);
        return NULL;
    }
    s->ops = ops;
    s->ctx = ctx;
    s->size = size;
    s->refs = 1;
    s->fd = -1;
    return s;
}

mfs_src *mfs_src_new_file(const char *path, mfs_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mfs_err_set(e, MFS_FATAL, errno, -1, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    char *abs = realpath(path, NULL); /* info.json names files absolutely */
    mfs_src *s = mfs_src_new_custom(&file_ops, NULL, (uint64_t)st.st_size, abs ? abs : path);
    free(abs);
    if (!s) {
        close(fd);
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        return NULL;
    }
    s->fd = fd;
    posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    return s;
}

mfs_src *mfs_src_new_mem(const void *data, size_t len, int copy, const char *name)
{
    struct mem_ctx *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (copy) {
        void *p = malloc(len ? len : 1);
        if (!p) {
            free(m);
            return NULL;
        }
        memcpy(p, data, len);
        m->p = p;
        m->owned = 1;
    } else {
        m->p = data;
    }
    mfs_src *s = mfs_src_new_custom(&mem_ops, m, len, name ? name : "(memory)");
    if (!s) {
        if (m->owned) free((void *)m->p);
        free(m);
    }
    return s;
}

mfs_src *mfs_src_ref(mfs_src *s)
{
    if (s) __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void mfs_src_unref(mfs_src *s)
{
    if (!s) return;
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (s->ops && s->ops->close) s->ops->close(s);
    free(s->path);
    free(s);
}

int64_t mfs_src_read(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    if (off >= s->size || len == 0) return 0;
    if (len > s->size - off) len = (size_t)(s->size - off);
    return s->ops->pread(s, buf, len, off, e);
}

int mfs_src_read_exact(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    if (off > s->size || len > s->size - off)
        return mfs_err_set(e, MFS_FAILED, EIO, (int64_t)off,
                           "%s: truncated: needs %zu bytes at offset %llu, file has %llu",
                           s->path, len, (unsigned long long)off, (unsigned long long)s->size);
    size_t done = 0; /* sources may return less than asked: loop */
    while (done < len) {
        int64_t n = s->ops->pread(s, (char *)buf + done, len - done, off + done, e);
        if (n < 0) return MFS_FAILED;
        if (n == 0)
            return mfs_err_set(e, MFS_FAILED, EIO, (int64_t)(off + done),
                               "%s: truncated at byte %llu", s->path,
                               (unsigned long long)(off + done));
        done += (size_t)n;
    }
    return MFS_OK;
}

void *mfs_src_slurp(mfs_src *s, uint64_t off, uint64_t len, uint64_t limit, mfs_err *e)
{
    if (len > limit) {
        mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)off,
                    "%s: %llu bytes at offset %llu exceed the limit of %llu", s->path,
                    (unsigned long long)len, (unsigned long long)off, (unsigned long long)limit);
        return NULL;
    }
    char *b = malloc((size_t)len + 1);
    if (!b) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, (int64_t)off, "out of memory");
        return NULL;
    }
    if (mfs_src_read_exact(s, b, (size_t)len, off, e) != MFS_OK) {
        if (e) e->status = MFS_FATAL;
        free(b);
        return NULL;
    }
    b[len] = 0;
    return b;
}
