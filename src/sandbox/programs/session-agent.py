"""Aurea's session agent: PID 1 of a session's container, for as long as the session lives.

Started as: python3 -I -S -c "<this file>" WORKSPACE PROGRAM_USER PROCESSES
(values from src/session/agent-protocol.ts; nothing is interpolated into this text).
  WORKSPACE     the session's files; every exec starts there.
  PROGRAM_USER  uid:gid every exec (and stateful interpreter) runs as.
  PROCESSES     RLIMIT_NPROC for them, or "-" to leave it to the container's pids limit.

It runs as root holding only CAP_SETUID, CAP_SETGID, CAP_KILL and CAP_SETPCAP, like a run's
supervisor, so what it starts can neither signal, trace nor read it. It never runs code itself.

Requests arrive on stdin, answers leave on stdout, in the same framing: one line of JSON (with
"size", the number of raw bytes that follow it) and then those bytes. Empty lines are ignored,
so a server that attaches again can end a line a predecessor left unfinished. Requests:
  {"op": "hello", "id"}                 answered {"kind": "ready", "id", "execs": N}
  {"op": "exec", "id", "argv", "env", "timeout", "output_limit", "size"} + stdin bytes; with
      "code_file" and "code_size", the payload's first code_size bytes are first written to
      that file of the workspace (as the program's user), the rest are stdin
  {"op": "cell", "id", "kernel": {"name", "argv"}, "timeout", "output_limit", "size"} + the cell
      as JSON (code, args, env, stdin in base64): run in the session's long-lived interpreter of
      that name, started with argv when it is not running
  {"op": "kill", "id", "target"}        ends exec `target` (answered by that exec's "exit")
  {"op": "close", "id"}                 kills everything and exits 0
An exec (or cell) is answered by "stdout" and "stderr" frames carrying its output as it comes,
"file" frames (a cell's figures), then exactly one "exit" frame: exit status (128 + N for signal
N), whether Aurea's limits ended it, its CPU time and peak resident memory (of every process it
started, from the kernel's accounting of waited children), and its wall time.

Each exec runs under a wrapper process of its own, forked from here, which is a child subreaper:
whatever the program forks, double-forks or setsid()s stays the wrapper's descendant, so the
exec's processes, and only those, are killed when it ends, times out or is cancelled, while
other execs of the session go on.
"""

import base64
import ctypes
import fcntl
import json
import os
import resource
import selectors
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_DROP = 24
LAST_CAP = 63
READ_CHUNK = 65536
# A stateful interpreter's answer line (value and figures, base64) may not be longer than this.
MAX_CELL_ANSWER = 48 * 1024 * 1024
# Output may still arrive this long after an exec's processes are gone (a descendant handed its
# pipe to another exec's process); then the exec is answered regardless.
DRAIN_AFTER_EXIT = 2.0
# A stopped exec's wrapper is asked again this often until its processes are gone.
KILL_REPEAT = 0.5

libc = ctypes.CDLL(None, use_errno=True)
workspace = sys.argv[1]
program_uid, program_gid = (int(part) for part in sys.argv[2].split(":"))
processes = None if sys.argv[3] == "-" else int(sys.argv[3])
selector = selectors.DefaultSelector()


def write_all(fd, data):
    """Writes every byte: gVisor completes a large write to the container's stdout only partly."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def send(frame, payload=b""):
    frame["size"] = len(payload)
    write_all(1, json.dumps(frame, separators=(",", ":")).encode() + b"\n" + payload)


def cgroup_count(files, key=None):
    """A counter of the container's cgroup (v1 or v2): the first of `files` that can be read, as
    one number or as the value of `key` in a "key value" file; 0 where the runtime shows none."""
    for path in files:
        try:
            with open(path) as counters:
                for line in counters:
                    name, _, value = line.partition(" ")
                    if key is None:
                        return int(name)
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def counters():
    """The cgroup's counts of limits hit so far: OOM kills, forks refused, memory at its limit."""
    return {
        "oom_kills": cgroup_count(("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"), "oom_kill"),
        "pids_refused": cgroup_count(("/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events"), "max"),
        "memory_at_limit": cgroup_count(("/sys/fs/cgroup/memory/memory.failcnt",))
        or cgroup_count(("/sys/fs/cgroup/memory.events",), "max"),
    }


