/*
 * aurea-receive: the supervisor's per-run intake (src/sandbox/programs/supervisor.sh,
 * receive_workspace): reads the run's workspace archive, and in recycle mode the run's input,
 * from the container's stdin, hands the input to the loader's FIFO and extracts the archive as
 * the program's user. One process where the shell took five (head, a subshell, setpriv, tar, and
 * head again for the input).
 *
 *   aurea-receive ARCHIVE_BYTES WORKSPACE UID:GID [INPUT_BYTES]
 *
 * Started as root with the supervisor's capabilities. It reads exactly ARCHIVE_BYTES and then
 * INPUT_BYTES from stdin and never more (the supervisor's next read is the server's next
 * command); writes the input to fd 6 (the loader's FIFO, which the server sizes to fit the pipe);
 * becomes the program's user (program-user.h) and extracts the archive into WORKSPACE itself when
 * it is one Aurea builds (tar-extract.h), else by exec'ing GNU tar on a memory file holding it.
 * Exits 0 once the files are in place; 1 when the input ended early, the input could not be
 * handed on or the extraction failed, or GNU tar's status when tar failed (the supervisor then
 * reports setup-failed); 2 on bad arguments.
 * Tested on the host under AddressSanitizer and UndefinedBehaviorSanitizer
 * (test/unit/receive-helper.test.ts); built in Dockerfile.sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "program-user.h"
#include "tar-extract.h"
#include "write-all.h"

#define TAR "/usr/bin/tar"
/* Largest archive or input taken: the workspace's and the recycled input's caps are far below. */
#define MAX_BYTES (1LL << 31)

/* Reads exactly `length` bytes of stdin into a new buffer; NULL when it ended first. */
static char *read_exactly(size_t length) {
  char *data = malloc(length > 0 ? length : 1);
  for (size_t got = 0; data && got < length;) {
    ssize_t read_now = read(0, data + got, length - got);
    if (read_now < 0 && errno == EINTR) continue;
    if (read_now <= 0) {
      free(data);
      return NULL;
    }
    got += (size_t)read_now;
  }
  return data;
}

/* Extracts the archive as the program's user: 0, or 1. Returns only without GNU tar's help. */
static int extract(const char *archive, size_t length, const char *workspace, uid_t uid, gid_t gid) {
  if (length == 0) return 0;
  mode_t umask_bits = umask(022);
  umask(umask_bits);
  if (tar_is_simple(archive, length)) {
    become_program_user(uid, gid);
    int root = open(workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int extracted = root >= 0 && tar_extract(root, archive, length, umask_bits) == 0;
    if (root >= 0) close(root);
    return extracted ? 0 : 1;
  }
  /* Any other archive: GNU tar, as the program's user, reading it from a memory file. */
  int memory = memfd_create("aurea-archive", 0);
  int null = open("/dev/null", O_WRONLY);
  if (memory < 0 || null < 0 || write_all(memory, archive, length) != 0 || lseek(memory, 0, SEEK_SET) != 0 || dup2(memory, 0) < 0 ||
      dup2(null, 1) < 0)
    return 1;
  become_program_user(uid, gid);
  execl(TAR, "tar", "-x", "-C", workspace, "--no-same-owner", "--no-same-permissions", (char *)NULL);
  return 1;
}

static long long size_argument(const char *text) {
  char *end;
  errno = 0;
  long long value = strtoll(text, &end, 10);
  return text[0] >= '0' && text[0] <= '9' && *end == '\0' && errno == 0 && value <= MAX_BYTES ? value : -1;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: aurea-receive ARCHIVE_BYTES WORKSPACE UID:GID [INPUT_BYTES]\n");
    return 2;
  }
  long long archive_bytes = size_argument(argv[1]);
  long long input_bytes = argc == 5 ? size_argument(argv[4]) : 0;
  char *end;
  unsigned long uid = strtoul(argv[3], &end, 10);
  unsigned long gid = *end == ':' ? strtoul(end + 1, &end, 10) : 0;
  if (archive_bytes < 0 || input_bytes < 0 || *end != '\0' || argv[3][0] == ':' || uid == 0) {
    fprintf(stderr, "aurea-receive: bad arguments\n");
    return 2;
  }
  char *archive = read_exactly((size_t)archive_bytes);
  char *input = archive ? read_exactly((size_t)input_bytes) : NULL;
  int handed = input && (argc == 4 || (write_all(6, input, (size_t)input_bytes) == 0 && close(6) == 0));
  free(input);
  int status = handed ? extract(archive, (size_t)archive_bytes, argv[2], (uid_t)uid, (gid_t)gid) : 1;
  free(archive);
  return status;
}
