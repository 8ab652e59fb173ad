/**
 * aurea-client: a typed client for Aurea. `createAureaClient` is the way in; the message types
 * are the generated ones, re-exported as they are.
 */
export { type AureaClient, type AureaClientOptions, createAureaClient, type SessionInput } from "./client.js";
export type { RunEvent } from "./events.js";
export type { ExecInput, RunInput, TextOrBytes } from "./inputs.js";
export type { RetryPolicy } from "./retry.js";
export { type CallSettings, Session } from "./session.js";
export * from "./gen/aurea/sandbox/v1/sandbox_pb.js";
export { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
