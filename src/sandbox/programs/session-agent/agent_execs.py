"""One exec at a time, from its start to its one "exit" frame: its output as it comes (capped),
its deadline, a stop (timeout, output cap, cancellation, the session closing), its wrapper's
report, and the counters of what it hit."""

import os
import selectors
import signal
import time

from agent_counters import counters, workspace_free
from agent_processes import exec_environment, launch
from agent_wire import send

# Output may still arrive this long after an exec's processes are gone (a descendant handed its
# pipe to another exec's process); then the exec is answered regardless.
DRAIN_AFTER_EXIT = 2.0
# A stopped exec's wrapper is asked again this often until its processes are gone.
KILL_REPEAT = 0.5
# An interrupted cell (its interpreter got SIGINT) has this long to answer before the interpreter
# is killed, its state with it: a cell stuck in native code that never checks for signals.
INTERRUPT_GRACE = 1.5


class Agent:
    """What the agent holds: whom execs run as, the selector over its pipes, the execs and the
    stateful interpreters running now."""

    def __init__(self, program):
        self.program = program
        self.selector = selectors.DefaultSelector()
        self.execs = {}
        self.kernels = {}
        # The session's times as the server last set them (UpdateSession), for a server that adopts it.
        self.times = None


class Exec:
    """One exec or cell: its output as it comes, its report, and how it ended."""

    def __init__(self, agent, request, wrapper, deadline):
        self.agent = agent
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
        self.interrupted_at = None
        # A cell's interrupt (Kernel.interrupt): stops the cell and keeps the interpreter.
        self.interrupt = None
        self.drain_deadline = None
        self.report_bytes = b""

    def stop(self, reason):
        """Ends the exec for `reason`: a cell is interrupted first, so its interpreter lives on."""
        if self.stopped_by is None and self.ended is None:
            self.stopped_by = reason
            if self.interrupt is not None and self.interrupt():
                self.interrupted_at = time.monotonic()
            else:
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
                self.agent.selector.unregister(fd)
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
        frame["workspace_free_blocks"], frame["workspace_free_files"] = workspace_free(self.agent.program.workspace)
        if self.answer is not None:
            frame["status"] = self.answer.get("status", 1)
            frame["value"] = self.answer.get("value")
            frame["exception"] = self.answer.get("exception")
            frame["results"] = self.answer.get("results", [])
        send(frame)


def start_exec(agent, request, payload):
    """An "exec" request: with "code_file" and "code_size", the payload's first code_size bytes
    are first written to that file of the workspace (as the program's user); the rest is stdin."""
    deadline = time.monotonic() + float(request["timeout"])
    code = None
    if request.get("code_file"):
        split = int(request["code_size"])
        code, payload = (request["code_file"], payload[:split]), payload[split:]
    environment = exec_environment(request.get("env", []))
    wrapper, out_read, err_read, report_read = launch(agent.program, request["argv"], environment, payload, code=code)
    started = Exec(agent, request, wrapper, deadline)
    started.open_streams = 2
    started.fds = [out_read, err_read]
    agent.execs[started.id] = started
    agent.selector.register(out_read, selectors.EVENT_READ, ("stdout", started))
    agent.selector.register(err_read, selectors.EVENT_READ, ("stderr", started))
    agent.selector.register(report_read, selectors.EVENT_READ, ("report", started))


def finish_if_done(agent, running):
    if running.finished() and running.id in agent.execs:
        del agent.execs[running.id]
        running.answer_now()


def next_wake(running):
    """When the loop must next look at an exec: its deadline, a repeated kill, or the end of its drain."""
    if running.ended is not None:
        return running.drain_deadline
    if running.signalled_at is not None:
        return running.signalled_at + KILL_REPEAT
    if running.interrupted_at is not None:
        return running.interrupted_at + INTERRUPT_GRACE
    return running.deadline


def enforce_deadlines(agent):
    now = time.monotonic()
    for running in list(agent.execs.values()):
        if running.ended is None and now >= running.deadline:
            running.stop("timeout")
        interrupted_too_long = running.interrupted_at is not None and now >= running.interrupted_at + INTERRUPT_GRACE
        if running.ended is None and running.signalled_at is None and interrupted_too_long:
            # The cell did not stop when interrupted: its interpreter goes, and its state with it.
            running.signal_wrapper()
        elif running.ended is None and running.signalled_at is not None and now >= running.signalled_at + KILL_REPEAT:
            running.signal_wrapper()
        elif running.drain_deadline is not None and now >= running.drain_deadline:
            # Its processes are gone but someone still holds its pipes: answer with what came.
            running.close_streams()
            finish_if_done(agent, running)
