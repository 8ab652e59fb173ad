import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import type { GrpcResponse } from "../support/grpc-js-client.js";
import { postJson, runPath } from "../support/http-json.js";

const server = useAurea({
  SANDBOX_ARTIFACT_MAX_FILES: "5",
  SANDBOX_ARTIFACT_MAX_FILE_SIZE: "64k",
  SANDBOX_ARTIFACT_MAX_TOTAL_SIZE: "160k",
  SANDBOX_WORKSPACE_FILES: "256",
});

const python = (lines: string[]) => ({ language: "python", code: lines.join("\n"), capture_artifacts: true });
const skipped = (response: GrpcResponse) =>
  (response.skipped_artifacts as { name: string; reason: string }[]).map(({ name, reason }) => `${reason} ${name}`);

describe("files in", () => {
  it("runs a multi-file Python project that imports its own package", async () => {
    const response = await server.client.run({
      language: "python",
      code: "from app.core import answer\nfrom app import util\nprint(answer(), util.NAME)",
      files: {
        "app/__init__.py": "",
        "app/core.py": "from app.util import double\ndef answer():\n    return double(21)\n",
        "app/util.py": "NAME = 'util'\ndef double(x):\n    return 2 * x\n",
      },
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "42 util\n" });
  });

  it("takes text files as the original JSON API sent them", async () => {
    const reply = await postJson(server.current.baseUrl, runPath, {
      code: "print(open('data.txt').read())",
      language: "python",
      files: { "data.txt": "from json" },
    });
    expect(reply.body).toMatchObject({ status: "RUN_STATUS_OK", stdout: "from json\n" });
  });

  it("takes binary files byte for byte and returns binary artifacts the same way", async () => {
    const input = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const response = await server.client.run({
      ...python(["data = open('in.bin', 'rb').read()", "open('out.bin', 'wb').write(data[::-1])", "print(len(data))"]),
      binary_files: { "in.bin": input },
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "256\n", artifacts: {} });
    expect([...(response.binary_artifacts as Record<string, Buffer>)["out.bin"]!]).toEqual([...input].reverse());
  });

  it("answers INVALID_ARGUMENT naming the file for every kind of bad name, before anything runs", async () => {
    const cases: [Record<string, string>, string][] = [
      [{ "/etc/passwd": "x" }, 'files["/etc/passwd"]: name is an absolute path'],
      [{ "../escape.py": "x" }, 'files["../escape.py"]: name has a ".." segment'],
      [{ "a//b": "x" }, 'files["a//b"]: name has an empty path segment'],
      [{ "nul\u0000.txt": "x" }, "name contains a control character"],
      [{ "tab\t.txt": "x" }, "name contains a control character"],
      [{ ["x".repeat(300)]: "x" }, "name has a segment longer than 255 bytes"],
      [{ [`${"d/".repeat(600)}f`]: "x" }, "name is longer than 1024 bytes"],
      [{ "caf\u00e9": "1", "cafe\u0301": "2" }, "names the same file as"],
      [{ "main.py": "x" }, "collides with the code file main.py"],
    ];
    for (const [files, message] of cases) {
      const error = (await server.client
        .run({ language: "python", code: "print(1)", files })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(error.code, message).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.details).toContain(message);
    }
    const tooMany = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, ""]));
    const error = (await server.client
      .run({ language: "python", code: "1", files: tooMany })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/^files: has 300 entries; the workspace holds at most 255 files/);
    const tooBig = { big: "x".repeat(65 * 1024 * 1024) };
    const big = (await server.client
      .run({ language: "python", code: "1", files: tooBig })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    // Either Aurea's own check or the message-size bound refuses it; neither runs anything.
    expect([grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]).toContain(big.code);
  });
});

