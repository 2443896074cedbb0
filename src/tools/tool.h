/* tool.h: the no-mount front-end (`modelfs ls|cat|tree ...`), which prints
 * exactly what a mount would show, through the public API only. */
#ifndef MFS_TOOL_H
#define MFS_TOOL_H

/** mfs_tool_is_command() : 1 when @arg names a no-mount command. */
int mfs_tool_is_command(const char *arg);

/** mfs_tool_main() : runs `modelfs <command> MODEL [PATH] [options]` with
 *  argv[1] the command. @return the process exit status. */
int mfs_tool_main(int argc, char **argv);
#endif
