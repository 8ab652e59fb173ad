"""Stateful cells: a session's long-lived interpreter of a language (programs/kernels/), started
on the first cell as the program's user and kept; one cell at a time, fed on its fd 3 and
answered with one JSON line on its fd 4 (status, value, exception, figures, its own CPU time and
peak memory). A cell's timeout, output cap or cancellation interrupts it (SIGINT) and keeps the
interpreter; only one that does not stop within a grace is killed with it. An interpreter that
ends takes its state with it: its cell says state_lost."""

import base64
import json
import os
import selectors
import signal
import time

from agent_execs import Exec
from agent_processes import exec_environment, launch, program_pipe, reap
from agent_wire import READ_CHUNK, send

# A stateful interpreter's answer line (value and figures, base64) may not be longer than this.
MAX_CELL_ANSWER = 48 * 1024 * 1024
# At most this many displayed results a cell.
MAX_RESULTS = 32
# Each text of an exception (name, value, traceback) is cut to this many characters.
MAX_EXCEPTION_CHARS = 65536 + 3


class Kernel:
    """One stateful interpreter: its pipes, and the cell it runs now."""

    def __init__(self, agent, name, argv, env):
        self.agent = agent
        control_read, self.control = program_pipe(agent.program)
        self.answers, answer_write = program_pipe(agent.program)
        self.wrapper, self.stdout, self.stderr, self.report = launch(
            agent.program, argv, env, b"", (control_read, answer_write)
        )
        self.name = name
        self.cell = None
        self.pending = b""
        self.buffer = b""
        self.report_bytes = b""
        os.set_blocking(self.control, False)
        agent.selector.register(self.stdout, selectors.EVENT_READ, ("kernel-out", self))
        agent.selector.register(self.stderr, selectors.EVENT_READ, ("kernel-err", self))
        agent.selector.register(self.answers, selectors.EVENT_READ, ("kernel-answer", self))
        agent.selector.register(self.report, selectors.EVENT_READ, ("kernel-report", self))

    def run(self, cell, payload):
        self.cell = cell
        cell.interrupt = self.interrupt
        self.pending += payload + b"\n"
        self.flush_control()

    def interrupt(self):
        """Asks the interpreter to stop its cell (SIGINT, through its wrapper); False when it cannot be asked."""
        try:
            os.kill(self.wrapper, signal.SIGUSR2)
            return True
        except OSError:
            return False

    def flush_control(self):
        """Writes what the pipe takes now; the rest when the loop finds the pipe writable again."""
        selector = self.agent.selector
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

    def answer_data(self, data):
        """Bytes of the interpreter's answers; each whole line answers the cell it runs."""
        self.buffer += data
        while b"\n" in self.buffer:
            line, _, self.buffer = self.buffer.partition(b"\n")
            self.answered(line)
        if len(self.buffer) > MAX_CELL_ANSWER:
            self.buffer = b""
            if self.cell:
                self.cell.stop("output_limit")

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
        cell.answer = {
            "status": status if isinstance(status, int) else 1,
            "value": value if isinstance(value, str) else None,
            "exception": exception_of(answer.get("exception")),
            "results": results_of(answer.get("results")),
        }
        # The interpreter's own accounting of the cell (getrusage around it): its word, not the kernel's.
        cell.report = {"status": cell.answer["status"]}
        for key in ("cpu_ns", "peak_rss"):
            if isinstance(answer.get(key), int) and answer[key] >= 0:
                cell.report[key] = answer[key]
        cell.ended = time.monotonic()
        del self.agent.execs[cell.id]
        cell.answer_now()

    def report_data(self, data):
        """Bytes of the interpreter's wrapper report; its end is the interpreter's."""
        if data:
            self.report_bytes += data
            return
        try:
            report = json.loads(self.report_bytes or b"{}")
        except ValueError:
            report = {}
        self.died(report)

    def died(self, report):
        """The interpreter ended (a cell's timeout, a memory kill, an exit): its state is gone."""
        for fd in (self.stdout, self.stderr, self.answers, self.report, self.control):
            try:
                self.agent.selector.unregister(fd)
            except (KeyError, ValueError):
                pass
        self.drain()
        for fd in (self.stdout, self.stderr, self.answers, self.report, self.control):
            os.close(fd)
        reap(self.wrapper)
        self.agent.kernels.pop(self.name, None)
        cell, self.cell = self.cell, None
        if cell is not None:
            cell.report = report
            cell.ended = time.monotonic()
            self.agent.execs.pop(cell.id, None)
            cell.answer_now(state_lost=True)


def exception_of(raised):
    """The interpreter's word on an exception, kept only as three bounded strings."""
    if not isinstance(raised, dict):
        return None
    fields = {key: raised.get(key) for key in ("name", "value", "traceback")}
    if not all(isinstance(text, str) for text in fields.values()):
        return None
    return {key: text[:MAX_EXCEPTION_CHARS] for key, text in fields.items()}


def results_of(shown):
    """The cell's displayed results, kept only as a bounded list of {data: {mime: text}, is_main_result}."""
    if not isinstance(shown, list):
        return []
    kept = []
    for result in shown[:MAX_RESULTS]:
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(data, dict) or not all(isinstance(key, str) and isinstance(text, str) for key, text in data.items()):
            continue
        kept.append({"data": data, "is_main_result": result.get("is_main_result") is True})
    return kept


def start_cell(agent, request, payload):
    """A "cell" request: run in the session's interpreter of that name, started when it is not
    running; the payload is the cell as JSON (code, args, env, stdin in base64)."""
    kernel_spec = request["kernel"]
    kernel = agent.kernels.get(kernel_spec["name"])
    if kernel is None:
        kernel = Kernel(agent, kernel_spec["name"], kernel_spec["argv"], exec_environment([]))
        agent.kernels[kernel.name] = kernel
    cell = Exec(agent, request, kernel.wrapper, time.monotonic() + float(request["timeout"]))
    if kernel.cell is not None:
        send({"kind": "exit", "id": cell.id, "status": None, "error": "the interpreter is busy with another cell"})
        return
    agent.execs[cell.id] = cell
    kernel.run(cell, payload)
