/* spin.h: one reader of /dev/fuse at a time, busy-polling briefly
 * (spin.c). */
#ifndef MFS_SPIN_H
#define MFS_SPIN_H
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#endif
#include <fuse_lowlevel.h>

#define MFS_SPIN_DEFAULT_US 200

/** mfs_spin_install() : makes the mounted, multithreaded session @se read
 *  requests through spin.c (one leader, up to @spin_us of polling).
 *  @spin_us <= 0 keeps libfuse's plain read. @return 0, or -1 when libfuse
 *  refuses custom I/O. */
int mfs_spin_install(struct fuse_session *se, long spin_us);
#endif
