// Aurea's warm loader for Node.js: the runtime is started ahead of time and waits here.
//
// Started as: node --snapshot-blob SNAPSHOT -e "<run-message.cjs><this file>" GO_FIFO WORKSPACE
// CODE_FILE READY_TAG
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
  // readRunMessage: loaders/run-message.cjs, whose text comes before this file's.
  const { args, env, code } = readRunMessage(goFifo);
  for (const entry of env) {
    const split = entry.indexOf("=");
    process.env[entry.slice(0, split)] = entry.slice(split + 1);
  }
  if (code !== undefined) fs.writeFileSync(codeFile, code);
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
// As `node main.js` has them: none. The loader's own options (its text, the startup snapshot)
// are not the program's, and child_process.fork passes these on to every child.
process.execArgv = [];
// Loaded as the main module directly: runMain() would first set up the ESM loader, asynchronously.
require("module")._load(run.main, null, true);
