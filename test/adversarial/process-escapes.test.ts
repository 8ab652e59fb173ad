import { expect } from "vitest";
import { hostileSuite } from "../support/hostile-suite.js";

const quick = 4000;

hostileSuite("processes that try to outlive the run", [
  {
    name: "children that ignore SIGTERM and SIGHUP die with the run",
    request: {
      language: "bash",
      code: "for i in 1 2 3; do ( trap '' TERM HUP INT; while :; do sleep 1; done ) & done; echo parent done",
    },
    maxMs: quick,
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "parent done\n" });
    },
  },
  {
    name: "a double-forked daemon dies with the run",
    request: {
      language: "python",
      code: [
        "import os, time",
        "if os.fork() == 0:",
        "    os.setsid()",
        "    if os.fork() == 0:",
        "        time.sleep(300)",
        "    os._exit(0)",
        "print('daemonized')",
      ].join("\n"),
    },
    maxMs: quick,
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "daemonized\n" });
    },
  },
  {
    name: "a setsid escape holding stdout open does not keep the run alive",
    request: {
      language: "bash",
      code: "setsid bash -c 'while :; do echo still here; sleep 0.2; done' & sleep 0.3; echo parent done",
    },
    maxMs: quick,
    check(response) {
      expect(response.status).toBe("RUN_STATUS_OK");
      expect(response.stdout as string).toContain("parent done\n");
    },
  },
  {
    name: "a zombie factory is reaped and ends normally",
    request: {
      language: "python",
      code: [
        "import os, time",
        "made = 0",
        "for _ in range(20):",
        "    if os.fork() == 0:",
        "        os._exit(0)",
        "    made += 1",
        "time.sleep(0.3)",
        "print('zombies', made)",
      ].join("\n"),
    },
    maxMs: quick,
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "zombies 20\n" });
    },
  },
  {
    name: "kill -9 -1 kills the program's other processes, never the supervisor",
    request: { language: "bash", code: 'sleep 100 & child=$!; kill -9 -1; wait $child; echo "survived, sleep status $?"' },
    maxMs: quick,
    check(response) {
      // kill(-1) spares the caller and PID 1: the sleep dies, bash and the supervisor go on.
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "survived, sleep status 137\n" });
      expect(response.usage === null || typeof response.usage === "object").toBe(true);
    },
  },
  {
    name: "signals sent to PID 1 are ignored",
    request: {
      language: "bash",
      code: "for s in KILL TERM INT HUP STOP QUIT USR1; do kill -$s 1 2>/dev/null; done; echo alive; exit 3",
    },
    maxMs: quick,
    check(response) {
      // PID 1 runs as another user than the program: no signal reaches it, under runc or gVisor.
      expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 3, stdout: "alive\n" });
    },
  },
]);
