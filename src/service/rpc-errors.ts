import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { NetworkPoolExhaustedError } from "../docker/network-client.js";
import { EgressUnavailableError } from "../egress/egress-gateway.js";

/**
 * Errors a program can read field by field, as protovalidate-es and Google's APIs give them: every
 * INVALID_ARGUMENT carries a `google.rpc.BadRequest` with one violation per problem, and every
 * refusal a caller should act on (wait, back off, build an image, go to another replica) carries a
 * `google.rpc.ErrorInfo` in Aurea's domain with a stable reason. The message stays as readable as
 * before; the details travel as gRPC's `grpc-status-details-bin`, in Connect's error JSON (with a
 * readable `debug` copy) and so on the REST routes too.
 */

/** ErrorInfo's domain for every reason below. */
export const errorDomain = "aurea.dev";

/** Why a request was refused; a contract, as the RPC names are. */
export type RefusalReason =
  /** Every slot is busy and the queue is full, or a queued run waited its longest. */
  | "QUEUE_FULL"
  /** The caller's key runs as many runs at once as its quota allows. */
  | "KEY_QUOTA"
  /** The server, the key or the session holds as many sessions, execs or processes as allowed. */
  | "SESSION_LIMIT"
  /** The language's image family is not built on this engine (metadata: family, build_hint). */
  | "FAMILY_NOT_BUILT"
  /** The container engine does not answer. */
  | "ENGINE_UNAVAILABLE"
  /** The server is shutting down and takes no new work: another replica will. */
  | "DRAINING"
  /** A request with this request_id ran before and its result is not to be had here. */
  | "REQUEST_ID_HELD"
  /** The key's snapshots take as many bytes as SNAPSHOT_MAX_BYTES_PER_KEY allows. */
  | "SNAPSHOT_QUOTA"
  /** Egress cannot be given now (the gateway is down or did not take the policy): never run without it. */
  | "EGRESS_UNAVAILABLE"
  /** The engine has no address space left for another egress network (its default-address-pools). */
  | "EGRESS_NETWORKS";

/** One thing wrong with a request, naming the field by its path in the request (`tests[3].timeout`). */
export interface FieldViolation {
  /** The field's path as the caller wrote it, in the proto's names; "" for the request as a whole. */
  readonly field: string;
  readonly description: string;
}

/** INVALID_ARGUMENT listing every violation, in the message and as a BadRequest detail. */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const message = violations.map((v) => (v.field === "" ? v.description : `${v.field}: ${v.description}`)).join("; ");
  const fieldViolations = violations.map(({ field, description }) => ({ field, description }));
  return new ConnectError(message, Code.InvalidArgument, undefined, [{ desc: BadRequestSchema, value: { fieldViolations } }]);
}

/** A refusal with its reason (and metadata) as an ErrorInfo detail. */
export function refusal(
  message: string,
  code: Code,
  reason: RefusalReason,
  metadata: Readonly<Record<string, string>> = {},
): ConnectError {
  return new ConnectError(message, code, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: errorDomain, metadata: { ...metadata } } },
  ]);
}

/**
 * A run or session refused for its network policy: UNAVAILABLE when the gateway cannot take it
 * (fail closed), RESOURCE_EXHAUSTED when the engine has no room for another network; undefined
 * for any other error.
 */
export function egressRefusal(error: unknown, message: string): ConnectError | undefined {
  if (error instanceof EgressUnavailableError) return refusal(message, Code.Unavailable, "EGRESS_UNAVAILABLE");
  if (error instanceof NetworkPoolExhaustedError) {
    return refusal(`${message} (raise the engine's default-address-pools)`, Code.ResourceExhausted, "EGRESS_NETWORKS");
  }
  return undefined;
}
