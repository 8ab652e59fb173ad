import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AdmissionAbandoned, AdmissionClosed, AdmissionRejected } from "../../src/service/admission.js";
import { invalidArgument, refusal } from "../../src/service/rpc-errors.js";
import { admissionError } from "../../src/service/sandbox-service.js";
import { connectErrorDetails } from "../support/error-details.js";

const logger = pino({ level: "silent" });

describe("errors with structure", () => {
  it("INVALID_ARGUMENT keeps today's message and lists each violation as a BadRequest field violation", () => {
    const error = invalidArgument([
      { field: "timeout", description: "must be a positive number of seconds, got -1" },
      { field: "tests[3].expected_stdout", description: "is longer than 1 bytes" },
      { field: "", description: "request body is not JSON" },
    ]);
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe(
      "timeout: must be a positive number of seconds, got -1; tests[3].expected_stdout: is longer than 1 bytes; request body is not JSON",
    );
    expect(connectErrorDetails(error)).toEqual({
      violations: [
        { field: "timeout", description: "must be a positive number of seconds, got -1" },
        { field: "tests[3].expected_stdout", description: "is longer than 1 bytes" },
        { field: "", description: "request body is not JSON" },
      ],
      info: undefined,
    });
  });

  it("a refusal carries its reason in Aurea's domain, with metadata", () => {
    const error = refusal("no image", Code.Unavailable, "FAMILY_NOT_BUILT", { family: "jvm", build_hint: "build it" });
    expect(error).toMatchObject({ code: Code.Unavailable, rawMessage: "no image" });
    expect(connectErrorDetails(error).info).toEqual({
      reason: "FAMILY_NOT_BUILT",
      domain: "aurea.dev",
      metadata: { family: "jvm", build_hint: "build it" },
    });
  });

  it("admission's refusals name whose bound it was", () => {
    const reasonOf = (error: Error) => connectErrorDetails(admissionError(error, "run-1", logger)).info?.reason;
    expect(reasonOf(new AdmissionRejected("quota", "key_quota"))).toBe("KEY_QUOTA");
    expect(reasonOf(new AdmissionRejected("full", "queue"))).toBe("QUEUE_FULL");
    expect(reasonOf(new AdmissionClosed("bye"))).toBe("DRAINING");
    const abandoned = admissionError(new AdmissionAbandoned("gone"), "run-1", logger);
    expect(abandoned).toBeInstanceOf(ConnectError);
    expect(abandoned.code).toBe(Code.Canceled);
    expect(connectErrorDetails(abandoned).info).toBeUndefined();
    expect(admissionError(new AdmissionClosed("bye"), "run-1", logger).code).toBe(Code.Unavailable);
  });
});
