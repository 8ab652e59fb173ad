import { fromBinary } from "@bufbuild/protobuf";
import { anyIs, anyUnpack } from "@bufbuild/protobuf/wkt";
import type { ConnectError } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";

/** The structured details of an error (src/service/rpc-errors.ts), as a client reads them. */
export interface ReadDetails {
  readonly violations: { field: string; description: string }[];
  readonly info: { reason: string; domain: string; metadata: Record<string, string> } | undefined;
}

/** From a grpc-js error: the `grpc-status-details-bin` trailer, a serialized google.rpc.Status. */
export function grpcErrorDetails(error: grpc.ServiceError): ReadDetails {
  const [bytes] = error.metadata?.get("grpc-status-details-bin") ?? [];
  if (!(bytes instanceof Buffer)) return { violations: [], info: undefined };
  const status = fromBinary(StatusSchema, bytes);
  const violations: ReadDetails["violations"] = [];
  let info: ReadDetails["info"];
  for (const any of status.details) {
    if (anyIs(any, BadRequestSchema)) {
      const badRequest = anyUnpack(any, BadRequestSchema);
      violations.push(...(badRequest?.fieldViolations ?? []).map(({ field, description }) => ({ field, description })));
    } else if (anyIs(any, ErrorInfoSchema)) {
      const errorInfo = anyUnpack(any, ErrorInfoSchema);
      if (errorInfo) info = { reason: errorInfo.reason, domain: errorInfo.domain, metadata: { ...errorInfo.metadata } };
    }
  }
  return { violations, info };
}

/** From a connect-es error (Connect, gRPC or gRPC-Web protocol). */
export function connectErrorDetails(error: ConnectError): ReadDetails {
  const violations = error
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations.map(({ field, description }) => ({ field, description })));
  const [info] = error.findDetails(ErrorInfoSchema);
  return {
    violations,
    info: info && { reason: info.reason, domain: info.domain, metadata: { ...info.metadata } },
  };
}
