/*
 * aurea-scrub: makes a sandbox container fit for the next run of the same caller, and proves it.
 *
 * Started by the supervisor (src/sandbox/programs/supervisor.sh) as the program's own user, with
 * no capability, after a run ended and its report was written:
 *
 *   aurea-scrub WORKSPACE_MODE DIR...
 *
 * The first DIR is the workspace (restored to WORKSPACE_MODE, an octal mode, with no extended
 * attribute of the user's left on it); the others are the rest of the places the program could
 * write (/tmp, /dev/shm, /dev/mqueue). Everything it does runs as the program's user, so it
 * removes exactly what that user could have left, and cannot touch anything of root's.
 *
 * Steps, each followed by its proof:
 *   processes  SIGKILL to every process of this user (kill(-1) reaches stopped, traced and
 *              re-parented ones too), repeated until /proc shows none but zombies whose parent is
 *              the supervisor (PID 1 reaps them while it waits for this program), within a bound;
 *   files      every entry of this user's in each DIR removed, depth first, after making its
 *              directories enterable (a program may leave a directory with mode 000); none left;
 *   ipc        every System V shared memory segment, semaphore set and message queue created or
 *              owned by this user removed; the IPC namespace is the sandbox's own, so none may
 *              remain at all (counted by the namespace: sets, queues, and pages of shared memory,
 *              since gVisor's count of segments never falls);
 *   sockets    the network namespace is the sandbox's own (no network, or a run never recycled):
 *              /proc/self/net lists no socket (an abstract Unix socket, a listener, a TIME_WAIT).
 *
 * It prints "clean" and exits 0, or prints "dirty STEP" (for processes, with the last one left:
 * "dirty processes (pid N state S parent P)") and exits 1 at the first step whose proof fails (the
 * container is then removed instead of reused); 2 on bad arguments or as root.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "user-files.h"

/* Longest the process step waits for the last of the user's processes to be gone. */
#define PROCESS_DEADLINE_MS 2000

union semun {
  int val;
  struct semid_ds *buf;
  unsigned short *array;
  struct seminfo *info;
};

static uid_t self_uid;

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What /proc says of one process: whether it is this user's, its state letter, and its parent. */
struct process_facts {
  int mine;
  char state;
  long parent;
};

/* The last process counted as left, for the dirty verdict. */
static char left_behind[80];

static int read_process(const char *pid, struct process_facts *facts) {
  char path[64];
  char line[256];
  snprintf(path, sizeof path, "/proc/%s/status", pid);
  FILE *status = fopen(path, "re");
  if (!status) return -1;
  facts->mine = 0;
  facts->state = '?';
  facts->parent = -1;
  while (fgets(line, sizeof line, status)) {
    unsigned long real, effective, saved, filesystem;
    if (strncmp(line, "State:", 6) == 0) sscanf(line + 6, " %c", &facts->state);
    else if (strncmp(line, "PPid:", 5) == 0) facts->parent = strtol(line + 5, NULL, 10);
    else if (sscanf(line, "Uid: %lu %lu %lu %lu", &real, &effective, &saved, &filesystem) == 4)
      facts->mine = real == self_uid || effective == self_uid || saved == self_uid || filesystem == self_uid;
  }
  fclose(status);
  return 0;
}

/* Counts this user's processes other than this one: live ones, and zombies waiting for PID 1. */
static int count_processes(int *live, int *zombies) {
  DIR *proc = opendir("/proc");
  if (!proc) return -1;
  pid_t self = getpid();
  *live = 0;
  *zombies = 0;
  struct dirent *entry;
  while ((entry = readdir(proc)) != NULL) {
    char *end;
    long pid = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == self) continue;
    struct process_facts facts;
    if (read_process(entry->d_name, &facts) != 0 || !facts.mine) continue;
    if (facts.state == 'Z' && facts.parent == 1) (*zombies)++;
    else (*live)++;
    snprintf(left_behind, sizeof left_behind, "pid %ld state %c parent %ld", pid, facts.state, facts.parent);
  }
  closedir(proc);
  return 0;
}

