"""Aurea's session agent: PID 1 of a session's container, for as long as the session lives.

Started as: python3 -I -S -c "<this file>" WORKSPACE PROGRAM_USER PROCESSES [MODULE SOURCE]...
(built by sessionAgentCommand in src/sandbox/sandbox-scripts.ts; nothing is interpolated into
any text).
  WORKSPACE     the session's files; every exec starts there.
  PROGRAM_USER  uid:gid every exec (and stateful interpreter) runs as.
  PROCESSES     RLIMIT_NPROC for them, or "-" to leave it to the container's pids limit.
  MODULE SOURCE each module of the agent (the agent_*.py files beside this one) by name and text,
                in the order they import each other; this file makes them importable and runs
                agent_loop. No file of the agent needs to be in the image.

The modules, one concern each:
  agent_wire       the framing of requests and answers (src/session/agent-protocol.ts)
  agent_counters   the cgroup's counters of limits hit, the workspace's free room
  agent_processes  starting an exec under its wrapper, dropping to the program's user, killing
  agent_execs      one exec from start to its "exit" frame: output caps, deadlines, stops
  agent_cells      stateful interpreters and their cells
  agent_loop       the event loop, the requests, the end of the session

It runs as root holding only CAP_SETUID, CAP_SETGID, CAP_KILL and CAP_SETPCAP, like a run's
supervisor, so what it starts can neither signal, trace nor read it. It never runs code itself.

Requests arrive on stdin, answers leave on stdout, in the same framing: one line of JSON (with
"size", the number of raw bytes that follow it) and then those bytes. Requests:
  {"op": "hello", "id"}                 answered {"kind": "ready", "id", "execs": N}
  {"op": "exec", "id", "argv", "env", "timeout", "output_limit", "size"} + stdin bytes; with
      "code_file" and "code_size", the payload's first code_size bytes are first written to
      that file of the workspace (as the program's user), the rest are stdin
  {"op": "cell", "id", "kernel": {"name", "argv"}, "timeout", "output_limit", "size"} + the cell
      as JSON (code, args, env, stdin in base64): run in the session's long-lived interpreter of
      that name, started with argv when it is not running
  {"op": "kill", "id", "target"}        ends exec `target` (answered by that exec's "exit")
  {"op": "times", "id", "expires_at_ms", "idle_timeout_ms"}  kept, and given back in every "ready"
                                        as "times" (a session's UpdateSession, for an adopting server)
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

import sys
import types


def load(pairs):
    """Runs each module's source as that module, in order, so later ones import earlier ones."""
    for name, source in zip(pairs[0::2], pairs[1::2]):
        module = types.ModuleType(name)
        module.__file__ = f"<aurea {name}.py>"
        sys.modules[name] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - the agent's own modules


load(sys.argv[4:])
sys.modules["agent_loop"].run(sys.argv[1], sys.argv[2], sys.argv[3])
