import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    // Unit test files mostly wait (on the scripts and helpers they run, and timers), so four files
    // at once finish in 16 s on this 2-core machine where one at a time took 42 s. The engine
    // project runs its files one at a time anyway (fileParallelism below).
    maxWorkers: 4,
    hookTimeout: 120_000,
    projects: [
      {
        // Pure logic, the supervisor script run with a local sh, and the stateful core against
        // the in-memory engine of test/support/fake-engine.ts: no container engine needed.
        extends: true,
        test: { name: "unit", include: ["test/unit/**/*.test.ts"] },
      },
      {
        extends: true,
        test: {
          name: "engine",
          include: ["test/integration/**/*.test.ts", "test/adversarial/**/*.test.ts"],
          // These share one Docker engine on a 2-core machine; files run one at a time so timing
          // assertions measure Aurea, not contention between test files.
          fileParallelism: false,
          globalSetup: ["test/support/global-setup.ts"],
        },
      },
    ],
  },
});
