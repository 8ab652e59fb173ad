/*
 * aurea-free: the free space of a file system, for the supervisor's report (how close a run came
 * to its workspace's caps): `stat -f -c '%a %d' PATH` in a static program a third cheaper to start.
 *
 *   aurea-free PATH
 *
 * Prints the blocks free to an unprivileged user and the free inodes, space-separated, and exits
 * 0; 1 when PATH cannot be read, 2 on bad arguments. Built in Dockerfile.sandbox; tested in
 * test/unit/free-helper.test.ts.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/statvfs.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: aurea-free PATH\n");
    return 2;
  }
  struct statvfs usage;
  if (statvfs(argv[1], &usage) != 0) return 1;
  printf("%llu %llu\n", (unsigned long long)usage.f_bavail, (unsigned long long)usage.f_ffree);
  return 0;
}
