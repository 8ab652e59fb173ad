// Aurea's stateful JavaScript interpreter for sessions (CreateSession with stateful: true).
//
// Started by the session agent (sandbox/programs/session-agent/) as the program's user:
//     node -e "<this file>" WORKSPACE
// It reads one cell per line on fd 3 (JSON: code, args, env, stdin in base64) and runs each as a
// script in this process's global scope, as Node's REPL does: top-level declarations, globals
// and required modules stay for the next cell. The script's completion value (the value of its
// last expression statement), awaited when it is a promise, is the cell's value, shown with
// util.inspect. Output is flushed (writes to pipes are synchronous on Linux) before the answer, one
// JSON line on fd 4: status (0, or 1 for an exception), value, the exception the cell threw (name,
// message, stack), the results it displayed (each display(value), then the completion value: a map
// of MIME type to text, text/plain and application/json for what JSON can carry), the cell's CPU
// time and peak RSS.
//
// SIGINT interrupts the running cell, which the agent sends at the cell's timeout, output cap or
// cancellation: synchronous code stops where it is (vm's breakOnSigint), a promise the cell
// awaits is abandoned; the global scope stays. Between cells SIGINT does nothing.
"use strict";

// Everything of the kernel's own is inside this function: `node -e` runs its text in the global
// scope, where the cells' top-level declarations live too.
(() => {
  const fs = require("fs");
  const path = require("path");
  const util = require("util");
  const vm = require("vm");

  const maxValueChars = 65536;
  const workspace = process.argv[1];
  globalThis.require = require("module").createRequire(path.join(workspace, "main.js"));
  globalThis.module = { exports: {} };
  process.argv = [process.argv[0], path.join(workspace, "main.js")];

  // A cell's stdin: fd 0 and /dev/stdin read it, as a program's own stdin would.
  let cellStdin = Buffer.alloc(0);
  const stdinNames = new Set([0, "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"]);
  const { readFileSync } = fs;
  fs.readFileSync = (file, ...rest) => {
    if (!stdinNames.has(file)) return readFileSync(file, ...rest);
    const encoding = typeof rest[0] === "string" ? rest[0] : rest[0]?.encoding;
    return encoding ? cellStdin.toString(encoding) : Buffer.from(cellStdin);
  };

  // What SIGINT does now: abandon the promise the running cell awaits, or nothing.
  let interruptAwait = () => undefined;
  process.on("SIGINT", () => interruptAwait());

  const maxResults = 32;
  const maxRichChars = 8 * 1024 * 1024;
  let results = [];
  const representations = (shown) => {
    const data = { "text/plain": clip(util.inspect(shown)) };
    if (shown !== null && typeof shown === "object") {
      try {
        const json = JSON.stringify(shown);
        if (json !== undefined && json.length <= maxRichChars) data["application/json"] = json;
      } catch {
        // A cycle or a BigInt: shown as text only.
      }
    }
    return data;
  };
  const addResult = (shown, main) => {
    if (results.length < maxResults) results.push({ data: representations(shown), is_main_result: main });
  };
  // display(value, ...): shows values in the cell's results, in order, as Jupyter's display() does.
  globalThis.display = (...values) => {
    for (const shown of values) addResult(shown, false);
  };

  const clip = (text) => (text.length <= maxValueChars ? text : `${text.slice(0, maxValueChars)}...`);

  function cpuNs() {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) * 1000;
  }

  async function runCell(number, cell) {
    const saved = new Map();
    for (const entry of cell.env ?? []) {
      const split = entry.indexOf("=");
      const name = entry.slice(0, split);
      if (!saved.has(name)) saved.set(name, process.env[name]);
      process.env[name] = entry.slice(split + 1);
    }
    process.argv = [process.argv[0], path.join(workspace, "main.js"), ...(cell.args ?? [])];
    cellStdin = Buffer.from(cell.stdin ?? "", "base64");
    results = [];
    let status = 0;
    let value = null;
    let exception = null;
    try {
      let result = vm.runInThisContext(cell.code, { filename: `cell-${number}`, breakOnSigint: true });
      if (result && typeof result.then === "function") {
        const interrupted = new Promise((_, reject) => {
          interruptAwait = () => reject(new Error("Cell interrupted while awaiting a promise."));
        });
        try {
          result = await Promise.race([result, interrupted]);
        } finally {
          interruptAwait = () => undefined;
        }
      }
      if (result !== undefined) {
        value = clip(util.inspect(result));
        addResult(result, true);
      }
    } catch (error) {
      status = 1;
      const isError = error instanceof Error;
      const stack = isError && error.stack ? error.stack : `Uncaught ${util.inspect(error)}`;
      process.stderr.write(`${stack}\n`);
      exception = {
        name: isError ? error.name : typeof error,
        value: clip(isError ? error.message : util.inspect(error)),
        traceback: clip(stack),
      };
    }
    for (const [name, previous] of saved) {
      if (previous === undefined) delete process.env[name];
      else process.env[name] = previous;
    }
    return { status, value, exception, results };
  }

  async function main() {
    const controls = fs.createReadStream(null, { fd: 3 });
    let buffered = "";
    let number = 0;
    for await (const chunk of controls) {
      buffered += chunk.toString("utf8");
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        number += 1;
        const before = cpuNs();
        const { status, value, exception, results: shown } = await runCell(number, JSON.parse(line));
        const answer = {
          status,
          value,
          exception,
          results: shown,
          figures: [],
          cpu_ns: Math.round(cpuNs() - before),
          peak_rss: process.resourceUsage().maxRSS * 1024,
        };
        fs.writeSync(4, `${JSON.stringify(answer)}\n`);
        newline = buffered.indexOf("\n");
      }
    }
  }

  // An exception or rejection a cell left behind (a timer, a promise nobody awaited) is reported
  // on stderr and the interpreter goes on, as Node's REPL does.
  process.on("uncaughtException", (error) => process.stderr.write(`Uncaught ${error && error.stack ? error.stack : error}\n`));
  process.on("unhandledRejection", (error) => process.stderr.write(`Unhandled rejection: ${error && error.stack ? error.stack : error}\n`));
  main();
})();
