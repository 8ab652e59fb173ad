/*
 * Becoming the program's user, as every helper that starts something of the program's does it
 * (the same steps as the supervisor's setpriv flags and the session agent's
 * drop_to_program_user): no supplementary group, the gid, an empty bounding set and no ambient
 * capability, the uid, then no inheritable capability; signals back to their defaults. Any
 * failure ends the process with status 125: nothing of the program's may run with more.
 */
#ifndef AUREA_PROGRAM_USER_H
#define AUREA_PROGRAM_USER_H

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static void become_program_user(uid_t uid, gid_t gid) {
  if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0) _exit(125);
  for (unsigned long cap = 0; cap <= 63; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) _exit(125);
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (setresuid(uid, uid, uid) != 0) _exit(125);
  /* The switch from root emptied the permitted and effective sets; the inheritable one it keeps. */
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct none[2];
  memset(none, 0, sizeof none);
  if (syscall(SYS_capset, &header, none) != 0) _exit(125);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
}

#endif
