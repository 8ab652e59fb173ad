/**
 * Interpreters started ahead of time in warm containers, waiting for their program.
 *
 * A warm container's supervisor starts the language's loader in the background at container
 * start; the loader blocks opening a FIFO. When a run arrives, the supervisor extracts the
 * workspace and writes "go" into the FIFO; the loader then reads one message from stdin (a length
 * line, then NUL-terminated fields: the argument count, the arguments, the environment count, the
 * NAME=value entries, and "1" with the program's code or "0"), writes the code file when the
 * message carries it (a run with no other files skips the archive and its two processes), sets
 * argv and the environment, and runs the program as its main module.
 * Everything after the message on stdin is the program's own stdin. Starting the interpreter is
 * most of a small run's cost (Node takes about 70 ms here), and this moves it out of the run.
 */

/** The FIFO the supervisor and the loader meet at. */
export const goFifo = "/tmp/.aurea-go";

/**
 * Written by a loader on stdout once its interpreter is up, just before it waits on the FIFO: the
 * pool hands out a container only after reading it. Nothing else is written before a run.
 */
export const readyMarker = "\0aurea-ready\n";

const pythonLoader = `
import os, sys
os.write(1, ${JSON.stringify(readyMarker)}.encode())
with open(${JSON.stringify(goFifo)}, "rb") as go:
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
while not length.endswith(b"\\n"):
    length += exactly(1)
fields = exactly(int(length)).split(b"\\0")[:-1]
nargs = int(fields[0])
sys.argv = ["main.py"] + [field.decode("utf-8", "surrogateescape") for field in fields[1 : 1 + nargs]]
nenv = int(fields[1 + nargs])
for entry in fields[2 + nargs : 2 + nargs + nenv]:
    name, _, value = entry.decode("utf-8", "surrogateescape").partition("=")
    os.environ[name] = value
if fields[2 + nargs + nenv] == b"1":
    with open("main.py", "wb") as code:
        code.write(fields[3 + nargs + nenv])
sys.path[0] = "/workspace"
def hide_loader(kind, value, trace):
    import traceback
    traceback.print_exception(kind, value, trace.tb_next if trace is not None and trace.tb_next is not None else trace)
sys.excepthook = hide_loader
with open("main.py", "rb") as source:
    program = compile(source.read(), "main.py", "exec")
del go, exactly, length, fields, nargs, nenv, source, hide_loader
exec(program, {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__, "__doc__": None, "__package__": None, "__spec__": None, "__loader__": None})
`;

const nodeLoader = `
const fs = require("fs");
{
  fs.writeSync(1, ${JSON.stringify(readyMarker)});
  const go = fs.openSync(${JSON.stringify(goFifo)}, "r");
  fs.readSync(go, Buffer.alloc(3));
  fs.closeSync(go);
  const exactly = (count) => {
    const data = Buffer.alloc(count);
    for (let offset = 0; offset < count; ) {
      const read = fs.readSync(0, data, offset, count - offset, null);
      if (read === 0) throw new Error("aurea: the run message ended early");
      offset += read;
    }
    return data;
  };
  let length = "";
  for (let byte = exactly(1)[0]; byte !== 10; byte = exactly(1)[0]) length += String.fromCharCode(byte);
  const fields = exactly(Number(length)).toString("utf8").split("\\0").slice(0, -1);
  const nargs = Number(fields[0]);
  process.argv = [process.argv[0], "/workspace/main.js", ...fields.slice(1, 1 + nargs)];
  const nenv = Number(fields[1 + nargs]);
  for (const entry of fields.slice(2 + nargs, 2 + nargs + nenv)) {
    const split = entry.indexOf("=");
    process.env[entry.slice(0, split)] = entry.slice(split + 1);
  }
  if (fields[2 + nargs + nenv] === "1") fs.writeFileSync("main.js", fields[3 + nargs + nenv]);
}
// Loaded as the main module directly: runMain() would first set up the ESM loader, asynchronously.
require("module")._load("/workspace/main.js", null, true);
`;

const bashLoader = `
printf '\\0aurea-ready\\n'
read -r _ < ${goFifo}
IFS= read -r _length
IFS= read -r -d '' count
args=()
for ((i = 0; i < count; i++)); do IFS= read -r -d '' value; args+=("$value"); done
IFS= read -r -d '' count
for ((i = 0; i < count; i++)); do IFS= read -r -d '' entry; export "$entry"; done
IFS= read -r -d '' inline
if [ "$inline" = 1 ]; then IFS= read -r -d '' code; printf '%s' "$code" > main.sh; fi
unset i count value entry _length inline code
exec bash main.sh "\${args[@]}"
`;

/** argv of each language's loader, by language name. */
export const warmLoaders: Readonly<Record<string, readonly string[]>> = {
  python: ["python3", "-u", "-c", pythonLoader],
  javascript: ["node", "-e", nodeLoader],
  bash: ["bash", "-c", bashLoader],
};

/**
 * The message a warm loader reads before the program's stdin; `code`, when given, is written to
 * the code file by the loader instead of coming in the archive.
 */
export function warmRunMessage(args: readonly string[], env: readonly string[], code?: string): Buffer {
  const fields = [String(args.length), ...args, String(env.length), ...env, ...(code === undefined ? ["0"] : ["1", code])];
  const payload = Buffer.concat(fields.map((field) => Buffer.from(`${field}\0`, "utf8")));
  return Buffer.concat([Buffer.from(`${payload.length}\n`, "ascii"), payload]);
}
