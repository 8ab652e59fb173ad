import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AdmissionAbandoned, AdmissionClosed, AdmissionRejected } from "../../src/service/admission.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { NetworkPoolExhaustedError } from "../../src/docker/network-client.js";
import { EgressUnavailableError } from "../../src/egress/egress-gateway.js";
import { egressRefusal, invalidArgument, refusal } from "../../src/service/rpc-errors.js";
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

describe("egressRefusal", () => {
  it("is UNAVAILABLE for a gateway that cannot take the policy, RESOURCE_EXHAUSTED when the engine has no room, nothing else", () => {
    const down = egressRefusal(new EgressUnavailableError("the egress gateway stopped"), "run r: the egress gateway stopped");
    expect(down?.code).toBe(Code.Unavailable);
    expect(down?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("EGRESS_UNAVAILABLE");
    const full = egressRefusal(
      new NetworkPoolExhaustedError("could not find an available, non-overlapping IPv4 address pool"),
      "run r",
    );
    expect(full?.code).toBe(Code.ResourceExhausted);
    expect(full?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("EGRESS_NETWORKS");
    expect(egressRefusal(new Error("something else"), "run r")).toBeUndefined();
  });
});
