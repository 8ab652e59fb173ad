import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import { noContainersWithin, removalBoundMs } from "../support/containers.js";
import { javaHeapBomb } from "../support/hostile-programs.js";

/**
 * The compile phase: a compiler in a sandbox of its own, with its own limits and output, and what
 * it made as the program's workspace; and the limits of each phase holding for real.
 */

const server = useAurea();
const mebibyte = 1024 * 1024;

describe("the compile phase", () => {
  it("returns the compiler's output apart from the program's, with the limits each phase had", async () => {
    const response = await server.client.run({
      language: "c",
      // -Wall warns about the unused variable on the compiler's stderr; the program prints its own.
      code: '#include <stdio.h>\nint main(void) { int unused; puts("ran"); fprintf(stderr, "program stderr\\n"); return 0; }',
      limits: { memory_bytes: String(64 * mebibyte) },
      compile_memory_bytes: String(512 * mebibyte),
      compile_timeout: 20,
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "ran\n", stderr: "program stderr\n", timeout: 30 });
    expect(response.limits).toMatchObject({ memory_bytes: String(64 * mebibyte) });
    expect(response.compile).toMatchObject({
      status: "RUN_STATUS_OK",
      exit_code: 0,
      stdout: "",
      timeout: 20,
      limits: { memory_bytes: String(512 * mebibyte), pids: "64" },
    });
    expect((response.compile as { stderr: string }).stderr).toMatch(/warning: unused variable .unused./);
  });

  it("never runs a program that does not compile, and says COMPILE_ERROR with the compiler's diagnostics", async () => {
    const response = await server.client.run({ language: "rust", code: 'fn main() { let x: i32 = "text"; println!("never"); }' });
    expect(response).toMatchObject({ status: "RUN_STATUS_COMPILE_ERROR", success: false, exit_code: -1, stdout: "", stderr: "" });
    expect(response.compile).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 1 });
    expect((response.compile as { stderr: string }).stderr).toMatch(/error\[E0308\]: mismatched types/);
  });

  it("stops a C++ template bomb at the compile timeout: COMPILE_ERROR, the compile phase's verdict naming the limit", async () => {
    // Each level doubles a parameter pack: 2^28 types if the compiler were let finish.
    const bomb = [
      "template <class... T> struct List {};",
      "template <int N, class... T> struct Grow { using type = typename Grow<N - 1, T..., T...>::type; };",
      "template <class... T> struct Grow<0, T...> { using type = List<T...>; };",
      "Grow<28, int>::type boom;",
      "int main() {}",
    ].join("\n");
    const started = performance.now();
    const response = await server.client.run({ language: "cpp", code: bomb, compile_timeout: 3 });
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(response.status).toBe("RUN_STATUS_COMPILE_ERROR");
    const compile = response.compile as { status: string; timeout: number };
    expect(["RUN_STATUS_TIMEOUT", "RUN_STATUS_MEMORY_LIMIT"]).toContain(compile.status);
    expect(compile.timeout).toBe(3);
  }, 60_000);

  it("keeps the run's limits for the program: a compiled program past its memory limit ends MEMORY_LIMIT", async () => {
    const response = await server.client.run({
      language: "c",
      code: "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 3; memset(p, 1, 1 << 20); } }",
      limits: { memory_bytes: String(64 * mebibyte) },
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_MEMORY_LIMIT", compile: { status: "RUN_STATUS_OK" } });
  });

  it("ends MEMORY_LIMIT for a Java program whose heap outgrows the memory limit, not a crash or INTERNAL", async () => {
    const code = javaHeapBomb;
    for (const runtime of ["runc", "runsc"]) {
      const response = await server.client.run({
        language: "java",
        code,
        runtime,
        limits: { memory_bytes: String(256 * mebibyte) },
      });
      expect(response.status, `${runtime}: ${response.stderr}`).toBe("RUN_STATUS_MEMORY_LIMIT");
      expect(response.limits_hit, runtime).toContain("LIMIT_MEMORY");
    }
  }, 120_000);

  it("refuses compile limits above the server's maxima, naming the field", async () => {
    const error = (await server.client
      .run({ language: "go", code: "package main\nfunc main() {}", compile_timeout: 3600 })
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/^compile_timeout: 3600 s is above the maximum of 60 s/);
  });

  it("streams a compiled run: started, then only the program's output, then the result with the compile phase", async () => {
    const stream = server.client.runStream({
      language: "go",
      code: 'package main\nimport "fmt"\nfunc main() { fmt.Println("streamed") }',
    });
    await stream.done;
    const events = stream.messages.map(({ message }) => message.event);
    expect(events[0]).toBe("started");
    expect(events.at(-1)).toBe("result");
    expect(events.filter((event) => event === "started")).toHaveLength(1);
    const output = stream.messages
      .filter(({ message }) => message.event === "stdout")
      .map(({ message }) => String(message.stdout));
    expect(output.join("")).toBe("streamed\n");
    expect(stream.messages.at(-1)?.message.result).toMatchObject({
      status: "RUN_STATUS_OK",
      compile: { status: "RUN_STATUS_OK" },
    });
  });

  it.each(["runc", "runsc"] as const)(
    "is cancelled during the compile under %s, and leaves no container",
    async (runtime) => {
      const call = server.client.startRun({ language: "kotlin", code: 'fun main() { println("never") }', runtime });
      await expect.poll(() => server.current.load().started, { timeout: 30_000 }).toBe(1);
      call.cancel();
      const error = (await call.response.catch((e: unknown) => e)) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.CANCELLED);
      await expect.poll(() => server.current.load().running, { timeout: 10_000 }).toBe(0);
      expect(await noContainersWithin(removalBoundMs[runtime])).toBeLessThan(removalBoundMs[runtime]);
    },
    120_000,
  );
});

describe("the Python data stack", () => {
  it("saves a matplotlib plot that comes back as a PNG artifact, with numpy, pandas, scipy, sympy and pillow importable", async () => {
    const code = [
      "import numpy as np, pandas as pd, scipy, sympy, PIL",
      "import matplotlib.pyplot as plt",
      "frame = pd.DataFrame({'x': np.arange(10), 'y': np.arange(10) ** 2})",
      "frame.plot(x='x', y='y')",
      "plt.savefig('plot.png')",
      "print(frame['y'].sum(), sympy.factor('x**2 - 1'))",
    ].join("\n");
    const response = await server.client.run({ language: "python-data", code, capture_artifacts: true });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "285 (x - 1)*(x + 1)\n" });
    const png = (response.binary_artifacts as Record<string, Buffer>)["plot.png"];
    expect(png?.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // matplotlib's cache went to the tmpfs, not into the workspace's artifacts.
    expect(Object.keys(response.artifacts as object)).toEqual([]);
    expect(Object.keys(response.binary_artifacts as object)).toEqual(["plot.png"]);
  }, 60_000);
});
