/*
 * aurea-no-mqueue: runs a command with POSIX message queues denied (EPERM), for it and every
 * process it starts.
 *
 *   aurea-no-mqueue COMMAND [ARG...]
 *
 * gVisor keeps a POSIX message queue in its own kernel, with no file system to list it in (there
 * is no /dev/mqueue under runsc), so the scrub between two runs of a recycled sandbox
 * (aurea-scrub.c) could not prove none is left; and runsc ignores the container's seccomp
 * profile. Where Aurea recycles gVisor sandboxes, the supervisor starts each program through this
 * program instead, which installs a seccomp filter of its own (gVisor enforces those) and execs
 * the command. The filter denies mq_open, mq_unlink, mq_timedsend, mq_timedreceive, mq_notify and
 * mq_getsetattr, and every call of the x32 ABI (which could reach them under other numbers), and
 * allows everything else; a filter cannot be removed, and is inherited across fork and exec.
 *
 * Exits 127 when the command cannot be run, 126 when the filter cannot be installed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define AUREA_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUREA_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "aurea-no-mqueue knows the system call numbers of x86_64 and aarch64 only"
#endif

/* The x32 ABI's calls carry this bit in their number (x86_64 only; zero elsewhere). */
#define X32_SYSCALL_BIT 0x40000000U

#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)(nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: aurea-no-mqueue COMMAND [ARG...]\n");
    return 127;
  }
  struct sock_filter filter[] = {
      /* A call from another architecture than the one this was built for is refused whole. */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (__u32)offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUREA_AUDIT_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (__u32)offsetof(struct seccomp_data, nr)),
      /* x32 calls (numbers with the x32 bit) are refused: the same queues under other numbers. */
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      DENY(SYS_mq_open),
      DENY(SYS_mq_unlink),
      DENY(SYS_mq_timedsend),
      DENY(SYS_mq_timedreceive),
      DENY(SYS_mq_notify),
      DENY(SYS_mq_getsetattr),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {.len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter};
  /* no_new_privs is already set in a sandbox; setting it again lets this run unprivileged anywhere. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    fprintf(stderr, "aurea-no-mqueue: cannot install the filter: %s\n", strerror(errno));
    return 126;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "aurea-no-mqueue: %s: %s\n", argv[1], strerror(errno));
  return 127;
}
