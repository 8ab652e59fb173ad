"""Aurea's warm loader for Python: the interpreter is started ahead of time and waits here.

Started as: python3 -u -c "<this file>" GO_FIFO WORKSPACE CODE_FILE READY_TAG
(values from src/sandbox/supervisor-protocol.ts; nothing is interpolated into this text).

It writes NUL READY_TAG newline on stdout, blocks opening GO_FIFO until the supervisor has put
the workspace in place, then reads one run message from stdin (a length line, then NUL-terminated
fields: the argument count, the arguments, the environment count, the NAME=value entries, and "1"
with the program's code or "0"), writes the code file when the message carries it, sets argv and
the environment, and runs the program as __main__. Everything after the message on stdin is the
program's own stdin.
"""

import os
import sys


def receive_run():
    go_fifo, workspace, code_file, ready_tag = sys.argv[1:5]
    os.write(1, b"\0" + ready_tag.encode() + b"\n")
    with open(go_fifo, "rb") as go:
        go.read(3)

    def exactly(count):
        data = b""
        while len(data) < count:
            chunk = os.read(0, count - len(data))
            if not chunk:
                raise SystemExit("aurea: the run message ended early")
            data += chunk
        return data

    length = b""
    while not length.endswith(b"\n"):
        length += exactly(1)
    fields = exactly(int(length)).split(b"\0")[:-1]
    nargs = int(fields[0])
    args = [field.decode("utf-8", "surrogateescape") for field in fields[1 : 1 + nargs]]
    nenv = int(fields[1 + nargs])
    for entry in fields[2 + nargs : 2 + nargs + nenv]:
        name, _, value = entry.decode("utf-8", "surrogateescape").partition("=")
        os.environ[name] = value
    if fields[2 + nargs + nenv] == b"1":
        with open(code_file, "wb") as code:
            code.write(fields[3 + nargs + nenv])
    with open(code_file, "rb") as source:
        program = compile(source.read(), code_file, "exec")
    return workspace, code_file, args, program


def hide_loader(kind, value, trace):
    """Prints a traceback without this loader's own frame, as `python3 main.py` would."""
    import traceback

    if trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    traceback.print_exception(kind, value, trace)


def own_stdin():
    """Makes stdin a pipe of this user's: the container's stdin (or a recycled container's input
    FIFO) is root's, which the program can read but not open by name (/dev/stdin). When all of the
    input is already there (a recycled container's, written and closed before "go", at most what
    a pipe holds) it is written into the pipe here; else a `cat` feeds the pipe, after what was
    read meanwhile."""
    import select

    taken = b""
    while select.select([0], [], [], 0)[0]:
        chunk = os.read(0, PIPE_HOLDS + 1 - len(taken))
        if not chunk:
            read_end, write_end = os.pipe()
            os.write(write_end, taken)
            os.close(write_end)
            os.dup2(read_end, 0)
            os.close(read_end)
            return
        taken += chunk
        if len(taken) > PIPE_HOLDS:
            break
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.close(read_end)
        os.dup2(write_end, 1)
        os.close(write_end)
        while taken:
            taken = taken[os.write(1, taken) :]
        os.execvp("cat", ["cat"])
    os.close(write_end)
    os.dup2(read_end, 0)
    os.close(read_end)


# What an empty pipe takes without blocking its writer (Linux's and gVisor's default size).
PIPE_HOLDS = 65536

_workspace, _code_file, _args, _program = receive_run()
own_stdin()
sys.argv = [_code_file] + _args
sys.path[0] = _workspace
sys.excepthook = hide_loader
del receive_run, hide_loader, own_stdin, PIPE_HOLDS
exec(
    _program,
    {
        "__name__": "__main__",
        "__file__": _code_file,
        "__builtins__": __builtins__,
        "__doc__": None,
        "__package__": None,
        "__spec__": None,
        "__loader__": None,
    },
)
