/*
 * Removing what one user left in a directory: shared by aurea-scrub (between recycled runs) and
 * aurea-cases (between test cases). Both call it as that user, never as root, so it removes
 * exactly what the user could have made and can touch nothing of anyone else's.
 */
#ifndef AUREA_USER_FILES_H
#define AUREA_USER_FILES_H

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Deepest directory tree removed; a deeper one counts as a failure (fds are bounded). */
#define USER_FILES_MAX_DEPTH 256

/*
 * Removes every entry owned by `owner` inside the open directory `dir` (closed here), depth
 * first, after making each of the owner's directories enterable (a program may leave one with
 * mode 000); entries of others are left, and not entered. 0, or -1 when anything of the owner's
 * could not be removed.
 */
static int remove_entries_of(uid_t owner, int dir, int depth) {
  if (depth > USER_FILES_MAX_DEPTH) {
    close(dir);
    return -1;
  }
  DIR *listing = fdopendir(dir);
  if (!listing) {
    close(dir);
    return -1;
  }
  int failed = 0;
  struct dirent *entry;
  while ((entry = readdir(listing)) != NULL) {
    const char *name = entry->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
    struct stat info;
    if (fstatat(dirfd(listing), name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
      failed = 1;
      continue;
    }
    if (info.st_uid != owner) continue;
    if (S_ISDIR(info.st_mode)) {
      fchmodat(dirfd(listing), name, 0700, 0);
      int child = openat(dirfd(listing), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0 || remove_entries_of(owner, child, depth + 1) != 0) failed = 1;
      if (unlinkat(dirfd(listing), name, AT_REMOVEDIR) != 0) failed = 1;
    } else if (unlinkat(dirfd(listing), name, 0) != 0) {
      failed = 1;
    }
  }
  closedir(listing);
  return failed ? -1 : 0;
}

#endif
