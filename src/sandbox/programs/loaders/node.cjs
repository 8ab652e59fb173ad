// Aurea's warm loader for Node.js: the runtime is started ahead of time and waits here.
//
// Started as: node -e "<this file>" GO_FIFO WORKSPACE CODE_FILE READY_TAG
// (values from src/sandbox/supervisor-protocol.ts; nothing is interpolated into this text).
//
// It writes NUL READY_TAG newline on stdout, blocks opening GO_FIFO until the supervisor has put
// the workspace in place, then reads one run message from stdin (see loaders/python.py for its
// layout), writes the code file when the message carries it, sets argv and the environment, and
// loads the program as the main module. Everything after the message is the program's stdin.
"use strict";

const fs = require("fs");
const path = require("path");

function receiveRun() {
  const [goFifo, workspace, codeFile, readyTag] = process.argv.slice(1, 5);
  fs.writeSync(1, `\0${readyTag}\n`);
  const go = fs.openSync(goFifo, "r");
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
  const fields = exactly(Number(length)).toString("utf8").split("\0").slice(0, -1);
  const nargs = Number(fields[0]);
  const args = fields.slice(1, 1 + nargs);
  const nenv = Number(fields[1 + nargs]);
  for (const entry of fields.slice(2 + nargs, 2 + nargs + nenv)) {
    const split = entry.indexOf("=");
    process.env[entry.slice(0, split)] = entry.slice(split + 1);
  }
  if (fields[2 + nargs + nenv] === "1") fs.writeFileSync(codeFile, fields[3 + nargs + nenv]);
  return { main: path.join(workspace, codeFile), args };
}

// Node cannot replace its fd 0 with a pipe of its own user's, so a program that opens its stdin by
// name (/dev/stdin, the container's stdin, root's pipe: EACCES) is given fd 0 itself, as it would
// have got by opening a pipe of its own.
function stdinByName() {
  const names = new Set(["/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"]);
  const byName = (file) => typeof file === "string" && names.has(file);
  const { openSync, readFileSync, createReadStream } = fs;
  fs.openSync = (file, ...rest) => (byName(file) ? 0 : openSync(file, ...rest));
  fs.readFileSync = (file, ...rest) => readFileSync(byName(file) ? 0 : file, ...rest);
  fs.createReadStream = (file, options) =>
    byName(file) ? createReadStream(null, { ...(typeof options === "string" ? { encoding: options } : options), fd: 0 }) : createReadStream(file, options);
}

const run = receiveRun();
stdinByName();
process.argv = [process.argv[0], run.main, ...run.args];
// Loaded as the main module directly: runMain() would first set up the ESM loader, asynchronously.
require("module")._load(run.main, null, true);
