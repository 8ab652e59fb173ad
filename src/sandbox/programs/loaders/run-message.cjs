// The run message, as Aurea's Node.js loaders read it (node.cjs, tsc.cjs): this text goes before
// each loader's own in its `node -e` (sandbox-scripts.ts), so the two read it one way. Its layout
// is in loaders/python.py.
"use strict";

/**
 * Blocks opening GO_FIFO until the supervisor has put the workspace in place, then reads one run
 * message from stdin, exactly: what follows it is the program's stdin. Returns its arguments, its
 * environment's NAME=value entries, and the code it carries (bytes) or undefined.
 */
function readRunMessage(goFifo) {
  const fs = require("fs");
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
  const message = exactly(Number(length));
  const fields = [];
  for (let start = 0, end = message.indexOf(0); end >= 0; start = end + 1, end = message.indexOf(0, start)) {
    fields.push(message.subarray(start, end));
  }
  const text = (field) => field.toString("utf8");
  const nargs = Number(text(fields[0]));
  const nenv = Number(text(fields[1 + nargs]));
  return {
    args: fields.slice(1, 1 + nargs).map(text),
    env: fields.slice(2 + nargs, 2 + nargs + nenv).map(text),
    code: text(fields[2 + nargs + nenv]) === "1" ? fields[3 + nargs + nenv] : undefined,
  };
}
