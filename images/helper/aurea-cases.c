/*
 * aurea-cases: Aurea's test-case runner. Runs the program once per test case, each time as a fresh
 * process in a fresh copy of the workspace, and reports each case as a frame on stdout.
 *
 * Started by the supervisor (src/sandbox/programs/supervisor.sh) in its "cases" mode, as root with
 * the supervisor's few capabilities (setuid, setgid, kill, setpcap), after the workspace is in place:
 *
 *   aurea-cases WORKSPACE PRIVATE_DIR UID:GID PROCESSES CASE_TAG PROGRAM...
 *
 * (values from src/sandbox/supervisor-protocol.ts and the language's data file; PROCESSES is "-"
 * where the runtime limits processes itself). Its stdin carries the cases, one at a time, each
 * sent only once the previous one is reported (Aurea judges in between and may stop): a header line
 *   ARCHIVE_BYTES ARGS_BYTES STDIN_BYTES TIMEOUT_SECONDS CPU_SECONDS OUTPUT_CAP TIMEOUT_MICROSECONDS
 * then the workspace archive, the arguments (each NUL-terminated), and the case's stdin. End of
 * stdin ends the cases (status 0). For each case it
 * 1. removes everything of the program's user in the workspace, /tmp and /dev/shm and extracts the
 *    archive again with tar, both as that user: files one case writes never reach the next;
 * 2. starts the program as that user (no groups, no capability, an empty bounding set), held to
 *    PROCESSES processes (RLIMIT_NPROC) and CPU_SECONDS (RLIMIT_CPU, SIGKILL a second later), with
 *    exactly STDIN_BYTES on stdin, then end of input (the program can neither read past its case
 *    nor steer the reader), through a pipe the program's user made (so /dev/stdin opens by name);
 *    stdout and stderr are pipes of this runner's (which the program cannot open by name, as in a
 *    run), each kept up to OUTPUT_CAP + 1 bytes, after which the pipe is closed, so a flood ends
 *    with a broken pipe;
 * 3. SIGKILLs the program at TIMEOUT_MICROSECONDS of wall time, and once it ended, every process
 *    of its user, until none is left (it is their subreaper, so it reaps them too);
 * 4. writes the frame: NUL CASE_TAG " " index status wall_microseconds user_seconds
 *    system_seconds max_rss_kilobytes timed_out oom_kills stdout_bytes stderr_bytes newline, then
 *    that many bytes of stdout and of stderr. status is the exit status, or 128 + N for signal N;
 *    usage is the program's and its waited-for children's (wait4), as GNU time reports it.
 * The program never holds this runner's stdout, so nothing it writes can pose as a frame; frame
 * lengths are this runner's own count. Every process per case is one fork of this runner, but tar.
 *
 * Exits 125 when the sandbox cannot be prepared or the input is not the protocol (Aurea reports
 * that as its own failure), 2 on bad arguments. Tested on the host under AddressSanitizer and
 * UndefinedBehaviorSanitizer (test/unit/cases-helper.test.ts); built in Dockerfile.sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "program-user.h"
#include "write-all.h"
#include "tar-extract.h"
#include "user-files.h"

#define TAR "/usr/bin/tar"
/* Largest archive extracted from memory; a larger one streams through GNU tar. */
#define MAX_BUFFERED_ARCHIVE (64L << 20)
/* Longest the sweep keeps finding processes of the user before the runner gives up (status 125). */
#define SWEEP_DEADLINE_MS 5000
/* Longest the output pipes stay open once every process of the user is gone. */
#define DRAIN_DEADLINE_MS 5000

static const char *workspace;
static uid_t program_uid;
static gid_t program_gid;
static long processes = -1;
static const char *case_tag;
static char **program;
static int program_argc;
static mode_t workspace_mode;
static mode_t umask_bits;

/* ---- The case input, read through one buffer: nothing else reads this runner's stdin. ---- */

static char input_buffer[1 << 16];
static size_t input_start, input_end;

