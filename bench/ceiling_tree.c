/* ceiling_tree.c: the FUSE ceiling for walking a tree (`ls -R`).
 *
 *   mfs_ceiling --tree LISTING MOUNTPOINT [-f] [-s] [-o opt,...]
 *
 * LISTING is the output of `modelfs tree MODEL`: one path per line,
 * directories ending in '/', symlinks as "path -> target". This server
 * shows exactly those names, every file empty, and does nothing else:
 * lookups through a hash, readdir and readdirplus from arrays, opendir
 * answered ENOSYS once (no open/release round trips, as modelfs does).
 * Mount + `ls -R` on it is the least any FUSE server can take for the
 * same tree on this machine, so modelfs/ceiling is modelfs' own cost.
 */
#include "ceiling.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tnode {
    char *name;
    char *target;        /* symlinks: what readlink answers */
    uint32_t parent;
    uint32_t first, last, next; /* children, in listing order */
    uint32_t nkids;
    int dir;
};

static struct tnode *g_n;   /* g_n[1] is the root (FUSE_ROOT_ID) */
static uint32_t g_count, g_cap;
static uint32_t *g_hash;    /* (parent, name) -> id, open addressing */
static uint32_t g_hcap;

static uint64_t tkey(uint32_t parent, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ parent;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* Child @name of @parent, or 0. */
static uint32_t tchild(uint32_t parent, const char *name)
{
    uint32_t mask = g_hcap - 1;
    for (uint32_t i = (uint32_t)tkey(parent, name) & mask; g_hash[i]; i = (i + 1) & mask) {
        const struct tnode *n = &g_n[g_hash[i]];
        if (n->parent == parent && strcmp(n->name, name) == 0)
            return g_hash[i];
    }
    return 0;
}

/* Adds (or finds) @name under @parent; returns its id, 0 on OOM. */
static uint32_t tadd(uint32_t parent, const char *name, int dir, const char *target)
{
    uint32_t id = tchild(parent, name);
    if (id)
        return id;
    if (g_count + 1 >= g_cap || (g_count + 1) * 2 >= g_hcap)
        return 0; /* sized up front by ceil_tree_load */
    id = ++g_count;
    g_n[id].name = strdup(name);
    g_n[id].target = target ? strdup(target) : NULL;
    g_n[id].parent = parent;
    g_n[id].dir = dir;
    if (g_n[parent].last)
        g_n[g_n[parent].last].next = id;
    else
        g_n[parent].first = id;
    g_n[parent].last = id;
    g_n[parent].nkids++;
    uint32_t mask = g_hcap - 1;
    uint32_t i = (uint32_t)tkey(parent, name) & mask;
    while (g_hash[i])
        i = (i + 1) & mask;
    g_hash[i] = id;
    return id;
}

int ceil_tree_load(const char *listing)
{
    FILE *f = fopen(listing, "r");
    char *line = NULL;
    size_t cap = 0, lines = 0;
    ssize_t len;

    if (f == NULL)
        return -1;
    while (getline(&line, &cap, f) > 0)
        lines++;
    g_cap = (uint32_t)lines + 2;
    for (g_hcap = 1024; g_hcap < 2 * g_cap; g_hcap *= 2)
        ;
    g_n = calloc(g_cap, sizeof(*g_n));
    g_hash = calloc(g_hcap, sizeof(*g_hash));
    if (g_n == NULL || g_hash == NULL)
        goto fail;
    g_count = 1;
    g_n[1].name = strdup("");
    g_n[1].dir = 1;
    g_n[1].parent = 1;
    rewind(f);
    while ((len = getline(&line, &cap, f)) > 0) {
        char *target = NULL, *arrow, *p, *slash;
        uint32_t at = FUSE_ROOT_ID;
        int dir;

        if (line[len - 1] == '\n')
            line[--len] = 0;
        if ((arrow = strstr(line, " -> ")) != NULL) {
            *arrow = 0;
            target = arrow + 4;
            len = arrow - line;
        }
        dir = len > 0 && line[len - 1] == '/';
        if (dir)
            line[--len] = 0;
        for (p = line; *p == '/'; p++)
            ;
        if (*p == 0)
            continue;
        while ((slash = strchr(p, '/')) != NULL) {
            *slash = 0;
            if ((at = tadd(at, p, 1, NULL)) == 0)
                goto fail;
            p = slash + 1;
        }
        if (tadd(at, p, dir, target) == 0)
            goto fail;
    }
    free(line);
    fclose(f);
    return 0;
fail:
    free(line);
    fclose(f);
    return -1;
}

static void tstat(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_blksize = CEIL_MAX_READ;
    if (g_n[ino].dir) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
    } else if (g_n[ino].target) {
        st->st_mode = S_IFLNK | 0777;
        st->st_nlink = 1;
        st->st_size = (off_t)strlen(g_n[ino].target);
    } else {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
    }
}

