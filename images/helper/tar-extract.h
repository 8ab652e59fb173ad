/*
 * Extracting the simple tar archives Aurea builds (src/runner/workspace-archive.ts: ustar regular
 * files and directories, a pax "path" record for a long name) without starting tar: the case
 * runner (aurea-cases.c) extracts the same workspace before every test case, and tar's own start
 * was a third of a case's cost. Anything else (links, devices, other pax records, a path that
 * leaves the directory, a directory its owner could not write into, a bad checksum) makes
 * tar_is_simple() say no, and the caller runs GNU tar as before.
 *
 * Extraction runs as the program's user, into a directory that holds nothing of that user's (the
 * case runner empties it first): like `tar -x --no-same-owner --no-same-permissions`, modes are
 * masked by the umask and set-id bits dropped, and file and directory times are the archive's.
 */
#ifndef AUREA_TAR_EXTRACT_H
#define AUREA_TAR_EXTRACT_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { tar_block = 512 };

struct tar_entry {
  char path[PATH_MAX];
  char type; /* '0' a regular file, '5' a directory */
  mode_t mode;
  long long mtime;
  const char *data;
  size_t size;
};

/* An octal field of a header (NUL- or space-terminated); -1 when it is not one. */
static long long tar_octal(const char *field, size_t width) {
  long long value = 0;
  size_t at = 0;
  while (at < width && field[at] == ' ') at++;
  if (at == width || field[at] < '0' || field[at] > '7') return -1;
  for (; at < width && field[at] >= '0' && field[at] <= '7'; at++) {
    if (value > (LLONG_MAX >> 3)) return -1;
    value = value * 8 + (field[at] - '0');
  }
  if (at < width && field[at] != '\0' && field[at] != ' ') return -1;
  return value;
}

/* A relative path with no empty, "." or ".." component (one trailing slash allowed), copied to `out`. */
static int tar_take_path(const char *path, size_t length, char *out) {
  while (length > 0 && path[length - 1] == '/') length--;
  if (length == 0 || length >= PATH_MAX || path[0] == '/' || memchr(path, '\0', length)) return -1;
  memcpy(out, path, length);
  out[length] = '\0';
  for (char *component = out; component;) {
    char *slash = strchr(component, '/');
    size_t size = slash ? (size_t)(slash - component) : strlen(component);
    if (size == 0 || (size == 1 && component[0] == '.') || (size == 2 && component[0] == '.' && component[1] == '.'))
      return -1;
    component = slash ? slash + 1 : NULL;
  }
  return 0;
}

/* The path of a pax header's records, when "path" is its only record; -1 otherwise. */
static int tar_pax_path(const char *data, size_t size, char *out) {
  int found = 0;
  for (size_t at = 0; at < size;) {
    char *end;
    unsigned long long length = strtoull(data + at, &end, 10);
    size_t header = (size_t)(end - (data + at));
    if (header == 0 || *end != ' ' || length <= header + 1 || length > size - at || data[at + length - 1] != '\n') return -1;
    const char *record = end + 1;
    size_t record_length = (size_t)length - header - 2;
    if (record_length < 5 || memcmp(record, "path=", 5) != 0) return -1;
    if (tar_take_path(record + 5, record_length - 5, out) != 0) return -1;
    found = 1;
    at += (size_t)length;
  }
  return found ? 0 : -1;
}

/*
 * The entry at *offset: 1 with the entry filled and *offset past it, 0 at the archive's end, -1
 * when the archive is not simple.
 */
