/* Writing a whole buffer to a blocking descriptor, for the helpers that hand data on. */
#ifndef AUREA_WRITE_ALL_H
#define AUREA_WRITE_ALL_H

#include <errno.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

/* Writes all of data to fd (a blocking one), however many writes it takes; 0, or -1 when the reader is gone. */
static int write_all(int fd, const char *data, size_t length) {
  while (length > 0) {
    ssize_t written = write(fd, data, length);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return -1;
    data += written;
    length -= (size_t)written;
  }
  return 0;
}

#endif
