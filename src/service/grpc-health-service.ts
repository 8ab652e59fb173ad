import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
  type Health,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health_pb.js";
import { AsyncQueue } from "./async-queue.js";
import type { HealthMonitor } from "./health-monitor.js";

/**
 * The standard gRPC health service (grpc.health.v1.Health) for the whole server ("") and each
 * named service, all of which share one readiness: the engine answers and the image exists.
 */
export function createGrpcHealthService(monitor: HealthMonitor, serviceNames: readonly string[]): ServiceImpl<typeof Health> {
  const known = new Set(["", ...serviceNames]);
  const status = (): HealthCheckResponse =>
    create(HealthCheckResponseSchema, {
      status: monitor.serving() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING,
    });

  return {
    check(request) {
      if (!known.has(request.service)) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return status();
    },

    async *watch(request, context) {
      if (!known.has(request.service)) {
        // As the standard says: Watch reports an unknown service instead of failing, since it
        // may appear later. Here it never does, so that is all it reports.
        yield create(HealthCheckResponseSchema, { status: ServingStatus.SERVICE_UNKNOWN });
        await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
        return;
      }
      const updates = new AsyncQueue<HealthCheckResponse>();
      updates.push(status());
      const unsubscribe = monitor.subscribe(() => {
        updates.push(status());
        // A server going away says so, then ends the stream so the connection can close.
        if (monitor.shuttingDown()) updates.close();
      });
      const onAbort = () => updates.close();
      context.signal.addEventListener("abort", onAbort, { once: true });
      try {
        yield* updates;
      } finally {
        unsubscribe();
        context.signal.removeEventListener("abort", onAbort);
      }
    },

    list() {
      const current = status();
      return create(HealthListResponseSchema, {
        statuses: Object.fromEntries([...known].map((name) => [name, current])),
      });
    },
  };
}