describe("artifacts out", () => {
  it("returns files created under sub-directories, and changed inputs, but not untouched inputs", async () => {
    const response = await server.client.run({
      ...python([
        "import os",
        "os.makedirs('out/plots', exist_ok=True)",
        "open('out/plots/data.csv', 'w').write('x,y\\n1,2\\n')",
        "open('changed.txt', 'a').write(' and more')",
      ]),
      files: { "changed.txt": "original", "untouched.txt": "same" },
    });
    expect(response.status).toBe("RUN_STATUS_OK");
    expect(response.artifacts).toEqual({ "out/plots/data.csv": "x,y\n1,2\n", "changed.txt": "original and more" });
    expect(response.skipped_artifacts).toEqual([]);
    expect(response.artifacts_truncated).toBe(false);
  });

  it("returns no artifacts unless asked", async () => {
    const response = await server.client.run({ language: "bash", code: "echo hi > made.txt" });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", artifacts: {}, binary_artifacts: {}, skipped_artifacts: [] });
  });

  it("returns artifacts of a program that failed", async () => {
    const response = await server.client.run({
      language: "bash",
      code: "echo partial > log.txt; exit 2",
      capture_artifacts: true,
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", artifacts: { "log.txt": "partial\n" } });
  });

  it("returns artifacts of a program killed for memory", async () => {
    const response = await server.client.run({
      ...python(["open('before.txt', 'w').write('saved')", "b = []", "while True: b.append(bytearray(8 << 20))"]),
      limits: { memory_bytes: String(64 << 20) },
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_MEMORY_LIMIT", artifacts: { "before.txt": "saved" } });
  });

  it("caps the count, reporting the rest", async () => {
    const response = await server.client.run(python(["for i in range(8): open(f'f{i}.txt', 'w').write(str(i))"]));
    expect(Object.keys(response.artifacts as object)).toHaveLength(5);
    expect(skipped(response).filter((entry) => entry.startsWith("ARTIFACT_SKIP_REASON_TOO_MANY"))).toHaveLength(3);
    expect(response.artifacts_truncated).toBe(true);
  });

  it("caps the size of one file without reading it, sparse files included", async () => {
    const started = performance.now();
    const response = await server.client.run(
      python([
        "open('big.bin', 'wb').write(b'x' * 100_000)",
        "with open('sparse.bin', 'wb') as f: f.truncate(60 * 1024 * 1024)",
        "open('small.txt', 'w').write('ok')",
      ]),
    );
    expect(response.artifacts).toEqual({ "small.txt": "ok" });
    expect(skipped(response).sort()).toEqual([
      "ARTIFACT_SKIP_REASON_TOO_LARGE big.bin",
      "ARTIFACT_SKIP_REASON_TOO_LARGE sparse.bin",
    ]);
    expect(response.artifacts_truncated).toBe(true);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it("refuses a 1 TB sparse file to the program itself (file size limit)", async () => {
    const response = await server.client.run(
      python([
        "import errno",
        "try:",
        "    open('huge', 'wb').truncate(10**12)",
        "except OSError as e:",
        "    print(errno.errorcode[e.errno])",
      ]),
    );
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "EFBIG\n" });
  });

  it("caps the total size", async () => {
    const response = await server.client.run(python(["for name in 'abc': open(name, 'wb').write(b'z' * 60_000)"]));
    expect(Object.keys({ ...(response.artifacts as object) }).sort()).toHaveLength(2);
    expect(skipped(response)).toHaveLength(1);
    expect(skipped(response)[0]).toMatch(/^ARTIFACT_SKIP_REASON_TOTAL_SIZE [abc]$/);
    expect(response.artifacts_truncated).toBe(true);
  });

  it("never follows a symlink, a FIFO or a second hard link", async () => {
    const response = await server.client.run({
      language: "bash",
      code: "ln -s /etc/passwd passwd; ln -s /workspace/x self; mkfifo pipe; echo data > real; ln real hard",
      capture_artifacts: true,
    });
    expect(response.status).toBe("RUN_STATUS_OK");
    const artifacts = response.artifacts as Record<string, string>;
    expect(Object.values(artifacts)).toEqual(["data\n"]);
    expect(JSON.stringify(response)).not.toContain("root:x:0:0");
    expect(skipped(response).sort()).toEqual(
      [
        "ARTIFACT_SKIP_REASON_SYMLINK passwd",
        "ARTIFACT_SKIP_REASON_SYMLINK self",
        "ARTIFACT_SKIP_REASON_SPECIAL_FILE pipe",
        `ARTIFACT_SKIP_REASON_HARD_LINK ${Object.keys(artifacts)[0] === "real" ? "hard" : "real"}`,
      ].sort(),
    );
    expect(response.artifacts_truncated).toBe(false);
  });
});

describe("a full workspace", () => {
  it("gives the program ENOSPC and a clear result, not a server error", async () => {
    const response = await server.client.run({
      ...python([
        "import errno",
        "try:",
        "    with open('fill', 'wb') as f:",
        "        for _ in range(100): f.write(b'x' * 1024 * 1024)",
        "except OSError as e:",
        "    print('write failed:', errno.errorcode[e.errno])",
      ]),
      capture_artifacts: false,
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "write failed: ENOSPC\n" });
  });

  it("runs out of files at SANDBOX_WORKSPACE_FILES with ENOSPC", async () => {
    const response = await server.client.run({
      language: "bash",
      code: "for i in $(seq 1000); do : > f$i || { echo stopped at $i; exit 9; }; done",
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 9 });
    expect(response.stderr).toContain("No space left on device");
  });
});

describe("isolation between runs", () => {
  it("a later run sees nothing an earlier run wrote to the workspace, /tmp or /dev/shm", async () => {
    const first = await server.client.run({
      language: "bash",
      code: "echo s > /workspace/left; echo s > /tmp/left; echo s > /dev/shm/left; ls /workspace /tmp /dev/shm | grep -c left",
    });
    expect(first.stdout).toBe("3\n");
    const second = await server.client.run({ language: "bash", code: "ls -A /workspace /tmp /dev/shm" });
    expect(second.stdout).not.toContain("left");
  });
});
