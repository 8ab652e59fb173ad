import { afterAll, beforeAll, expect } from "vitest";
import { hostileSuite } from "../support/hostile-suite.js";

const secretName = "AUREA_ADVERSARIAL_SECRET";
const secretValue = "s3cr3t-only-the-server-knows";

// The secret is in the server's own environment (the test process is the server's process).
beforeAll(() => {
  process.env[secretName] = secretValue;
});
afterAll(() => {
  delete process.env[secretName];
});

hostileSuite("looking around", [
  {
    name: "cannot see the server's environment",
    request: {
      language: "python",
      code: [
        "import os, glob",
        "seen = ' '.join(f'{k}={v}' for k, v in os.environ.items())",
        "for path in glob.glob('/proc/*/environ'):",
        "    try: seen += open(path, 'rb').read().decode(errors='replace')",
        "    except OSError: pass",
        `print(${JSON.stringify(secretValue)} in seen, ${JSON.stringify(secretName)} in seen)`,
      ].join("\n"),
    },
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "False False\n" });
    },
  },
  {
    name: "finds no Docker socket or any other engine endpoint",
    request: {
      language: "bash",
      code: "for p in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock; do [ -e $p ] && echo found $p; done; echo searched",
    },
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "searched\n" });
    },
  },
  {
    name: "has a neutral host name",
    request: { language: "bash", code: "cat /etc/hostname; hostname" },
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "sandbox\nsandbox\n" });
    },
  },
  {
    name: "reads nothing from masked /proc and /sys files, the supervisor's memory included",
    request: {
      language: "python",
      code: [
        "for path in ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/1/mem', '/proc/1/task/1/mem']:",
        "    try:",
        "        with open(path, 'rb') as f: data = f.read(64)",
        "        print(path, len(data))",
        "    except OSError as e:",
        "        print(path, 'refused')",
      ].join("\n"),
    },
    check(response) {
      for (const line of (response.stdout as string).trim().split("\n")) {
        expect(line, line).toMatch(/ (0|refused)$/);
      }
    },
  },
  {
    name: "cannot write kernel settings through /proc/sys",
    request: { language: "bash", code: "echo 1 > /proc/sys/kernel/sysrq && echo wrote || echo refused" },
    check(response) {
      expect(response.stdout).toBe("refused\n");
    },
  },
]);
