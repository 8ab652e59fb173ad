import { expect } from "vitest";
import { hostileSuite } from "../support/hostile-suite.js";

/** The first case leaves things behind; the second, in a later run, looks for them. */
hostileSuite("leftovers", [
  {
    name: "leaves files, a background process and shared memory behind",
    request: {
      language: "python",
      code: [
        "import os, subprocess",
        "for path in ['/workspace/left', '/tmp/left', '/dev/shm/left']: open(path, 'w').write('x')",
        "subprocess.Popen(['sleep', '300'], start_new_session=True)",
        "print('left')",
      ].join("\n"),
    },
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "left\n" });
    },
  },
  {
    name: "a later run sees none of it",
    request: {
      language: "bash",
      code: "ls -A /workspace /tmp /dev/shm | grep -c left; ps -eo comm= | grep -c '^sleep$'; true",
    },
    check(response) {
      expect(response.stdout).toBe("0\n0\n");
    },
  },
]);
