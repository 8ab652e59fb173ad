import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLabels } from "../../src/docker/container-options.js";
import { type RunningAurea, startAurea, useAurea } from "../support/aurea-server.js";
import { createGrpcSandboxClient, type GrpcResponse, type GrpcSandboxClient } from "../support/grpc-js-client.js";

/**
 * Warm compilers (a language's `compile.warm`): javac, kotlinc, scalac and tsc kept loaded in a
 * warm container that compiles once. Every compile is made twice, by a server with warm compilers
 * and by one without (WARM_POOL_SIZE=0, the cold command), and the compile's messages, exit status
 * and verdict and the program's result must be the same, byte for byte.
 */

const warm = useAurea({ WARM_POOL_SIZE: "1" });
let cold: RunningAurea;
let coldClient: GrpcSandboxClient;
beforeAll(async () => {
  cold = await startAurea();
  coldClient = createGrpcSandboxClient(cold.port);
});
afterAll(async () => {
  coldClient?.close();
  await cold?.stop();
});

/** The container the compile phase of `response`'s run had, from the server's audit line. */
function compileContainer(server: RunningAurea, response: GrpcResponse): unknown {
  const line = server
    .logs()
    .find((entry) => entry.run_id === response.run_id && entry.phase === "compile" && entry.msg === "run finished");
  return line?.container;
}

/**
 * Runs `request` on the warm server until its compile took a warm compiler (the first compile of
 * a language goes cold and makes the language's pool; its compiler then warms up in the background).
 */
async function warmCompiled(request: Record<string, unknown>): Promise<GrpcResponse> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const response = await warm.client.run(request);
    if (compileContainer(warm.current, response) === "warm") return response;
    if (Date.now() > deadline)
      throw new Error(`no warm compiler within 90 s (last compile: ${compileContainer(warm.current, response)})`);
    // Paced: cold compiles meanwhile take the CPU the warming compiler needs.
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** What a caller sees of a compile and its program. */
function seen(response: GrpcResponse) {
  const compile = response.compile as Record<string, unknown> | undefined;
  return {
    status: response.status,
    exit_code: response.exit_code,
    stdout: response.stdout,
    stderr: response.stderr,
    compile: {
      status: compile?.status,
      exit_code: compile?.exit_code,
      stdout: compile?.stdout,
      stderr: compile?.stderr,
    },
  };
}

const programs: Record<string, [string, Record<string, unknown>][]> = {
  java: [
    [
      "a warning note",
      {
        code: "import java.util.*;\npublic class Main {\n  public static void main(String[] a) {\n    List l = new ArrayList();\n    l.add(1);\n    System.out.println(l);\n  }\n}\n",
      },
    ],
    [
      "two errors",
      { code: 'public class Main {\n  public static void main(String[] a) {\n    int x = "s";\n    undefined();\n  }\n}\n' },
    ],
    [
      "a second file, compiled because Main uses it",
      {
        code: "public class Main {\n  public static void main(String[] a) {\n    System.out.println(Helper.hi());\n  }\n}\n",
        files: { "Helper.java": 'public class Helper {\n  static String hi() { return "hi from Helper"; }\n}\n' },
      },
    ],
    [
      "a syntax error",
      { code: 'public class Main {\n  public static void main(String[] a) {\n    System.out.println("x")\n  }\n' },
    ],
  ],
  kotlin: [
    ["a warning", { code: 'fun main() {\n    val unused = 1\n    println("w")\n}\n' }],
    ["two errors", { code: 'fun main() {\n    val x: Int = "s"\n    undefined()\n}\n' }],
  ],
  scala: [
    ["a warning", { code: 'object Main {\n  def main(args: Array[String]): Unit = {\n    1\n    println("w")\n  }\n}\n' }],
    [
      "two errors",
      { code: 'object Main {\n  def main(args: Array[String]): Unit = {\n    val x: Int = "s"\n    undefined()\n  }\n}\n' },
    ],
  ],
  typescript: [
    [
      "two errors and a missing module",
      {
        code: "import x from 'nothing';\nconst n: number = 'not';\nlet s: string = 5;\nconsole.log(n, s, x);\n",
      },
    ],
    ["a syntax error", { code: "const = ;\n" }],
    [
      "a second file, imported",
      {
        code: "import { hi } from './helper';\nconsole.log(hi('you'));\n",
        files: { "helper.ts": "export function hi(name: string): string {\n  return `hi ${name}`;\n}\n" },
      },
    ],
  ],
};