/* Up to `length` bytes of stdin, at least one unless at its end: a pointer into the buffer. */
static size_t input_take(size_t length, const char **data) {
  if (input_start == input_end) {
    ssize_t got;
    do got = read(0, input_buffer, sizeof input_buffer);
    while (got < 0 && errno == EINTR);
    if (got <= 0) return 0;
    input_start = 0;
    input_end = (size_t)got;
  }
  size_t available = input_end - input_start;
  if (length > available) length = available;
  *data = input_buffer + input_start;
  input_start += length;
  return length;
}

/* Reads the next header line, without its newline: 1, 0 at a clean end of input, -1 when cut short or too long. */
static int input_line(char *line, size_t size) {
  size_t used = 0;
  for (;;) {
    const char *data;
    if (input_take(1, &data) == 0) return used == 0 ? 0 : -1;
    if (*data == '\n') break;
    if (used + 1 >= size) return -1;
    line[used++] = *data;
  }
  line[used] = '\0';
  return 1;
}

static long now_us(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void pause_ms(long ms) {
  struct timespec pause = {ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&pause, &pause) < 0 && errno == EINTR) {
  }
}

/* Waits for one child (EINTR retried); its wait status, or -1. */
static int wait_for(pid_t pid, struct rusage *usage) {
  int status;
  pid_t got;
  do got = wait4(pid, &status, 0, usage);
  while (got < 0 && errno == EINTR);
  return got == pid ? status : -1;
}

/*
 * In a child, as the program's user: everything of the user's in the workspace, /tmp and /dev/shm
 * removed and the workspace's mode back; then `archive` (a simple one, or NULL) extracted. Exits 0,
 * or 3 when the extraction failed (a failure to remove is the program's doing: the file it made
 * unremovable shows in the next case).
 */
static void empty_and_extract(const char *archive, size_t length) {
  become_program_user(program_uid, program_gid);
  chmod(workspace, workspace_mode);
  const char *places[] = {workspace, "/tmp", "/dev/shm"};
  for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
    int dir = open(places[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) remove_entries_of(program_uid, dir, 0);
  }
  if (!archive) _exit(0);
  int root = open(workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  _exit(root >= 0 && tar_extract(root, archive, length, umask_bits) == 0 ? 0 : 3);
}

/* GNU tar, as the program's user, extracting `length` bytes of `archive` or, when it is NULL, of stdin. 0, or -1. */
static int run_tar(const char *archive, size_t length) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  pid_t tar = fork();
  if (tar < 0) return -1;
  if (tar == 0) {
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (dup2(pipe_fds[0], 0) < 0 || null < 0 || dup2(null, 1) < 0) _exit(125);
    become_program_user(program_uid, program_gid);
    execl(TAR, "tar", "-x", "-C", workspace, "--no-same-owner", "--no-same-permissions", (char *)NULL);
    _exit(127);
  }
  close(pipe_fds[0]);
  /* All of the archive is read, whatever tar does with it: the next case starts after it. */
  int writing = archive ? write_all(pipe_fds[1], archive, length) == 0 : 1;
  for (size_t left = archive ? 0 : length; left > 0;) {
    const char *data;
    size_t got = input_take(left, &data);
    if (got == 0) return -1;
    left -= got;
    if (writing && write_all(pipe_fds[1], data, got) != 0) writing = 0;
  }
  close(pipe_fds[1]);
  int status = wait_for(tar, NULL);
  return writing && status == 0 ? 0 : -1;
}

/*
 * Step 1: the user's files gone, the workspace's mode back, the archive extracted: by one child
 * that extracts it itself (tar-extract.h) when it is simple, as Aurea's archives are; else, or
 * when that failed, by GNU tar after the emptying is done again. 0, or -1.
 */