static int tvalid(fuse_ino_t ino)
{
    return ino >= 1 && ino <= g_count;
}

static void t_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;
    uint32_t id = tvalid(parent) ? tchild((uint32_t)parent, name) : 0;

    memset(&e, 0, sizeof(e));
    e.entry_timeout = e.attr_timeout = CEIL_TIMEOUT;
    if (id) {
        e.ino = id;
        tstat(id, &e.attr);
    }
    fuse_reply_entry(req, &e);
}

static void t_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;

    (void)fi;
    if (!tvalid(ino)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    tstat(ino, &st);
    fuse_reply_attr(req, &st, CEIL_TIMEOUT);
}

static void t_readlink(fuse_req_t req, fuse_ino_t ino)
{
    if (!tvalid(ino) || g_n[ino].target == NULL)
        fuse_reply_err(req, EINVAL);
    else
        fuse_reply_readlink(req, g_n[ino].target);
}

static void t_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, ENOSYS); /* no opendir/releasedir from now on */
}

/* Entry k of ".", "..", children...: offset k, next offset k+1. */
static void t_readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
    char *buf;
    size_t pos = 0;
    uint32_t id = 0;

    if (!tvalid(ino) || !g_n[ino].dir) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if ((buf = malloc(size)) == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    for (off_t k = off < 0 ? 0 : off;; k++) {
        const char *name;
        size_t need;

        if (k == 0) {
            id = (uint32_t)ino, name = ".";
        } else if (k == 1) {
            id = g_n[ino].parent, name = "..";
        } else {
            if (id == 0 || k == off) { /* resume: walk to child k-2 */
                id = g_n[ino].first;
                for (off_t j = 2; j < k && id; j++)
                    id = g_n[id].next;
            } else {
                id = k == 2 ? g_n[ino].first : g_n[id].next;
            }
            if (id == 0)
                break;
            name = g_n[id].name;
        }
        if (plus) {
            struct fuse_entry_param e;
            memset(&e, 0, sizeof(e));
            if (k >= 2) {
                e.ino = id;
                e.entry_timeout = e.attr_timeout = CEIL_TIMEOUT;
                tstat(id, &e.attr);
            } else {
                e.attr.st_ino = id;
                e.attr.st_mode = S_IFDIR;
            }
            need = fuse_add_direntry_plus(req, buf + pos, size - pos, name, &e, k + 1);
        } else {
            struct stat st;
            tstat(id, &st);
            need = fuse_add_direntry(req, buf + pos, size - pos, name, &st, k + 1);
        }
        if (need > size - pos)
            break;
        pos += need;
    }
    fuse_reply_buf(req, buf, pos);
    free(buf);
}

static void t_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
    (void)fi;
    t_readdir_common(req, ino, size, off, 0);
}

static void t_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
    (void)fi;
    t_readdir_common(req, ino, size, off, 1);
}

const struct fuse_lowlevel_ops ceil_tree_ops = {
    .init = ceil_init,
    .lookup = t_lookup,
    .getattr = t_getattr,
    .readlink = t_readlink,
    .opendir = t_opendir,
    .readdir = t_readdir,
    .readdirplus = t_readdirplus,
};