describe("a warm compiler compiles exactly as the compiler's own command does", () => {
  for (const [language, extra] of Object.entries(programs)) {
    describe(language, () => {
      const cases: [string, Record<string, unknown>][] = [["hello world", {}], ["the compile error example", {}], ...extra];
      it.each(cases)(
        "%s",
        async (name, request) => {
          const examples = await exampleCode(language);
          const code =
            name === "hello world" ? examples.hello : name === "the compile error example" ? examples.compileError : request.code;
          const full = { ...request, language, code };
          const warmResponse = await warmCompiled(full);
          const coldResponse = await coldClient.run(full);
          expect(compileContainer(cold, coldResponse)).toBe("cold");
          expect(seen(warmResponse)).toEqual(seen(coldResponse));
          if (name === "hello world") expect(warmResponse.status).toBe("RUN_STATUS_OK");
          if (name === "the compile error example") expect(warmResponse.status).toBe("RUN_STATUS_COMPILE_ERROR");
        },
        180_000,
      );
    });
  }
});

describe("under gVisor, a warm compiler compiles exactly as the compiler's own command does", () => {
  it.each(Object.keys(programs))(
    "%s: hello world and the compile error example",
    async (language) => {
      const examples = await exampleCode(language);
      for (const code of [examples.hello, examples.compileError]) {
        const request = { language, code, runtime: "runsc" };
        const warmResponse = await warmCompiled(request);
        const coldResponse = await coldClient.run(request);
        expect(seen(warmResponse)).toEqual(seen(coldResponse));
      }
    },
    300_000,
  );
});

describe("a warm compiler's limits and isolation", () => {
  it("serves one compile: its container is removed after it, and the next compile gets another", async () => {
    const hello = (await exampleCode("java")).hello;
    await warmCompiled({ language: "java", code: hello });
    const docker = new Docker();
    // Java's loaded compilers under runc (the gVisor tests above left theirs, and a run with its
    // own environment gets the exec loader's).
    const javaCompilers = async () => {
      const listed = await docker.listContainers({ filters: { label: [`${containerLabels.warmFor}=java:compile`] } });
      const found = await Promise.all(
        listed.map((c) =>
          docker
            .getContainer(c.Id)
            .inspect()
            .catch(() => undefined),
        ),
      );
      return found
        .filter((c) => c?.HostConfig.Runtime === "runc" && c.Config.Cmd?.includes("aurea-compiler-loader"))
        .map((c) => c!.Id);
    };
    const deadline = Date.now() + 90_000;
    for (;;) {
      const before = await javaCompilers();
      const response = await warm.client.run({ language: "java", code: hello });
      if (compileContainer(warm.current, response) === "warm") {
        // The pool holds one: the one waiting before is the one that compiled, and it is gone.
        expect(before).toHaveLength(1);
        await expect.poll(async () => (await javaCompilers()).includes(before[0]!), { timeout: 10_000 }).toBe(false);
        break;
      }
      if (Date.now() > deadline) throw new Error("no warm compile within 90 s");
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }, 180_000);

  it("starts the compiler for a run with environment variables of its own, which a JVM reads when it starts", async () => {
    const hello = (await exampleCode("java")).hello;
    await warmCompiled({ language: "java", code: hello });
    // Warm or not, the container's loader starts javac itself, in the run's environment: the JVM
    // says it picked the variable up, which a loaded compiler's JVM never could.
    const withEnv = await warm.client.run({ language: "java", code: hello, env: { JAVA_TOOL_OPTIONS: "-Xshare:auto" } });
    expect(withEnv.status).toBe("RUN_STATUS_OK");
    expect(withEnv.compile as Record<string, unknown>).toMatchObject({
      stderr: expect.stringContaining("Picked up JAVA_TOOL_OPTIONS: -Xshare:auto"),
    });
  }, 180_000);

  it("lowers a warm compiler's memory for a compile that asks for less, and the compile still succeeds", async () => {
    const hello = (await exampleCode("typescript")).hello;
    await warmCompiled({ language: "typescript", code: hello });
    const lower = await warmCompiled({ language: "typescript", code: hello, compile_memory_bytes: String(512 * 2 ** 20) });
    expect(lower).toMatchObject({ status: "RUN_STATUS_OK", compile: { status: "RUN_STATUS_OK" } });
    expect((lower.compile as { limits: { memory_bytes: string } }).limits.memory_bytes).toBe(String(512 * 2 ** 20));
  }, 180_000);
});

async function exampleCode(language: string): Promise<{ hello: string; compileError: string }> {
  const { loadLanguageRegistry } = await import("../../src/runner/languages.js");
  const found = loadLanguageRegistry().find(language);
  if (!found?.examples.compileError) throw new Error(`${language} has no compile error example`);
  return { hello: found.examples.hello.code, compileError: found.examples.compileError.code };
}