static int fresh_workspace(size_t archive_bytes) {
  char *archive = NULL;
  int simple = 0;
  if (archive_bytes > 0 && archive_bytes <= MAX_BUFFERED_ARCHIVE) {
    archive = malloc(archive_bytes);
    if (!archive) return -1;
    for (size_t read_so_far = 0; read_so_far < archive_bytes;) {
      const char *data;
      size_t got = input_take(archive_bytes - read_so_far, &data);
      if (got == 0) {
        free(archive);
        return -1;
      }
      memcpy(archive + read_so_far, data, got);
      read_so_far += got;
    }
    simple = tar_is_simple(archive, archive_bytes);
  }
  int result = -1;
  for (int attempt = simple ? 0 : 1; attempt < 2 && result != 0; attempt++) {
    pid_t child = fork();
    if (child < 0) break;
    if (child == 0) empty_and_extract(attempt == 0 ? archive : NULL, archive_bytes);
    int status = wait_for(child, NULL);
    if (attempt == 0) result = status == 0 ? 0 : -1;
    else result = archive_bytes == 0 ? 0 : run_tar(archive, archive_bytes);
  }
  free(archive);
  return result;
}

/* ---- Step 2: the program, on pipes of its user's. ---- */

/* Sends one descriptor over a Unix socket. */
static int send_fd(int socket_fd, int fd) {
  char byte = 0;
  struct iovec data = {&byte, 1};
  union {
    char buffer[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr message = {.msg_iov = &data, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer};
  struct cmsghdr *header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(header), &fd, sizeof(int));
  return sendmsg(socket_fd, &message, 0) == 1 ? 0 : -1;
}

/* Receives the descriptor send_fd sent; -1 when the child ended first. */
static int receive_fd(int socket_fd) {
  char byte;
  struct iovec data = {&byte, 1};
  union {
    char buffer[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr message = {.msg_iov = &data, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer};
  ssize_t got;
  do got = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
  while (got < 0 && errno == EINTR);
  struct cmsghdr *header = got == 1 ? CMSG_FIRSTHDR(&message) : NULL;
  if (!header || header->cmsg_type != SCM_RIGHTS || header->cmsg_len != CMSG_LEN(sizeof(int))) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(header), sizeof(int));
  return fd;
}

/* In the child: the user's stdin pipe made, its far end handed to the runner, the program started on it and on `outputs`. */
static void start_program(int socket_fd, const int outputs[2], char **args, long cpu_seconds) {
  become_program_user(program_uid, program_gid);
  if (processes >= 0) {
    struct rlimit limit = {(rlim_t)processes, (rlim_t)processes};
    if (setrlimit(RLIMIT_NPROC, &limit) != 0) _exit(125);
  }
  if (cpu_seconds > 0) {
    struct rlimit limit = {(rlim_t)cpu_seconds, (rlim_t)cpu_seconds + 1};
    if (setrlimit(RLIMIT_CPU, &limit) != 0) _exit(125);
  }
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0 || send_fd(socket_fd, in[1]) != 0) _exit(125);
  if (dup2(in[0], 0) < 0 || dup2(outputs[0], 1) < 0 || dup2(outputs[1], 2) < 0) _exit(125);
  if (chdir(workspace) != 0) _exit(125);
  execvp(args[0], args);
  int failure = errno;
  dprintf(2, "aurea-cases: %s: %s\n", args[0], strerror(failure));
  _exit(failure == ENOENT ? 127 : 126);
}

/* One output stream of the program: up to cap + 1 bytes kept, then its pipe closed. */
struct capture {
  int fd;
  char *data;
  size_t length;
  size_t allocated;
  size_t limit;
};

/* Reads what is there; closes the pipe at end of output or at the cap. */
static void capture_read(struct capture *capture) {
  if (capture->fd < 0) return;
  if (capture->length == capture->allocated) {
    /* Grown as output arrives: most cases print far less than their cap. */
    size_t grown = capture->allocated < 65536 ? 65536 : 2 * capture->allocated;
    capture->allocated = grown < capture->limit ? grown : capture->limit;
    capture->data = realloc(capture->data, capture->allocated);
    if (!capture->data) _exit(125);
  }
  ssize_t got = read(capture->fd, capture->data + capture->length, capture->allocated - capture->length);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (got > 0) capture->length += (size_t)got;
  if (got <= 0 || capture->length == capture->limit) {
    close(capture->fd);
    capture->fd = -1;
  }
}

/* SIGCHLD's self-pipe: the run loop polls it with the program's pipes. */
static int child_signal[2];

static void on_child(int signal_number) {
  (void)signal_number;
  int saved = errno;
  ssize_t ignored = write(child_signal[1], "", 1);
  (void)ignored;
  errno = saved;
}

/* ---- Step 3: nothing of the user's survives a case. ---- */

/* Whether a /proc entry is a live (not zombie) process whose real uid is the program's. */
static int live_process_of_user(long pid) {
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t got = read(fd, text, sizeof text - 1);
  close(fd);
  if (got <= 0) return 0;
  text[got] = '\0';
  const char *state = strstr(text, "\nState:");
  const char *uid = strstr(text, "\nUid:");
  if (!state || !uid) return 0;
  state += strlen("\nState:");
  while (*state == ' ' || *state == '\t') state++;
  return *state != 'Z' && strtoul(uid + strlen("\nUid:"), NULL, 10) == program_uid;
}

/* SIGKILLs every live process of the program's user until a pass finds none; reaps the orphans. 0, or -1. */
static int sweep(void) {
  long deadline = now_us() + SWEEP_DEADLINE_MS * 1000L;
  for (int pass = 0;; pass++) {
    int found = 0;
    DIR *proc = opendir("/proc");
    if (!proc) return -1;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
      char *end;
      long pid = strtol(entry->d_name, &end, 10);
      if (*end != '\0' || pid <= 0 || !live_process_of_user(pid)) continue;
      kill((pid_t)pid, SIGKILL);
      found = 1;
    }
    closedir(proc);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (!found) return 0;
    if (now_us() > deadline) return -1;
    if (pass > 0) pause_ms(1);
  }
}

