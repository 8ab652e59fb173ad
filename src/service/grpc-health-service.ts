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
 * Liveness (Kubernetes' livenessProbe): SERVING whenever the process answers at all, whatever the
 * engine does, so engine trouble makes a pod unready, never restarts it.
 */
export const livenessServiceName = "aurea.liveness";

/** The health service name of an image family: SERVING when the server serves and that family's image is there. */
export const familyServiceName = (family: string) => `aurea.family.${family}`;

/**
 * The standard gRPC health service (grpc.health.v1.Health) for the whole server ("") and each
 * named service, which share one readiness (the engine answers and the core image exists), and
 * for each image family (`aurea.family.<name>`), which also needs that family's image.
 */
export function createGrpcHealthService(
  monitor: HealthMonitor,
  serviceNames: readonly string[],
  families: readonly string[] = [],
): ServiceImpl<typeof Health> {
  const familyOf = new Map(families.map((family) => [familyServiceName(family), family]));
  const known = new Set(["", livenessServiceName, ...serviceNames, ...familyOf.keys()]);
  const servingFor = (service: string): boolean => {
    if (service === livenessServiceName) return true;
    if (!monitor.serving()) return false;
    const family = familyOf.get(service);
    return family === undefined || monitor.current().families.some((each) => each.name === family && each.present);
  };
  const status = (service = ""): HealthCheckResponse =>
    create(HealthCheckResponseSchema, { status: servingFor(service) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING });

  return {
    check(request) {
      if (!known.has(request.service)) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return status(request.service);
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
      let last = status(request.service);
      updates.push(last);
      const unsubscribe = monitor.subscribe(() => {
        // Only changes of this service's own status are sent, as the standard asks.
        const now = status(request.service);
        if (now.status !== last.status || monitor.shuttingDown()) updates.push(now);
        last = now;
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
      return create(HealthListResponseSchema, {
        statuses: Object.fromEntries([...known].map((name) => [name, status(name)])),
      });
    },
  };
}
