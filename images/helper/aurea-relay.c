/*
 * aurea-relay: copies its stdin to its stdout in blocks, for the supervisor's output relays
 * (src/sandbox/programs/supervisor.sh, OUTPUT=relay, used under gVisor).
 *
 *   aurea-relay PAUSE_US < FIFO > OUT
 *
 * Why not cat: a program that writes a line at a time (Python with -u, a shell's echo) wakes a
 * reading cat once per line, and under gVisor each wake-up, read and write of the relay costs
 * tens of microseconds: 60,000 lines took 7.4 s through cat on the systrap platform and 1.3 s
 * through a relay that lets lines gather (measured here). After a read that did not fill its
 * buffer, this one waits PAUSE_US microseconds before reading again, so what the program writes
 * meanwhile arrives in one read and leaves in one write. A pause of a millisecond or two delays
 * a streamed line by no more than that.
 *
 * It also does what the relay is there for: gVisor completes a large write to the container's
 * stdout only partly, so every write is repeated until all of it is out (EINTR and EAGAIN
 * included). It ends, with status 0, at end of input; with 1 when its output fails (the reader
 * is gone), as cat would; with 2 on bad arguments.
 *
 * Built in the core image's build (Dockerfile.sandbox) with Debian's gcc; tested on the host with
 * AddressSanitizer and UndefinedBehaviorSanitizer (test/unit/relay-helper.test.ts).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { buffer_size = 1 << 16, longest_pause_us = 1000000 };

static char buffer[buffer_size];

/* Writes all of data to fd, however many writes it takes; 0, or -1 when the output failed. */
static int write_all(int fd, const char *data, size_t length) {
  while (length > 0) {
    ssize_t written = write(fd, data, length);
    if (written > 0) {
      data += written;
      length -= (size_t)written;
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* A non-blocking output that is full: wait until it takes more. */
      struct pollfd ready = {.fd = fd, .events = POLLOUT};
      if (poll(&ready, 1, -1) < 0 && errno != EINTR) return -1;
      continue;
    }
    return -1;
  }
  return 0;
}

/* Sleeps for pause_us microseconds, the whole of it even when a signal interrupts. */
static void pause_for(long pause_us) {
  struct timespec left = {.tv_sec = pause_us / 1000000, .tv_nsec = (pause_us % 1000000) * 1000};
  while (nanosleep(&left, &left) < 0 && errno == EINTR) {
  }
}

/* PAUSE_US as a number of microseconds, or -1 when it is not one within bounds. */
static long parse_pause(const char *text) {
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < 0 || value > longest_pause_us) return -1;
  return value;
}

int main(int argc, char **argv) {
  if (argc != 2 || parse_pause(argv[1]) < 0) {
    static const char usage[] = "usage: aurea-relay PAUSE_US (0 to 1000000) < input > output\n";
    (void)write_all(2, usage, sizeof usage - 1);
    return 2;
  }
  long pause_us = parse_pause(argv[1]);
  for (;;) {
    ssize_t got = read(0, buffer, sizeof buffer);
    if (got == 0) return 0;
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct pollfd ready = {.fd = 0, .events = POLLIN};
        (void)poll(&ready, 1, -1);
        continue;
      }
      return 1;
    }
    if (write_all(1, buffer, (size_t)got) < 0) return 1;
    if ((size_t)got < sizeof buffer && pause_us > 0) pause_for(pause_us);
  }
}
