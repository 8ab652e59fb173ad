"""Starting and ending an exec's processes: each under a wrapper of its own (a child subreaper),
the program itself dropped to the program's user with no capability in any set, as a run's
supervisor drops it (programs/supervisor.sh, with setpriv); every process below the wrapper killed
when the exec ends (SIGUSR1 to the wrapper), or the program alone interrupted (SIGUSR2 to the
wrapper, SIGINT to the program: how a stateful interpreter's cell is stopped with its state kept)."""

import collections
import ctypes
import fcntl
import json
import os
import resource
import signal

from agent_wire import write_all

PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_DROP = 24
LAST_CAP = 63

libc = ctypes.CDLL(None, use_errno=True)

# Whom every exec runs as and where: the workspace, the program's uid and gid, and its
# RLIMIT_NPROC (None to leave it to the container's pids limit).
Program = collections.namedtuple("Program", "workspace uid gid processes")


def program_from_argv(workspace, user, processes):
    uid, gid = (int(part) for part in user.split(":"))
    return Program(workspace, uid, gid, None if processes == "-" else int(processes))


def program_pipe(program):
    """A pipe the program's user owns where the kernel allows it (runc honours setfsuid), so the
    program can also open it by name (/dev/stdout); root's otherwise, usable through its fd."""
    libc.setfsuid(program.uid)
    libc.setfsgid(program.gid)
    try:
        return os.pipe()
    finally:
        libc.setfsuid(0)
        libc.setfsgid(0)


def descendants_of(ancestor):
    """Every process below `ancestor`, from one pass over /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, pending = [], [ancestor]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def kill_descendants():
    for pid in descendants_of(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def drop_to_program_user(program):
    """What setpriv --reuid --regid --clear-groups --inh-caps=-all --bounding-set=-all does for a
    run's program: no supplementary group, the program's gid and uid, an empty bounding set (the
    switch from root empties the other capability sets)."""
    os.setgroups([])
    os.setresgid(program.gid, program.gid, program.gid)
    for cap in range(LAST_CAP + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    os.setresuid(program.uid, program.uid, program.uid)


def become_program(program, argv, env, stdin, fds, code=None):
    """In the forked child: drops to the program's user, writes the exec's code file when it has
    one (as that user, in its workspace), then execs."""
    try:
        with open("/proc/self/oom_score_adj", "w") as adjust:
            # The kernel's OOM killer takes the session's programs before this agent.
            adjust.write("1000")
    except OSError:
        pass
    if program.processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (program.processes, program.processes))
    # Moved out of the way first, so that no fd is overwritten before it has been placed.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]
    for target, fd in enumerate(high, start=1):
        os.dup2(fd, target)
    os.closerange(len(fds) + 1, 65536)
    drop_to_program_user(program)
    os.chdir(program.workspace)
    if code is not None:
        with open(code[0], "wb") as source:
            source.write(code[1])
    # stdin: a pipe of the program's own user, so it can open it by name too; a child of the
    # program's user writes the bytes and ends.
    read_end, write_end = os.pipe()
    if stdin and os.fork() == 0:
        os.close(read_end)
        try:
            write_all(write_end, stdin)
        finally:
            os._exit(0)
    os.close(write_end)
    if read_end != 0:
        os.dup2(read_end, 0)
        os.close(read_end)
    # os.pipe()'s fds close on exec (PEP 446); dup2's copies, and this one, must not.
    os.set_inheritable(0, True)
    # Python ignores SIGPIPE and SIGXFSZ; an exec'd program must get the defaults.
    for number in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        os.write(2, f"aurea: cannot run {argv[0]}: {error.strerror}\n".encode())
        os._exit(126 if error.errno == 13 else 127)


def run_wrapper(program, argv, env, stdin, fds, report_fd, code=None):
    """In the forked wrapper (root): the exec's subreaper. Waits for the program, kills whatever
    it left, reaps it all, and writes the exit status and usage to `report_fd`."""
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGUSR1, lambda *_: kill_descendants())
    child = os.fork()
    if child == 0:
        try:
            become_program(program, argv, env, stdin, fds, code)
        except BaseException as error:  # noqa: BLE001 - reported on the exec's stderr, then exit 127
            os.write(2, f"aurea: could not start {argv[0]}: {type(error).__name__}: {error}\n".encode())
        finally:
            os._exit(127)
    for fd in fds:
        os.close(fd)
    # SIGUSR2 asks the program (a stateful interpreter) to interrupt what it runs: SIGINT to it
    # alone. Until this line SIGUSR2 is ignored, as the agent ignores it, so an early one is lost.
    def interrupt_program(*_):
        try:
            os.kill(child, signal.SIGINT)
        except OSError:
            pass

    signal.signal(signal.SIGUSR2, interrupt_program)
    status = None
    while True:
        try:
            pid, waited = os.wait()
        except ChildProcessError:
            break
        if pid == child:
            status = os.waitstatus_to_exitcode(waited)
            status = 128 - status if status < 0 else status
        if status is not None:
            kill_descendants()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {
        "status": status,
        "cpu_ns": int((usage.ru_utime + usage.ru_stime) * 1e9),
        "peak_rss": usage.ru_maxrss * 1024,
    }
    write_all(report_fd, json.dumps(report).encode())


def launch(program, argv, env, stdin, extra=(), code=None):
    """Starts argv under a wrapper of its own; returns (wrapper pid, stdout, stderr, report) read
    ends and the other ends of `extra` pipes' child sides already given to it as fds 3, 4, ..."""
    out_read, out_write = program_pipe(program)
    err_read, err_write = program_pipe(program)
    report_read, report_write = os.pipe()
    wrapper = os.fork()
    if wrapper == 0:
        try:
            os.close(0)
            for fd in (out_read, err_read, report_read):
                os.close(fd)
            run_wrapper(program, argv, env, stdin, [out_write, err_write, *extra], report_write, code)
        finally:
            os._exit(0)
    for fd in (out_write, err_write, report_write, *extra):
        os.close(fd)
    return wrapper, out_read, err_read, report_read


def reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def exec_environment(entries):
    """The agent's own environment (the container's), with the exec's NAME=value entries on top."""
    env = dict(os.environ)
    for entry in entries:
        name, _, value = entry.partition("=")
        env[name] = value
    return env