def workspace_free():
    """Free blocks and file slots of the workspace, or None each when it cannot be read."""
    try:
        found = os.statvfs(workspace)
        return found.f_bavail, found.f_favail
    except OSError:
        return None, None


def program_pipe():
    """A pipe the program's user owns where the kernel allows it (runc honours setfsuid), so the
    program can also open it by name (/dev/stdout); root's otherwise, usable through its fd."""
    libc.setfsuid(program_uid)
    libc.setfsgid(program_gid)
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


def become_program(argv, env, stdin, fds, code=None):
    """In the forked child: drops to the program's user with no capability in any set, writes the
    exec's code file when it has one (as that user, in its workspace), then execs."""
    try:
        with open("/proc/self/oom_score_adj", "w") as adjust:
            # The kernel's OOM killer takes the session's programs before this agent.
            adjust.write("1000")
    except OSError:
        pass
    if processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    # Moved out of the way first, so that no fd is overwritten before it has been placed.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]
    for target, fd in enumerate(high, start=1):
        os.dup2(fd, target)
    os.closerange(len(fds) + 1, 65536)
    os.setgroups([])
    os.setresgid(program_gid, program_gid, program_gid)
    for cap in range(LAST_CAP + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    os.setresuid(program_uid, program_uid, program_uid)
    os.chdir(workspace)
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


def run_wrapper(argv, env, stdin, fds, report_fd, code=None):
    """In the forked wrapper (root): the exec's subreaper. Waits for the program, kills whatever
    it left, reaps it all, and writes the exit status and usage to `report_fd`."""
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGUSR1, lambda *_: kill_descendants())
    child = os.fork()
    if child == 0:
        try:
            become_program(argv, env, stdin, fds, code)
        except BaseException as error:  # noqa: BLE001 - reported on the exec's stderr, then exit 127
            os.write(2, f"aurea: could not start {argv[0]}: {type(error).__name__}: {error}\n".encode())
        finally:
            os._exit(127)
    for fd in fds:
        os.close(fd)
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


def launch(argv, env, stdin, extra=(), code=None):
    """Starts argv under a wrapper of its own; returns (wrapper pid, stdout, stderr, report) read
    ends and the other ends of `extra` pipes' child sides already given to it as fds 3, 4, ..."""
    out_read, out_write = program_pipe()
    err_read, err_write = program_pipe()
    report_read, report_write = os.pipe()
    wrapper = os.fork()
    if wrapper == 0:
        try:
            os.close(0)
            for fd in (out_read, err_read, report_read):
                os.close(fd)
            run_wrapper(argv, env, stdin, [out_write, err_write, *extra], report_write, code)
        finally:
            os._exit(0)
    for fd in (out_write, err_write, report_write, *extra):
        os.close(fd)
    return wrapper, out_read, err_read, report_read


