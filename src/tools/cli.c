/* cli.c: the no-mount front-end: `modelfs ls|cat|tree`, printing exactly
 * what a mount shows, through the public API only (squashfuse's ls.c).
 *
 *   modelfs ls [-l] [-R] MODEL [PATH]   list a directory (or name a file)
 *   modelfs cat MODEL PATH...           file contents to stdout
 *   modelfs tree MODEL                  every path, one per line (find-style:
 *                                       dirs end in '/', symlinks "p -> target")
 * Options shared with the daemon: -o format=ID. Exit 0 on success, 1 on a
 * model that cannot be opened or a path that does not exist. */
#include "tools/shield.h"
#include "tools/tool.h"
#include "modelfs/modelfs.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mfs_tool_is_command(const char *arg)
{
    return arg && (!strcmp(arg, "ls") || !strcmp(arg, "cat") || !strcmp(arg, "tree"));
}

static int usage(void)
{
    fprintf(stderr, "usage: modelfs ls [-l] [-R] [-o format=ID] MODEL [PATH]\n"
                    "       modelfs cat [-o format=ID] MODEL PATH...\n"
                    "       modelfs tree [-o format=ID] MODEL\n");
    return 2;
}

static void print_entry(mfs_model *m, uint32_t id, const char *shown, int lng)
{
    const char *link = mfs_node_link(m, id);
    if (lng) {
        int dir = mfs_node_is_dir(m, id);
        printf("%s %12llu %s%s%s\n", dir ? "dr-xr-xr-x" : link ? "lrwxrwxrwx" : "-r--r--r--",
               dir ? 0ull : (unsigned long long)mfs_node_size(m, id), shown,
               link ? " -> " : "", link ? link : "");
    } else {
        printf("%s\n", shown);
    }
}

/* Lists @dir; with @rec, like `ls -R` (a header per directory). */
static void list_dir(mfs_model *m, uint32_t dir, const char *path, int lng, int rec)
{
    uint32_t n = mfs_dir_count(m, dir);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = mfs_dir_child(m, dir, i);
        print_entry(m, c, mfs_node_name(m, c), lng);
    }
    if (!rec) return;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = mfs_dir_child(m, dir, i);
        if (mfs_node_is_dir(m, c) != 1) continue;
        char *sub = NULL;
        if (asprintf(&sub, "%s%s%s", path, *path ? "/" : "", mfs_node_name(m, c)) < 0) return;
        printf("\n%s:\n", sub);
        list_dir(m, c, sub, lng, rec);
        free(sub);
    }
}

static void walk_tree(mfs_model *m, uint32_t dir, const char *path)
{
    uint32_t n = mfs_dir_count(m, dir);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = mfs_dir_child(m, dir, i);
        char *sub = NULL;
        if (asprintf(&sub, "%s%s%s", path, *path ? "/" : "", mfs_node_name(m, c)) < 0) return;
        const char *link = mfs_node_link(m, c);
        printf("%s%s%s%s\n", sub, mfs_node_is_dir(m, c) == 1 ? "/" : "", link ? " -> " : "",
               link ? link : "");
        if (mfs_node_is_dir(m, c) == 1) walk_tree(m, c, sub);
        free(sub);
    }
}

static int cat_file(mfs_model *m, const char *model, const char *path)
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
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!buf) return 1;
    uint64_t off = 0;
    for (;;) {
        mfs_err e;
        int64_t n = mfs_node_read(m, id, off, buf, cap, &e);
        if (n < 0) {
            fprintf(stderr, "modelfs: %s: %s: %s\n", model, path, e.msg);
            free(buf);
            return 1;
        }
        if (n == 0) break;
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
            free(buf);
            return 1;
        }
        off += (uint64_t)n;
    }
    free(buf);
    return 0;
}

int mfs_tool_main(int argc, char **argv)
{
    const char *cmd = argv[1];
    int lng = 0, rec = 0;
    mfs_open_opts opts;
    memset(&opts, 0, sizeof opts);
    const char **args = calloc((size_t)argc + 1, sizeof *args); /* any number of paths */
    int nargs = 0;
    if (!args) return 1;
    char *fmt = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-l")) lng = 1;
        else if (!strcmp(a, "-R")) rec = 1;
        else if (!strcmp(a, "-lR") || !strcmp(a, "-Rl")) lng = rec = 1;
        else if (!strcmp(a, "-o") && i + 1 < argc) {
            const char *o = argv[++i];
            if (!strncmp(o, "format=", 7)) fmt = strdup(o + 7);
        } else if (!strcmp(a, "--")) {
            for (i++; i < argc; i++) args[nargs++] = argv[i];
        } else args[nargs++] = a;
    }
    opts.format = fmt;
    int need = !strcmp(cmd, "cat") ? 2 : 1;
    if (nargs < need || (strcmp(cmd, "cat") && nargs > 2)) {
        free(fmt);
        free(args);
        return usage();
    }
    mfs_model *m;
    mfs_err e;
    mfs_shield_begin(args[0], MFS_SHIELD_COMMAND); /* a crash or hang: one line */
    if (mfs_model_open(args[0], &opts, &m, &e) < 0) {
        fprintf(stderr, "modelfs: %s\n", e.msg);
        free(fmt);
        free(args);
        return 1;
    }
    mfs_shield_opened();
    int rc = 0;
    if (!strcmp(cmd, "cat")) {
        for (int i = 1; i < nargs; i++) rc |= cat_file(m, args[0], args[i]);
    } else if (!strcmp(cmd, "tree")) {
        walk_tree(m, MFS_ROOT, "");
    } else {
        const char *path = nargs > 1 ? args[1] : "";
        uint32_t id = mfs_node_resolve(m, path);
        if (!id) {
            fprintf(stderr, "modelfs: %s: %s: No such file or directory\n", args[0], path);
            rc = 1;
        } else if (mfs_node_is_dir(m, id) != 1) {
            print_entry(m, id, path, lng);
        } else {
            list_dir(m, id, path, lng, rec);
        }
    }
    fflush(stdout);
    mfs_model_close(m);
    free(fmt);
    free(args);
    return rc;
}
