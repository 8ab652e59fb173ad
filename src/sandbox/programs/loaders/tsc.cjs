// Aurea's warm loader for TypeScript's compiler: Node.js and the compiler are started ahead of
// time, the compiler compiles a small program of its own (parsing the standard library's and
// @types' declaration files, which is most of a small compile's time), and waits here.
//
// Started as: node -e "<run-message.cjs><this file>" GO_FIFO CODE_FILE READY_TAG TYPESCRIPT_DIR WARM_UP_SOURCE
//             [ARGUMENT...]
// (values from src/sandbox/supervisor-protocol.ts and the language's data file; nothing is
// interpolated into this text). The ARGUMENTs are tsc's own, as the cold compile command passes
// them (the code file among them); TYPESCRIPT_DIR is the package whose bin/tsc that command runs.
//
// It writes NUL READY_TAG newline on stdout, blocks opening GO_FIFO until the supervisor has put
// the workspace in place, reads one run message from stdin (see loaders/python.py for its layout),
// writes the code file when the message carries it, and compiles the way tsc does a compile of
// files named on its command line (executeCommandLineWorker, then performCompilation, in
// TypeScript's src/tsc): the same program, the same diagnostics reporter and the same exit
// status. What differs is only that declaration files outside the workspace and the temporary
// directories (the image's own, which nobody can change) are parsed once, in the warm-up, and
// shared with the compile: what TypeScript's language service does between programs. Anything
// but a plain compile (a tsconfig project, --build, --watch, --pretty, statistics, help) runs
// tsc itself, in this process. Each container compiles once: nothing of one compile reaches
// another's.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

const [goFifo, codeFile, readyTag, typescriptDir, warmUpSource, ...args] = process.argv.slice(1);
const ts = require(path.join(typescriptDir, "lib", "typescript.js"));

/** The parsed command line when it asks for a plain compile of named files, else undefined. */
function plainCompile() {
  const commandLine = ts.parseCommandLine(args, (file) => ts.sys.readFile(file));
  const { options, fileNames, errors } = commandLine;
  const special = [
    "build", "watch", "project", "init", "version", "help", "all", "showConfig", "listFilesOnly", "locale",
    "incremental", "composite", "pretty", "diagnostics", "extendedDiagnostics", "generateTrace", "generateCpuProfile",
  ];
  if (errors.length > 0 || fileNames.length === 0 || special.some((name) => options[name] !== undefined)) return undefined;
  if (ts.sys.writeOutputIsTTY?.()) return undefined;
  return commandLine;
}

/** Parsed declaration files from outside the places a run can write, shared between programs. */
const sharedFiles = new Map();
const writable = [os.tmpdir(), "/tmp", "/dev/shm", "/var/tmp"];

function isShareable(fileName, currentDirectory) {
  const under = (directory) => fileName === directory || fileName.startsWith(`${directory}/`);
  return fileName.endsWith(".d.ts") && !under(currentDirectory) && !writable.some(under);
}

/** tsc's compile of `commandLine` in `currentDirectory` (its performCompilation); returns its exit status. */
function compile(commandLine, currentDirectory, write) {
  const options = ts.convertToOptionsWithAbsolutePaths(commandLine.options, (file) =>
    ts.getNormalizedAbsolutePath(file, currentDirectory),
  );
  const host = ts.createCompilerHostWorker(options, undefined, ts.sys);
  host.getCurrentDirectory = () => currentDirectory;
  host.jsDocParsingMode = ts.JSDocParsingMode.ParseForTypeErrors;
  const getCanonicalFileName = ts.createGetCanonicalFileName(host.useCaseSensitiveFileNames());
  ts.changeCompilerHostLikeToUseCache(host, (file) => ts.toPath(file, currentDirectory, getCanonicalFileName));
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreateNewSourceFile) => {
    if (shouldCreateNewSourceFile || !isShareable(fileName, currentDirectory)) {
      return getSourceFile(fileName, languageVersionOrOptions, onError, shouldCreateNewSourceFile);
    }
    const key = JSON.stringify([fileName, languageVersionOrOptions]);
    let file = sharedFiles.get(key);
    if (file === undefined) {
      file = getSourceFile(fileName, languageVersionOrOptions, onError, shouldCreateNewSourceFile);
      if (file !== undefined) sharedFiles.set(key, file);
    }
    return file;
  };
  const program = ts.createProgram({
    rootNames: commandLine.fileNames,
    options,
    projectReferences: commandLine.projectReferences,
    host,
    configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(commandLine),
  });
  const report = ts.createDiagnosticReporter(ts.sys, false);
  return ts.emitFilesAndReportErrorsAndGetExitStatus(program, report, (text) => write(text + ts.sys.newLine), undefined);
}

/**
 * Compiles WARM_UP_SOURCE under the code file's name in a directory of its own, twice. It must
 * succeed silently: anything it prints comes before the ready marker, which the pool refuses.
 */
function warmUp(commandLine) {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "aurea-compiler-warm-up-"));
  try {
    fs.writeFileSync(path.join(directory, codeFile), warmUpSource);
    for (let round = 0; round < 2; round++) {
      const { sys } = ts;
      const write = sys.write;
      let printed = "";
      sys.write = (text) => {
        printed += text;
      };
      let status;
      try {
        const inDirectory = commandLine.fileNames.map((file) => path.resolve(directory, file));
        status = compile({ ...commandLine, fileNames: inDirectory }, directory, sys.write);
      } finally {
        sys.write = write;
      }
      if (status !== 0 || printed !== "") throw new Error(`aurea: the warm-up compile exited ${status}: ${printed}`);
    }
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

const commandLine = plainCompile();
if (commandLine) warmUp(commandLine);
fs.writeSync(1, `\0${readyTag}\n`);
// readRunMessage: loaders/run-message.cjs, whose text comes before this file's. A compile takes
// no arguments, and the environment was the loader's own from its start (compile-phase.ts).
const { code } = readRunMessage(goFifo);
if (code !== undefined) fs.writeFileSync(codeFile, code);
if (commandLine) {
  ts.sys.setBlocking?.();
  ts.sys.exit(compile(commandLine, ts.sys.getCurrentDirectory(), ts.sys.write));
} else {
  // tsc itself, as its bin/tsc starts it, on this command line.
  process.argv = [process.argv[0], path.join(typescriptDir, "bin", "tsc"), ...args];
  require(path.join(typescriptDir, "lib", "tsc.js"));
}