static int scrub_processes(void) {
  long deadline = now_ms() + PROCESS_DEADLINE_MS;
  for (;;) {
    kill(-1, SIGKILL);
    int live, zombies;
    if (count_processes(&live, &zombies) != 0) return -1;
    if (live == 0 && zombies == 0) return 0;
    if (now_ms() > deadline) return -1;
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
}

/* Whether any entry directly inside `path` is still this user's. */
static int holds_entries_of_mine(const char *path) {
  DIR *listing = opendir(path);
  if (!listing) return 1;
  int found = 0;
  struct dirent *entry;
  while ((entry = readdir(listing)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    struct stat info;
    if (fstatat(dirfd(listing), entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0 || info.st_uid == self_uid) found = 1;
  }
  closedir(listing);
  return found;
}

/* Restores the workspace's own mode and removes the user's extended attributes from it. */
static int reset_workspace(const char *path, mode_t mode) {
  int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  int failed = fchmod(dir, mode) != 0;
  char names[4096];
  ssize_t length = flistxattr(dir, names, sizeof names);
  if (length < 0 && errno != ENOTSUP) failed = 1;
  for (ssize_t at = 0; length > 0 && at < length; at += (ssize_t)strlen(names + at) + 1) {
    if (fremovexattr(dir, names + at) != 0) failed = 1;
  }
  struct stat info;
  if (fstat(dir, &info) != 0 || (info.st_mode & 07777) != mode) failed = 1;
  length = flistxattr(dir, names, sizeof names);
  if (length > 0 || (length < 0 && errno != ENOTSUP)) failed = 1;
  close(dir);
  return failed ? -1 : 0;
}

static int scrub_files(int count, char **dirs, mode_t workspace_mode) {
  int failed = 0;
  for (int i = 0; i < count; i++) {
    int dir = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
      /* A place the runtime does not provide (gVisor has no /dev/mqueue) holds nothing. */
      if (errno == ENOENT && i > 0) continue;
      return -1;
    }
    if (i == 0) fchmod(dir, 0700);
    if (remove_entries_of(self_uid, dir, 0) != 0 || holds_entries_of_mine(dirs[i])) failed = 1;
  }
  if (reset_workspace(dirs[0], workspace_mode) != 0) failed = 1;
  return failed ? -1 : 0;
}

static int mine(uid_t owner, uid_t creator) {
  return owner == self_uid || creator == self_uid;
}

/*
 * The index after which no System V object is looked for: Linux's *_INFO calls return the highest
 * index in use, but gVisor's return 0 and its *_STAT calls take ids from 1, so objects are looked
 * for up to here at least, and the proof below fails if one lies beyond.
 */
#define MIN_IPC_INDEXES 4096

/*
 * The id a *_STAT call at `index` found: Linux returns it, gVisor returns 0 and takes the id as
 * index (and an unreadable object's id is the index there too).
 */
static int stat_id(int result, int index) {
  return result > 0 ? result : index;
}

/* Removes this user's System V objects, then proves the namespace holds none at all. */
static int scrub_ipc(void) {
  struct shm_info shm_usage;
  int top = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&shm_usage);
  /* gVisor's used_ids never falls after a removal; the pages in use (a segment has one at least) do. */
  for (int index = 0, found = 0; top >= 0 && shm_usage.shm_tot > 0 && found < shm_usage.used_ids && index <= top + MIN_IPC_INDEXES;
       index++) {
    struct shmid_ds segment;
    int result = shmctl(index, SHM_STAT_ANY, &segment);
    if (result < 0) result = shmctl(index, SHM_STAT, &segment);
    if (result < 0 && errno != EACCES) continue;
    found++;
    /* Unreadable (mode 000, and no *_STAT_ANY under gVisor): its owner may still remove it. */
    if (result < 0 || mine(segment.shm_perm.uid, segment.shm_perm.cuid)) shmctl(stat_id(result, index), IPC_RMID, NULL);
  }
  struct seminfo sem_usage;
  union semun argument = {.info = &sem_usage};
  top = semctl(0, 0, SEM_INFO, argument);
  for (int index = 0, found = 0; top >= 0 && found < sem_usage.semusz && index <= top + MIN_IPC_INDEXES; index++) {
    struct semid_ds set;
    argument.buf = &set;
    int result = semctl(index, 0, SEM_STAT_ANY, argument);
    if (result < 0) result = semctl(index, 0, SEM_STAT, argument);
    if (result < 0 && errno != EACCES) continue;
    found++;
    if (result < 0 || mine(set.sem_perm.uid, set.sem_perm.cuid)) semctl(stat_id(result, index), 0, IPC_RMID);
  }
  struct msginfo msg_usage;
  top = msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&msg_usage);
  for (int index = 0, found = 0; top >= 0 && found < msg_usage.msgpool && index <= top + MIN_IPC_INDEXES; index++) {
    struct msqid_ds queue;
    int result = msgctl(index, MSG_STAT_ANY, &queue);
    if (result < 0) result = msgctl(index, MSG_STAT, &queue);
    if (result < 0 && errno != EACCES) continue;
    found++;
    if (result < 0 || mine(queue.msg_perm.uid, queue.msg_perm.cuid)) msgctl(stat_id(result, index), IPC_RMID, NULL);
  }
  /* The proof: the namespace's own counts, which need no permission on any object. */
  if (shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&shm_usage) < 0 || shm_usage.shm_tot != 0) return -1;
  argument.info = &sem_usage;
  if (semctl(0, 0, SEM_INFO, argument) < 0 || sem_usage.semusz != 0) return -1;
  if (msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&msg_usage) < 0 || msg_usage.msgpool != 0) return -1;
  return 0;
}

/* Whether a /proc/self/net table lists anything after its header line; absent tables list nothing. */
static int table_has_rows(const char *name) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/net/%s", name);
  FILE *table = fopen(path, "re");
  if (!table) return errno == ENOENT ? 0 : 1;
  int lines = 0;
  int c;
  while ((c = fgetc(table)) != EOF) lines += c == '\n';
  fclose(table);
  return lines > 1;
}

static int scrub_sockets(void) {
  static const char *const tables[] = {"unix", "tcp", "tcp6", "udp", "udp6", "raw", "raw6", "packet"};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    if (table_has_rows(tables[i])) return -1;
  }
  return 0;
}

static int dirty(const char *step) {
  printf("dirty %s\n", step);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: aurea-scrub WORKSPACE_MODE WORKSPACE [DIR...]\n");
    return 2;
  }
  char *end;
  long mode = strtol(argv[1], &end, 8);
  if (*end != '\0' || mode < 0 || mode > 07777) {
    fprintf(stderr, "aurea-scrub: bad mode %s\n", argv[1]);
    return 2;
  }
  self_uid = getuid();
  if (self_uid == 0 || geteuid() == 0) {
    /* kill(-1) as root would end every process it may signal. */
    fprintf(stderr, "aurea-scrub: refuses to run as root\n");
    return 2;
  }
  if (scrub_processes() != 0) {
    printf("dirty processes (%s)\n", left_behind);
    return 1;
  }
  if (scrub_files(argc - 2, argv + 2, (mode_t)mode) != 0) return dirty("files");
  if (scrub_ipc() != 0) return dirty("ipc");
  if (scrub_sockets() != 0) return dirty("sockets");
  printf("clean\n");
  return 0;
}
