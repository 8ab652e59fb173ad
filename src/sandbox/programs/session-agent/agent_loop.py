"""The agent's event loop: requests from stdin, every exec's and interpreter's pipes, deadlines,
and reaping, in one thread; and what happens to everything when the session ends."""

import json
import os
import selectors
import signal
import time

from agent_cells import start_cell
from agent_execs import DRAIN_AFTER_EXIT, Agent, enforce_deadlines, finish_if_done, next_wake, start_exec
from agent_processes import program_from_argv, reap
from agent_wire import READ_CHUNK, Requests, send


def handle(agent, request, payload):
    """One request: hello, exec, cell, kill (ends exec `target`, answered by its "exit"), times
    (kept, and given back in every "ready"), close."""
    op = request.get("op")
    if op == "hello":
        ready = {"kind": "ready", "id": request.get("id"), "execs": len(agent.execs), "kernels": sorted(agent.kernels)}
        send({**ready, "times": agent.times})
    elif op == "times":
        agent.times = {"expires_at_ms": int(request["expires_at_ms"]), "idle_timeout_ms": int(request["idle_timeout_ms"])}
    elif op == "exec":
        start_exec(agent, request, payload)
    elif op == "cell":
        start_cell(agent, request, payload)
    elif op == "kill":
        target = agent.execs.get(request.get("target"))
        if target is not None:
            target.stop(request.get("reason", "cancelled"))
    elif op == "close":
        raise SystemExit(0)
    else:
        send({"kind": "error", "id": request.get("id"), "error": f"unknown op {op!r}"})


def exec_stream(agent, running, fd, stream, data):
    """Output of an exec, or its end: an exec is answered once both streams and its report ended."""
    if data:
        running.output(stream, data)
        return
    agent.selector.unregister(fd)
    os.close(fd)
    running.fds.remove(fd)
    running.open_streams -= 1
    finish_if_done(agent, running)


def exec_report(agent, running, fd, data):
    """The wrapper's report of an exec (status and usage), whole once its pipe ends."""
    running.report_bytes += data
    if data:
        return
    agent.selector.unregister(fd)
    os.close(fd)
    try:
        running.report = json.loads(running.report_bytes or b"{}")
    except ValueError:
        running.report = {}
    running.ended = time.monotonic()
    running.drain_deadline = running.ended + DRAIN_AFTER_EXIT
    reap(running.wrapper)
    finish_if_done(agent, running)


def readable(agent, kind, owner, fd):
    """A pipe of an exec or interpreter is ready (the interpreter's control pipe: writable)."""
    if kind == "kernel-control":
        # Writable, not readable: the rest of a cell fits into the interpreter's pipe now.
        owner.flush_control()
        return
    data = b""
    try:
        data = os.read(fd, READ_CHUNK)
    except OSError:
        pass
    if kind in ("stdout", "stderr"):
        exec_stream(agent, owner, fd, kind, data)
    elif kind in ("kernel-out", "kernel-err"):
        if data and owner.cell is not None:
            owner.cell.output("stdout" if kind == "kernel-out" else "stderr", data)
        elif not data:
            agent.selector.unregister(fd)
    elif kind == "report":
        exec_report(agent, owner, fd, data)
    elif kind == "kernel-answer":
        if data:
            owner.answer_data(data)
        else:
            agent.selector.unregister(fd)
    elif kind == "kernel-report":
        owner.report_data(data)


def serve(agent):
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, signal.SIG_IGN)
    # Children that outlive their wrapper are re-parented here: reap them as they end.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    requests = Requests(lambda request, payload: handle(agent, request, payload))
    agent.selector.register(0, selectors.EVENT_READ, ("requests", None))
    send({"kind": "ready", "id": None, "execs": 0, "kernels": []})
    while True:
        waits = [wake for wake in map(next_wake, agent.execs.values()) if wake is not None]
        timeout = max(0.0, min(waits) - time.monotonic()) if waits else None
        for key, _ in agent.selector.select(timeout):
            kind, owner = key.data
            if kind == "requests":
                data = os.read(0, READ_CHUNK)
                if not data:
                    # The server closed the session's stdin: the session is over.
                    return
                requests.feed(data)
            else:
                readable(agent, kind, owner, key.fd)
        enforce_deadlines(agent)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass


def run(workspace, user, processes):
    """The agent, until the session closes or its stdin ends; then every exec and interpreter is killed."""
    agent = Agent(program_from_argv(workspace, user, processes))
    try:
        serve(agent)
    except SystemExit:
        pass
    finally:
        for running in list(agent.execs.values()):
            running.stop("closed")
        for kernel in list(agent.kernels.values()):
            try:
                os.kill(kernel.wrapper, signal.SIGUSR1)
            except OSError:
                pass