/* The container's OOM kills so far (cgroup v1, then v2), or 0 where the runtime shows none. */
static long read_oom_kills(void) {
  static const char *const files[] = {"/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    int fd = open(files[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char text[4096];
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got <= 0) continue;
    text[got] = '\0';
    for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
      if (strncmp(line, "oom_kill ", strlen("oom_kill ")) == 0) return strtol(line + strlen("oom_kill "), NULL, 10);
    }
  }
  return 0;
}

/* What one case came to. */
struct case_result {
  int status;
  long wall_us;
  struct rusage usage;
  int timed_out;
};

/*
 * Runs the program once: feeds it exactly stdin_bytes of this runner's stdin, keeps its output,
 * kills it at the deadline. The stdin bytes are all read, whatever the program takes of them.
 */
static int run_program(char **args, size_t stdin_bytes, long cpu_seconds, long timeout_us, struct capture *out,
                       struct capture *err, struct case_result *result) {
  int sockets[2], out_pipe[2], err_pipe[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) return -1;
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return -1;
  long started = now_us();
  pid_t child = fork();
  if (child < 0) return -1;
  if (child == 0) {
    close(sockets[0]);
    int outputs[2] = {out_pipe[1], err_pipe[1]};
    start_program(sockets[1], outputs, args, cpu_seconds);
  }
  close(sockets[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out->fd = out_pipe[0];
  err->fd = err_pipe[0];
  int in = receive_fd(sockets[0]);
  close(sockets[0]);
  if (in < 0) {
    /* It could not become the program's user or make its pipes: Aurea's failure, not the program's. */
    wait_for(child, NULL);
    return -1;
  }
  fcntl(in, F_SETFL, O_NONBLOCK);
  fcntl(out->fd, F_SETFL, O_NONBLOCK);
  fcntl(err->fd, F_SETFL, O_NONBLOCK);
  size_t stdin_left = stdin_bytes;
  const char *pending = NULL;
  size_t pending_length = 0;
  int exited = 0;
  result->timed_out = 0;
  while (!exited) {
    /* Stdin is read ahead only as far as the program takes it; what it leaves is discarded at the end. */
    if (in >= 0 && pending_length == 0 && stdin_left > 0) {
      pending_length = input_take(stdin_left, &pending);
      if (pending_length == 0) return -1;
      stdin_left -= pending_length;
    }
    if (in >= 0 && pending_length == 0 && stdin_left == 0) {
      close(in);
      in = -1;
    }
    struct pollfd watched[4] = {
      {child_signal[0], POLLIN, 0}, {in, POLLOUT, 0}, {out->fd, POLLIN, 0}, {err->fd, POLLIN, 0}};
    long left_us = started + timeout_us - now_us();
    long wait_ms = left_us / 1000 + 1;
    int ready = left_us > 0 ? poll(watched, 4, wait_ms > 1000 ? 1000 : (int)wait_ms) : 0;
    if (ready < 0 && errno != EINTR) return -1;
    if (watched[0].revents) {
      char drained[64];
      while (read(child_signal[0], drained, sizeof drained) > 0) {
      }
    }
    if (watched[1].revents & POLLOUT) {
      ssize_t written = write(in, pending, pending_length);
      if (written > 0) {
        pending += written;
        pending_length -= (size_t)written;
      }
    }
    if (in >= 0 && watched[1].revents & (POLLERR | POLLHUP)) {
      /* The program closed its stdin: the rest of this case's input is read and dropped. */
      close(in);
      in = -1;
    }
    if (watched[2].revents) capture_read(out);
    if (watched[3].revents) capture_read(err);
    int status;
    pid_t got = wait4(child, &status, WNOHANG, &result->usage);
    if (got == child) {
      exited = 1;
      result->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else if (now_us() - started >= timeout_us) {
      kill(child, SIGKILL);
      result->timed_out = 1;
      int killed = wait_for(child, &result->usage);
      result->status = killed >= 0 && WIFSIGNALED(killed) ? 128 + WTERMSIG(killed) : 137;
      exited = 1;
    }
  }
  result->wall_us = now_us() - started;
  if (in >= 0) close(in);
  for (size_t left = stdin_left; left > 0;) {
    const char *data;
    size_t got = input_take(left, &data);
    if (got == 0) return -1;
    left -= got;
  }
  return 0;
}

/* After the sweep: what is still in the output pipes, up to the caps. */
static void drain(struct capture *out, struct capture *err) {
  long deadline = now_us() + DRAIN_DEADLINE_MS * 1000L;
  while ((out->fd >= 0 || err->fd >= 0) && now_us() < deadline) {
    struct pollfd watched[2] = {{out->fd, POLLIN, 0}, {err->fd, POLLIN, 0}};
    if (poll(watched, 2, 100) < 0 && errno != EINTR) break;
    if (watched[0].revents) capture_read(out);
    if (watched[1].revents) capture_read(err);
  }
  if (out->fd >= 0) close(out->fd);
  if (err->fd >= 0) close(err->fd);
  out->fd = err->fd = -1;
}

/* Parses one unsigned decimal field of the header, in [0, max], and its fraction where one may follow; -1 when it is not one. */
static long long header_field(char **cursor, long long max, int fraction) {
  char *end;
  errno = 0;
  long long value = **cursor >= '0' && **cursor <= '9' ? strtoll(*cursor, &end, 10) : -1;
  if (value < 0 || errno != 0 || value > max) return -1;
  if (fraction && *end == '.') {
    end++;
    while (*end >= '0' && *end <= '9') end++;
  }
  if (*end == ' ') end++;
  else if (*end != '\0') return -1;
  *cursor = end;
  return value;
}

/* One case, from its header on: 0, or -1 when the runner cannot go on. */
static int run_case(char *header, int index) {
  char *cursor = header;
  long long archive_bytes = header_field(&cursor, 1LL << 40, 0);
  long long args_bytes = header_field(&cursor, 1 << 24, 0);
  long long stdin_bytes = header_field(&cursor, 1LL << 40, 0);
  /* TIMEOUT_SECONDS may carry a fraction; only TIMEOUT_MICROSECONDS is used. */
  long long timeout_seconds = header_field(&cursor, 1LL << 31, 1);
  long long cpu_seconds = header_field(&cursor, 1LL << 31, 0);
  long long output_cap = header_field(&cursor, 1LL << 32, 0);
  long long timeout_us = header_field(&cursor, 1LL << 50, 0);
  if (archive_bytes < 0 || args_bytes < 0 || stdin_bytes < 0 || timeout_seconds < 0 || cpu_seconds < 0 || output_cap < 0 ||
      timeout_us < 0 || *cursor != '\0')
    return -1;
  if (fresh_workspace((size_t)archive_bytes) != 0) return -1;

  char *arg_text = malloc((size_t)args_bytes + 1);
  char **args = calloc((size_t)program_argc + (size_t)args_bytes + 1, sizeof *args);
  if (!arg_text || !args) return -1;
  for (size_t read_so_far = 0; read_so_far < (size_t)args_bytes;) {
    const char *data;
    size_t got = input_take((size_t)args_bytes - read_so_far, &data);
    if (got == 0) return -1;
    memcpy(arg_text + read_so_far, data, got);
    read_so_far += got;
  }
  arg_text[args_bytes] = '\0';
  int count = 0;
  for (int i = 0; i < program_argc; i++) args[count++] = program[i];
  for (size_t at = 0; at < (size_t)args_bytes; at += strlen(arg_text + at) + 1) args[count++] = arg_text + at;

  struct capture out = {-1, NULL, 0, 0, (size_t)output_cap + 1};
  struct capture err = {-1, NULL, 0, 0, (size_t)output_cap + 1};
  struct case_result result;
  memset(&result, 0, sizeof result);
  long oom_before = read_oom_kills();
  int ran = run_program(args, (size_t)stdin_bytes, (long)cpu_seconds, (long)timeout_us, &out, &err, &result);
  /* The program's leftovers first: they may hold the output pipes open. */
  if (sweep() != 0) ran = -1;
  drain(&out, &err);
  if (ran == 0) {
    long oom_kills = read_oom_kills() - oom_before;
    char line[512];
    int length = snprintf(line, sizeof line, "%c%s %d %d %ld %ld.%06ld %ld.%06ld %ld %d %ld %zu %zu\n", '\0', case_tag, index,
                          result.status, result.wall_us, (long)result.usage.ru_utime.tv_sec, (long)result.usage.ru_utime.tv_usec,
                          (long)result.usage.ru_stime.tv_sec, (long)result.usage.ru_stime.tv_usec, result.usage.ru_maxrss,
                          result.timed_out, oom_kills, out.length, err.length);
    if (length < 0 || (size_t)length >= sizeof line || write_all(1, line, (size_t)length) != 0 ||
        write_all(1, out.data ? out.data : "", out.length) != 0 || write_all(1, err.data ? err.data : "", err.length) != 0)
      ran = -1;
  }
  free(out.data);
  free(err.data);
  free(args);
  free(arg_text);
  return ran;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: aurea-cases WORKSPACE PRIVATE_DIR UID:GID PROCESSES CASE_TAG PROGRAM...\n");
    return 2;
  }
  workspace = argv[1];
  const char *private_dir = argv[2];
  char *end;
  unsigned long uid = strtoul(argv[3], &end, 10);
  unsigned long gid = *end == ':' ? strtoul(end + 1, &end, 10) : 0;
  if (*end != '\0' || argv[3][0] == ':' || uid == 0) {
    fprintf(stderr, "aurea-cases: bad user %s\n", argv[3]);
    return 2;
  }
  program_uid = (uid_t)uid;
  program_gid = (gid_t)gid;
  if (strcmp(argv[4], "-") != 0) {
    processes = strtol(argv[4], &end, 10);
    if (*end != '\0' || processes <= 0) {
      fprintf(stderr, "aurea-cases: bad process limit %s\n", argv[4]);
      return 2;
    }
  }
  case_tag = argv[5];
  program = argv + 6;
  program_argc = argc - 6;

  struct stat info;
  /* A directory of its own, root's alone, as the supervisor's relays have theirs. */
  if (stat(workspace, &info) != 0 || mkdir(private_dir, 0700) != 0) return 125;
  workspace_mode = info.st_mode & 07777;
  umask_bits = umask(022);
  umask(umask_bits);
  /* Orphans of the program's processes become this runner's, which reaps them in the sweep. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(child_signal, O_CLOEXEC | O_NONBLOCK) != 0) return 125;
  struct sigaction on_exit = {.sa_handler = on_child, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
  sigaction(SIGCHLD, &on_exit, NULL);

  char header[256];
  int index = 0;
  for (int got; (got = input_line(header, sizeof header)) != 0; index++) {
    if (got < 0 || run_case(header, index) != 0) return 125;
  }
  return 0;
}
