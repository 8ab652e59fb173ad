"""Aurea's workspace file helper for sessions: lists, reads and deletes the session's files.

Run by the session agent as the program's user (never root), so it reaches exactly what the
session's programs could:
    python3 -I -S -c "<this file>" WORKSPACE list PATH RECURSIVE MAX_ENTRIES
        one JSON object on stdout: {"entries": [{name, type, size, mtime_ns, mode}], "truncated"}
    python3 -I -S -c "<this file>" WORKSPACE read MAX_FILES MAX_FILE_BYTES MAX_TOTAL_BYTES PATH...
        the artifact format runs use (see programs/supervisor.sh): a manifest of records
        "TYPE SIZE NAME" each ended by NUL, an empty record, then a tar of the regular files that
        fit the caps. A missing PATH is listed with type "-".
    python3 -I -S -c "<this file>" WORKSPACE ranges MAX_TOTAL_BYTES [PATH OFFSET LENGTH]...
        per range, one JSON line, {"path", "offset", "size", "eof"} followed by `size` bytes of
        the file from OFFSET (LENGTH 0: to its end), all of them at most MAX_TOTAL_BYTES; or
        {"path", "skipped"} ("not_found", "symlink", "special") and no bytes
    python3 -I -S -c "<this file>" WORKSPACE delete PATH...
        removes each PATH (a directory with everything below it); one JSON object on stdout:
        {"deleted": [...], "missing": [...], "through_link": [...]}
Symbolic links are never followed: entries are lstat()ed and files opened with O_NOFOLLOW; a
path whose directories include a symbolic link is not deleted.
"""

import errno
import json
import os
import shutil
import stat
import sys
import tarfile

workspace = sys.argv[1]
command = sys.argv[2]


def type_letter(mode):
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISLNK(mode):
        return "l"
    return "p"


def walk(relative, recursive):
    """Yields (name, lstat) of the entries under `relative`, sorted, directories descended when recursive."""
    base = os.path.join(workspace, relative) if relative else workspace
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return
    for name in names:
        path = f"{relative}/{name}" if relative else name
        try:
            info = os.lstat(os.path.join(workspace, path))
        except OSError:
            continue
        yield path, info
        if recursive and stat.S_ISDIR(info.st_mode):
            yield from walk(path, recursive)


def list_entries(relative, recursive, most):
    entries = []
    truncated = False
    for name, info in walk(relative, recursive):
        if len(entries) >= most:
            truncated = True
            break
        entries.append(
            {
                "name": name,
                "type": type_letter(info.st_mode),
                "size": info.st_size,
                "mtime_ns": info.st_mtime_ns,
                "mode": stat.S_IMODE(info.st_mode),
            }
        )
    sys.stdout.write(json.dumps({"entries": entries, "truncated": truncated}))


def regular_files(paths):
    """Yields (name, lstat) of every entry the paths name: files themselves, directories' contents."""
    for relative in paths or [""]:
        if relative:
            try:
                info = os.lstat(os.path.join(workspace, relative))
            except OSError:
                yield relative, None
                continue
            if not stat.S_ISDIR(info.st_mode):
                yield relative, info
                continue
        for name, info in walk(relative, True):
            if not stat.S_ISDIR(info.st_mode):
                yield name, info


def read_files(max_files, max_file_bytes, max_total_bytes, paths):
    out = sys.stdout.buffer
    chosen = []
    total = 0
    for name, info in regular_files(paths):
        if info is None:
            out.write(f"- 0 {name}\0".encode("utf-8", "surrogateescape"))
            continue
        letter = type_letter(info.st_mode)
        out.write(f"{letter} {info.st_size} {name}\0".encode("utf-8", "surrogateescape"))
        if letter == "f" and info.st_size <= max_file_bytes and len(chosen) < max_files and total + info.st_size <= max_total_bytes:
            chosen.append(name)
            total += info.st_size
    out.write(b"\0")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for name in chosen:
            try:
                fd = os.open(os.path.join(workspace, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as source:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_size > max_file_bytes:
                    continue
                entry = tarfile.TarInfo(name)
                entry.size = info.st_size
                entry.mtime = int(info.st_mtime)
                entry.mode = stat.S_IMODE(info.st_mode)
                archive.addfile(entry, source)
    out.flush()


def through_link(relative):
    """Whether a directory on the way to `relative` is a symbolic link (or not a directory)."""
    parts = relative.split("/")[:-1]
    current = workspace
    for part in parts:
        current = os.path.join(current, part)
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return True
        except OSError:
            return False
    return False


def delete_paths(paths):
    done = {"deleted": [], "missing": [], "through_link": []}
    for relative in paths:
        if through_link(relative):
            done["through_link"].append(relative)
            continue
        target = os.path.join(workspace, relative)
        try:
            info = os.lstat(target)
        except OSError:
            done["missing"].append(relative)
            continue
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(target)
        else:
            os.unlink(target)
        done["deleted"].append(relative)
    json.dump(done, sys.stdout)


def read_ranges(max_total, triples):
    out = sys.stdout.buffer
    left = max_total
    for index in range(0, len(triples) - 2, 3):
        relative, offset, length = triples[index], int(triples[index + 1]), int(triples[index + 2])
        header = {"path": relative, "offset": offset}
        if through_link(relative):
            header["skipped"] = "symlink"
            out.write(json.dumps(header).encode() + b"\n")
            continue
        try:
            fd = os.open(os.path.join(workspace, relative), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as error:
            header["skipped"] = "symlink" if error.errno == errno.ELOOP else "not_found"
            out.write(json.dumps(header).encode() + b"\n")
            continue
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            header["skipped"] = "special"
            out.write(json.dumps(header).encode() + b"\n")
            continue
        with os.fdopen(fd, "rb") as source:
            wanted = max(0, info.st_size - offset) if length == 0 else length
            source.seek(offset)
            data = source.read(min(wanted, left))
            left -= len(data)
            header.update(size=len(data), eof=offset + len(data) >= info.st_size)
            out.write(json.dumps(header).encode() + b"\n" + data)
    out.flush()


if command == "list":
    list_entries(sys.argv[3], sys.argv[4] == "1", int(sys.argv[5]))
elif command == "read":
    read_files(int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:])
elif command == "ranges":
    read_ranges(int(sys.argv[3]), sys.argv[4:])
elif command == "delete":
    delete_paths(sys.argv[3:])
else:
    raise SystemExit(f"unknown command {command!r}")