class Exec:
    """One exec or cell: its output as it comes, its report, and how it ended."""

    def __init__(self, request, wrapper, deadline):
        self.id = request["id"]
        self.wrapper = wrapper
        self.deadline = deadline
        self.output_limit = int(request.get("output_limit", 1 << 20))
        self.written = {"stdout": 0, "stderr": 0}
        self.started = time.monotonic()
        self.ended = None
        self.counters_before = counters()
        self.open_streams = 0
        self.report = None
        self.stopped_by = None
        self.answer = None
        self.fds = []
        self.signalled_at = None
        self.drain_deadline = None
        self.report_bytes = b""

    def stop(self, reason):
        if self.stopped_by is None and self.ended is None:
            self.stopped_by = reason
            self.signal_wrapper()

    def signal_wrapper(self):
        """Asks the wrapper to kill the exec's processes (again, in case it had not yet set up)."""
        self.signalled_at = time.monotonic()
        try:
            os.kill(self.wrapper, signal.SIGUSR1)
        except OSError:
            pass

    def close_streams(self):
        for fd in self.fds:
            try:
                selector.unregister(fd)
            except (KeyError, ValueError):
                pass
            os.close(fd)
        self.fds = []
        self.open_streams = 0

    def output(self, stream, data):
        room = self.output_limit - self.written[stream]
        if room > 0:
            send({"kind": stream, "id": self.id}, data[:room])
        self.written[stream] += len(data)
        if len(data) > room:
            self.stop("output_limit")

    def finished(self):
        return self.report is not None and self.open_streams == 0

    def answer_now(self, state_lost=False):
        report = self.report or {}
        frame = {
            "kind": "exit",
            "id": self.id,
            "status": report.get("status"),
            "cpu_ns": report.get("cpu_ns"),
            "peak_rss": report.get("peak_rss"),
            "wall_ms": ((self.ended or time.monotonic()) - self.started) * 1000,
            "stopped_by": self.stopped_by,
            "state_lost": state_lost,
        }
        # Limits hit while it ran: the cgroup's counters are the whole session's, so an exec
        # running beside it may add to them.
        for name, value in counters().items():
            frame[name] = value - self.counters_before[name]
        frame["workspace_free_blocks"], frame["workspace_free_files"] = workspace_free()
        if self.answer is not None:
            frame["status"] = self.answer.get("status", 1)
            frame["value"] = self.answer.get("value")
        send(frame)


execs = {}
kernels = {}


class Kernel:
    """A stateful interpreter (programs/kernels/): long-lived, one cell at a time, fed cells on its
    fd 3 and answering each with one JSON line on its fd 4."""

    def __init__(self, name, argv, env):
        control_read, self.control = program_pipe()
        self.answers, answer_write = program_pipe()
        self.wrapper, self.stdout, self.stderr, self.report = launch(argv, env, b"", (control_read, answer_write))
        self.name = name
        self.cell = None
        self.pending = b""
        self.buffer = b""
        self.report_bytes = b""
        os.set_blocking(self.control, False)
        selector.register(self.stdout, selectors.EVENT_READ, ("kernel-out", self))
        selector.register(self.stderr, selectors.EVENT_READ, ("kernel-err", self))
        selector.register(self.answers, selectors.EVENT_READ, ("kernel-answer", self))
        selector.register(self.report, selectors.EVENT_READ, ("kernel-report", self))

    def run(self, cell, payload):
        self.cell = cell
        self.pending += payload + b"\n"
        self.flush_control()

    def flush_control(self):
        """Writes what the pipe takes now; the rest when the loop finds the pipe writable again."""
        while self.pending:
            try:
                written = os.write(self.control, self.pending)
            except BlockingIOError:
                break
            except OSError:
                self.pending = b""
                break
            self.pending = self.pending[written:]
        registered = self.control in selector.get_map()
        if self.pending and not registered:
            selector.register(self.control, selectors.EVENT_WRITE, ("kernel-control", self))
        elif not self.pending and registered:
            selector.unregister(self.control)

    def drain(self):
        for fd, stream in ((self.stdout, "stdout"), (self.stderr, "stderr")):
            os.set_blocking(fd, False)
            while True:
                try:
                    data = os.read(fd, READ_CHUNK)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                if self.cell:
                    self.cell.output(stream, data)
            os.set_blocking(fd, True)

    def answered(self, line):
        """The interpreter finished a cell: its output is in the pipes already (it flushed first)."""
        cell, self.cell = self.cell, None
        if cell is None:
            return
        self.drain()
        try:
            answer = json.loads(line)
        except ValueError:
            answer = {"status": 1, "value": None}
        if not isinstance(answer, dict):
            answer = {"status": 1, "value": None}
        figures = answer.get("figures") if isinstance(answer.get("figures"), list) else []
        for index, figure in enumerate(figures):
            try:
                send({"kind": "file", "id": cell.id, "name": f"figure-{index + 1}.png"}, base64.b64decode(figure))
            except (TypeError, ValueError):
                continue
        value = answer.get("value")
        status = answer.get("status")
        cell.answer = {"status": status if isinstance(status, int) else 1, "value": value if isinstance(value, str) else None}
        # The interpreter's own accounting of the cell (getrusage around it): its word, not the kernel's.
        cell.report = {"status": cell.answer["status"]}
        for key in ("cpu_ns", "peak_rss"):
            if isinstance(answer.get(key), int) and answer[key] >= 0:
                cell.report[key] = answer[key]
        cell.ended = time.monotonic()
        del execs[cell.id]
        cell.answer_now()

    def died(self, report):
        """The interpreter ended (a cell's timeout, a memory kill, an exit): its state is gone."""
        for fd in (self.stdout, self.stderr, self.answers, self.report, self.control):
            try:
                selector.unregister(fd)
            except (KeyError, ValueError):
                pass
        self.drain()
        for fd in (self.stdout, self.stderr, self.answers, self.report, self.control):
            os.close(fd)
        reap(self.wrapper)
        kernels.pop(self.name, None)
        cell, self.cell = self.cell, None
        if cell is not None:
            cell.report = report
            cell.ended = time.monotonic()
            execs.pop(cell.id, None)
            cell.answer_now(state_lost=True)


def reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def exec_environment(entries):
    env = dict(os.environ)
    for entry in entries:
        name, _, value = entry.partition("=")
        env[name] = value
    return env


def start_exec(request, payload):
    deadline = time.monotonic() + float(request["timeout"])
    code = None
    if request.get("code_file"):
        split = int(request["code_size"])
        code, payload = (request["code_file"], payload[:split]), payload[split:]
    environment = exec_environment(request.get("env", []))
    wrapper, out_read, err_read, report_read = launch(request["argv"], environment, payload, code=code)
    started = Exec(request, wrapper, deadline)
    started.open_streams = 2
    started.fds = [out_read, err_read]
    execs[started.id] = started
    selector.register(out_read, selectors.EVENT_READ, ("stdout", started))
    selector.register(err_read, selectors.EVENT_READ, ("stderr", started))
    selector.register(report_read, selectors.EVENT_READ, ("report", started))


def start_cell(request, payload):
    kernel_spec = request["kernel"]
    kernel = kernels.get(kernel_spec["name"])
    fresh = kernel is None
    if fresh:
        kernel = Kernel(kernel_spec["name"], kernel_spec["argv"], exec_environment([]))
        kernels[kernel.name] = kernel
    cell = Exec(request, kernel.wrapper, time.monotonic() + float(request["timeout"]))
    if kernel.cell is not None:
        send({"kind": "exit", "id": cell.id, "status": None, "error": "the interpreter is busy with another cell"})
        return
    execs[cell.id] = cell
    kernel.run(cell, payload)


def handle(request, payload):
    op = request.get("op")
    if op == "hello":
        send({"kind": "ready", "id": request.get("id"), "execs": len(execs), "kernels": sorted(kernels)})
    elif op == "exec":
        start_exec(request, payload)
    elif op == "cell":
        start_cell(request, payload)
    elif op == "kill":
        target = execs.get(request.get("target"))
        if target is not None:
            target.stop(request.get("reason", "cancelled"))
    elif op == "close":
        raise SystemExit(0)
    else:
        send({"kind": "error", "id": request.get("id"), "error": f"unknown op {op!r}"})


class Requests:
    """Reads framed requests from stdin: a JSON line, then `size` raw bytes."""

    def __init__(self):
        self.buffer = b""
        self.header = None

    def feed(self, data):
        self.buffer += data
        while True:
            if self.header is None:
                line, newline, rest = self.buffer.partition(b"\n")
                if not newline:
                    return
                self.buffer = rest
                if not line.strip():
                    continue
                try:
                    self.header = json.loads(line)
                    if not isinstance(self.header, dict):
                        raise ValueError("not an object")
                except ValueError as error:
                    self.header = None
                    send({"kind": "error", "id": None, "error": f"unreadable request: {error}"})
                    continue
            size = int(self.header.get("size", 0))
            if len(self.buffer) < size:
                return
            header, self.header = self.header, None
            payload, self.buffer = self.buffer[:size], self.buffer[size:]
            try:
                handle(header, payload)
            except SystemExit:
                raise
            except BlockingIOError as error:
                # A fork refused: the session's process limit is full (its programs' doing).
                send({"kind": "exit", "id": header.get("id"), "status": None, "refused": "processes", "error": str(error)})
            except Exception as error:  # noqa: BLE001 - one bad request must not end the session
                send({"kind": "exit", "id": header.get("id"), "status": None, "error": f"{type(error).__name__}: {error}"})