static int tar_next(const char *archive, size_t length, size_t *offset, struct tar_entry *entry) {
  int long_name = 0;
  for (;;) {
    if (*offset == length) return 0;
    if (length - *offset < tar_block) return -1;
    const char *header = archive + *offset;
    size_t zero = 0;
    while (zero < tar_block && header[zero] == '\0') zero++;
    if (zero == tar_block) return long_name ? -1 : 0;
    long long checksum = tar_octal(header + 148, 8);
    long long sum = 8 * ' ';
    for (size_t at = 0; at < tar_block; at++) sum += (at >= 148 && at < 156) ? 0 : (unsigned char)header[at];
    if (checksum != sum || memcmp(header + 257, "ustar", 5) != 0) return -1;
    long long size = tar_octal(header + 124, 12);
    long long mode = tar_octal(header + 100, 8);
    long long mtime = tar_octal(header + 136, 12);
    if (size < 0 || mode < 0 || mtime < 0 || (unsigned long long)size > length - *offset - tar_block) return -1;
    size_t padded = ((size_t)size + tar_block - 1) / tar_block * tar_block;
    if (padded > length - *offset - tar_block) return -1;
    const char *data = header + tar_block;
    *offset += tar_block + padded;
    char type = header[156] == '\0' ? '0' : header[156];
    if (type == 'x') {
      if (long_name || tar_pax_path(data, (size_t)size, entry->path) != 0) return -1;
      long_name = 1;
      continue;
    }
    if (type != '0' && type != '5') return -1;
    if (!long_name) {
      char joined[256 + 2];
      size_t prefix = strnlen(header + 345, 155);
      size_t name = strnlen(header, 100);
      memcpy(joined, header + 345, prefix);
      size_t used = prefix;
      if (prefix > 0) joined[used++] = '/';
      memcpy(joined + used, header, name);
      if (tar_take_path(joined, used + name, entry->path) != 0) return -1;
    }
    if (type == '5' && ((mode & 0700) != 0700 || size != 0)) return -1;
    entry->type = type;
    entry->mode = (mode_t)mode & 0777;
    entry->mtime = mtime;
    entry->data = data;
    entry->size = (size_t)size;
    return 1;
  }
}

/* Whether tar_extract can extract every entry of the archive. */
static int tar_is_simple(const char *archive, size_t length) {
  size_t offset = 0;
  struct tar_entry entry;
  int got;
  while ((got = tar_next(archive, length, &offset, &entry)) == 1) {
  }
  return got == 0;
}

/* Opens (making it where it is missing) the directory holding `path`'s last component; its name in *last. */
static int tar_parent(int root, char *path, char **last, mode_t umask_bits) {
  int dir = dup(root);
  char *component = path;
  for (char *slash; dir >= 0 && (slash = strchr(component, '/')) != NULL; component = slash + 1) {
    *slash = '\0';
    if (mkdirat(dir, component, 0755 & ~umask_bits) != 0 && errno != EEXIST) {
      close(dir);
      return -1;
    }
    int next = openat(dir, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    *slash = '/';
    close(dir);
    dir = next;
  }
  *last = component;
  return dir;
}

/* Extracts a simple archive into the directory `root` (an open fd): 0, or -1 at the first failure. */
static int tar_extract(int root, const char *archive, size_t length, mode_t umask_bits) {
  struct tar_entry entry;
  size_t offset = 0;
  int got;
  while ((got = tar_next(archive, length, &offset, &entry)) == 1) {
    char *name;
    int dir = tar_parent(root, entry.path, &name, umask_bits);
    if (dir < 0) return -1;
    int failed = 0;
    struct timespec times[2] = {{(time_t)entry.mtime, 0}, {(time_t)entry.mtime, 0}};
    if (entry.type == '5') {
      struct stat info;
      failed = mkdirat(dir, name, entry.mode & ~umask_bits) != 0 &&
               (errno != EEXIST || fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(info.st_mode));
    } else {
      int file = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, entry.mode & ~umask_bits);
      failed = file < 0;
      for (size_t written = 0; !failed && written < entry.size;) {
        ssize_t wrote = write(file, entry.data + written, entry.size - written);
        if (wrote < 0 && errno == EINTR) continue;
        failed = wrote <= 0;
        if (!failed) written += (size_t)wrote;
      }
      if (file >= 0 && (futimens(file, times) != 0 || close(file) != 0)) failed = 1;
    }
    close(dir);
    if (failed) return -1;
  }
  if (got != 0) return -1;
  /* Directories' times last, as tar sets them: their entries changed them meanwhile. */
  offset = 0;
  while (tar_next(archive, length, &offset, &entry) == 1) {
    struct timespec times[2] = {{(time_t)entry.mtime, 0}, {(time_t)entry.mtime, 0}};
    if (entry.type == '5' && utimensat(root, entry.path, times, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  }
  return 0;
}

#endif
