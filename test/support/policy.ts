import type { RunPolicy } from "../../src/service/run-request.js";
import { repositoryLanguages } from "./languages.js";

/** A small policy for request validation tests: bounds low enough to reach in a test. */
export const testPolicy: RunPolicy = {
  defaultTimeoutSeconds: 30,
  maxTimeoutSeconds: 300,
  maxCompileTimeoutSeconds: 60,
  maxCompileMemoryBytes: 2 * 1024 * 1024 * 1024,
  maxTests: 8,
  maxTestInputBytes: 4096,
  maxTestTimeSeconds: 20,
  testDefaultTimeoutSeconds: 2,
  testOutputLimitBytes: 1024,
  cpuLimit: 1,
  memoryLimitBytes: 512 * 1024 * 1024,
  pidsLimit: 64,
  workspaceSizeBytes: 1024 * 1024,
  workspaceFiles: 4,
  tmpSizeBytes: 1024 * 1024,
  readonlyDefault: true,
  maxCodeBytes: 1000,
  artifactMaxFiles: 10,
  artifactMaxFileBytes: 1024,
  artifactMaxTotalBytes: 4096,
  defaultRuntime: "runc",
  allowedRuntimes: ["runc", "runsc"],
  egressAllowed: [],
  languages: repositoryLanguages,
};
