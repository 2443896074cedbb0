/* shield.h: the model open runs in a watched child process (shield.c). */
#ifndef MFS_SHIELD_H
#define MFS_SHIELD_H

/* Sanitizer builds run the open in-process: their reports must reach the
 * test that provoked them, and the readers' own isolation (the HDF5
 * canary) turns library crashes into errors there. */
#if defined(__SANITIZE_ADDRESS__)
#define MFS_SHIELD_BUILD 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MFS_SHIELD_BUILD 0
#endif
#endif
#ifndef MFS_SHIELD_BUILD
#define MFS_SHIELD_BUILD 1
#endif

enum mfs_shield_mode {
    MFS_SHIELD_DAEMON,  /* parent exits 0 once the child is mounted */
    MFS_SHIELD_COMMAND  /* parent exits with the child's status */
};

/**
 * mfs_shield_begin() : forks when shielding is on (MFS_SHIELD_BUILD and
 * MFS_SHIELD not "0"). The parent never returns: it waits for the child
 * and exits 0/1 with at most one line on stderr naming @model ("crashed
 * (Segmentation fault) while opening it", "gave up after N s") when the
 * child died or hung before mfs_shield_opened()/mfs_shield_ready(). The
 * child returns 1 and continues as the real process (mfs_set_open_isolated
 * is set for it). Returns 0 without forking when shielding is off or the
 * fork fails (the work then runs unshielded, in-process).
 */
int mfs_shield_begin(const char *model, enum mfs_shield_mode mode);

/** mfs_shield_opened() : (COMMAND child) the model is open: the open
 *  timeout ends; a later death is still reported. No-op unshielded. */
void mfs_shield_opened(void);

/**
 * mfs_shield_ready() : (DAEMON child) mounted: detaches like a daemon
 * (new session, cwd /, stdio on /dev/null) and lets the parent exit 0.
 * @return 0, or -1 when the parent is gone (interrupted): the caller then
 * unmounts and exits. No-op (0) unshielded.
 */
int mfs_shield_ready(void);
#endif
