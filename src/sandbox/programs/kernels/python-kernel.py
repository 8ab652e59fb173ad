"""Aurea's stateful Python interpreter for sessions (CreateSession with stateful: true).

Started by the session agent (sandbox/programs/session-agent/) as the program's user:
    python3 -u -c "<this file>" WORKSPACE
It reads one cell per line on fd 3 (JSON: code, args, env, stdin in base64) and runs it in one
namespace that lives as long as this process, like a notebook's: variables, imports and functions
stay for the next cell. When the cell's last statement is an expression, its value's repr() is
the cell's value. Open matplotlib figures are saved as PNG and closed after each cell. stdout and
stderr are flushed before the answer, one JSON line on fd 4: status (0, 1 for an exception, or
SystemExit's code), value, the exception the cell raised (name, value, traceback), the results it
displayed (Jupyter's display-data: each display(obj), the trailing expression's value, the open
figures; each a map of MIME type to text or base64), figures (base64 PNG), and the cell's CPU time
and the peak RSS so far.

SIGINT interrupts the running cell (KeyboardInterrupt at its next bytecode), which the agent sends
at the cell's timeout, output cap or cancellation: the cell ends, the namespace stays. Between
cells SIGINT is ignored, so a late one cannot end the interpreter.
"""

import ast
import base64
import io
import json
import linecache
import os
import resource
import signal
import sys
import traceback

MAX_VALUE_CHARS = 65536
MAX_FIGURES = 16
MAX_RESULTS = 32
# Rich representations (HTML, SVG, JSON, base64 images) may be longer than a value's text.
MAX_RICH_CHARS = 8 * 1024 * 1024
# The representations Jupyter asks objects for, by method.
RICH_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_json_", "application/json"),
)


def clipped(text):
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "..."


def png_of_figure(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def representations(obj):
    """An object's representations by MIME type, as Jupyter's display machinery would ask for them."""
    data = {"text/plain": clipped(repr(obj))}
    for method, mime in RICH_METHODS:
        try:
            produce = getattr(obj, method, None)
            shown = produce() if callable(produce) else None
        except Exception:  # noqa: BLE001 - a representation that fails is left out, as Jupyter does
            continue
        if shown is None:
            continue
        if mime == "image/png":
            if not isinstance(shown, (bytes, bytearray)):
                continue
            shown = base64.b64encode(shown).decode()
        elif mime == "application/json":
            try:
                shown = json.dumps(shown)
            except (TypeError, ValueError):
                continue
        if isinstance(shown, str) and len(shown) <= MAX_RICH_CHARS:
            data[mime] = shown
    figure_type = getattr(sys.modules.get("matplotlib.figure"), "Figure", None)
    if figure_type is not None and isinstance(obj, figure_type) and "image/png" not in data:
        try:
            data["image/png"] = png_of_figure(obj)
        except Exception:  # noqa: BLE001 - a figure that cannot be drawn is shown as text
            pass
    if isinstance(obj, (dict, list)) and "application/json" not in data:
        try:
            text = json.dumps(obj)
            if len(text) <= MAX_RICH_CHARS:
                data["application/json"] = text
        except (TypeError, ValueError):
            pass
    return data


results = []


def display(*objects):
    """Shows objects in the cell's results, in order, as Jupyter's display() does."""
    for obj in objects:
        if len(results) < MAX_RESULTS:
            results.append({"data": representations(obj), "is_main_result": False})

workspace = sys.argv[1]
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, workspace)
sys.argv = ["main.py"]
namespace = {"__name__": "__main__", "__builtins__": __builtins__, "__doc__": None}
controls = os.fdopen(3, "rb")
answers = os.fdopen(4, "wb")


def run_cell(number, code):
    """Runs a cell; returns (status, value text or None)."""
    filename = f"<cell {number}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)
    if last is None:
        return 0, None
    result = eval(compile(last, filename, "eval"), namespace)
    if result is None:
        return 0, None
    namespace["_"] = result
    if len(results) < MAX_RESULTS:
        results.append({"data": representations(result), "is_main_result": True})
    return 0, clipped(repr(result))


def exit_status(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def figures():
    """PNGs of the figures the cell left open, which are then closed."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    pngs = []
    for number in pyplot.get_fignums()[:MAX_FIGURES]:
        figure = pyplot.figure(number)
        pngs.append(png_of_figure(figure))
        # Shown in the results too, as a notebook shows the figures a cell leaves open.
        if len(results) < MAX_RESULTS:
            results.append({"data": {"text/plain": clipped(repr(figure)), "image/png": pngs[-1]}, "is_main_result": False})
    pyplot.close("all")
    return pngs


def cells():
    for line in controls:
        yield json.loads(line)


signal.signal(signal.SIGINT, signal.SIG_IGN)
namespace["display"] = display


for count, cell in enumerate(cells(), start=1):
    before = resource.getrusage(resource.RUSAGE_SELF)
    saved_env = {}
    for entry in cell.get("env", []):
        name, _, value = entry.partition("=")
        saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value
    sys.argv = ["main.py", *cell.get("args", [])]
    sys.stdin = io.TextIOWrapper(io.BytesIO(base64.b64decode(cell.get("stdin", ""))))
    value = None
    raised = None
    results.clear()
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            status, value = run_cell(count, cell["code"])
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except SystemExit as stop:
        status = exit_status(stop.code)
    except BaseException as error:  # noqa: BLE001 - the cell's own failure, shown as Python shows it
        status = 1
        trace = error.__traceback__
        # Without this interpreter's own frames (run_cell and the module around it).
        while trace is not None and not trace.tb_frame.f_code.co_filename.startswith("<cell"):
            trace = trace.tb_next
        formatted = "".join(traceback.format_exception(type(error), error, trace))
        sys.stderr.write(formatted)
        try:
            text = str(error)
        except Exception:  # noqa: BLE001 - an exception whose str() fails still has a name
            text = ""
        raised = {"name": type(error).__name__, "value": clipped(text), "traceback": clipped(formatted)}
    for name, previous in saved_env.items():
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous
    try:
        pngs = figures()
    except Exception:  # noqa: BLE001 - a figure that cannot be drawn is the cell's problem
        traceback.print_exc()
        pngs = []
    sys.stdout.flush()
    sys.stderr.flush()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    answer = {
        "status": status,
        "value": value,
        "exception": raised,
        "results": results,
        "figures": pngs,
        "cpu_ns": int(cpu * 1e9),
        "peak_rss": after.ru_maxrss * 1024,
    }
    answers.write(json.dumps(answer).encode() + b"\n")
    answers.flush()