def stream_readable(kind, owner, fd):
    if kind == "kernel-control":
        # Writable, not readable: the rest of a cell fits into the interpreter's pipe now.
        owner.flush_control()
        return
    data = b""
    try:
        data = os.read(fd, READ_CHUNK)
    except OSError:
        pass
    if kind in ("stdout", "stderr", "kernel-out", "kernel-err"):
        stream = "stdout" if kind in ("stdout", "kernel-out") else "stderr"
        target = owner if isinstance(owner, Exec) else owner.cell
        if data:
            if target is not None:
                target.output(stream, data)
            return
        selector.unregister(fd)
        if isinstance(owner, Exec):
            os.close(fd)
            owner.fds.remove(fd)
            owner.open_streams -= 1
            finish_if_done(owner)
    elif kind == "report":
        owner.report_bytes += data
        if data:
            return
        selector.unregister(fd)
        os.close(fd)
        try:
            owner.report = json.loads(owner.report_bytes or b"{}")
        except ValueError:
            owner.report = {}
        owner.ended = time.monotonic()
        owner.drain_deadline = owner.ended + DRAIN_AFTER_EXIT
        reap(owner.wrapper)
        finish_if_done(owner)
    elif kind == "kernel-answer":
        if not data:
            selector.unregister(fd)
            return
        owner.buffer += data
        while b"\n" in owner.buffer:
            line, _, owner.buffer = owner.buffer.partition(b"\n")
            owner.answered(line)
        if len(owner.buffer) > MAX_CELL_ANSWER:
            owner.buffer = b""
            if owner.cell:
                owner.cell.stop("output_limit")
    elif kind == "kernel-report":
        if data:
            owner.report_bytes += data
            return
        try:
            report = json.loads(owner.report_bytes or b"{}")
        except ValueError:
            report = {}
        owner.died(report)


def finish_if_done(running):
    if running.finished() and running.id in execs:
        del execs[running.id]
        running.answer_now()


def next_wake(running):
    """When the loop must next look at an exec: its deadline, a repeated kill, or the end of its drain."""
    if running.ended is not None:
        return running.drain_deadline
    if running.signalled_at is not None:
        return running.signalled_at + KILL_REPEAT
    return running.deadline


def enforce_deadlines():
    now = time.monotonic()
    for running in list(execs.values()):
        if running.ended is None and now >= running.deadline:
            running.stop("timeout")
        if running.ended is None and running.signalled_at is not None and now >= running.signalled_at + KILL_REPEAT:
            running.signal_wrapper()
        elif running.drain_deadline is not None and now >= running.drain_deadline:
            # Its processes are gone but someone still holds its pipes: answer with what came.
            running.close_streams()
            finish_if_done(running)


def main():
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, signal.SIG_IGN)
    # Children that outlive their wrapper are re-parented here: reap them as they end.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    requests = Requests()
    selector.register(0, selectors.EVENT_READ, ("requests", None))
    send({"kind": "ready", "id": None, "execs": 0, "kernels": []})
    while True:
        waits = [wake for wake in map(next_wake, execs.values()) if wake is not None]
        timeout = max(0.0, min(waits) - time.monotonic()) if waits else None
        for key, _ in selector.select(timeout):
            kind, owner = key.data
            if kind == "requests":
                data = os.read(0, READ_CHUNK)
                if not data:
                    # The server closed the session's stdin: the session is over.
                    return
                requests.feed(data)
            else:
                stream_readable(kind, owner, key.fd)
        enforce_deadlines()
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass


try:
    main()
except SystemExit:
    pass
finally:
    for running in list(execs.values()):
        running.stop("closed")
    for kernel in list(kernels.values()):
        try:
            os.kill(kernel.wrapper, signal.SIGUSR1)
        except OSError:
            pass
