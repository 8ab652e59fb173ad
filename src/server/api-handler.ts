import { join } from "node:path";
import { createContextValues, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { AureaConfig } from "../config/config.js";
import { repositoryRoot } from "../config/repository.js";
import { type ApiKeyAuthenticator, clientAddressKey, createAuthInterceptor } from "../service/api-keys.js";
import { createGrpcHealthService } from "../service/grpc-health-service.js";
import type { HealthMonitor } from "../service/health-monitor.js";
import { type AureaMetrics, metricsInterceptor } from "../service/metrics.js";
import { createReflectionServiceV1, createReflectionServiceV1alpha, DescriptorIndex } from "../service/reflection-service.js";
import type { SandboxImageBuilder } from "../service/sandbox-image-builder.js";
import { withCors } from "./cors.js";
import { withSpecGrpcMessages } from "./grpc-message-encoding.js";
import { type McpRoute, withMcpRoute } from "./mcp-route.js";
import { withMetricsRoute } from "./metrics-route.js";
import { withPlayground } from "./playground-route.js";
import { restJsonOptions, withRestCompat } from "./rest-compat.js";
import type { RequestHandler } from "./single-port-server.js";

export interface ApiHandlerOptions {
  /** Every SandboxService RPC: runs (sandbox-service.ts) and sessions (session-handlers.ts). */
  readonly sandbox: Partial<ServiceImpl<typeof SandboxService>>;
  /** Readiness, for the standard health service. */
  readonly monitor: HealthMonitor;
  /** The image families, each a health service name of its own. */
  readonly families: readonly string[];
  readonly authenticator: ApiKeyAuthenticator;
  readonly imageBuilder: SandboxImageBuilder;
  readonly metrics: AureaMetrics;
  readonly config: Pick<
    AureaConfig,
    | "reflectionEnabled"
    | "maxRequestBytes"
    | "authProtectProbes"
    | "playgroundEnabled"
    | "corsAllowedOrigins"
    | "mcpEnabled"
    | "mcpMaxSessions"
    | "mcpSessionIdleTimeoutSeconds"
  >;
  /** This server's own address once it listens, for the MCP tools' calls to the API. */
  readonly selfUrl: () => string;
  /** The server's version, as MCP's handshake reports it. */
  readonly version: string;
  readonly logger: Logger;
}

/**
 * Everything one port answers, outermost first: CORS, the playground's page, MCP at /mcp, /metrics,
 * the REST routes, then Connect, gRPC and gRPC-Web for SandboxService, the health service and
 * reflection.
 */
export function createApiHandler(options: ApiHandlerOptions): {
  handler: RequestHandler;
  services: string[];
  /** The MCP endpoint, when MCP_ENABLED. */
  mcp: McpRoute | undefined;
} {
  const { config, authenticator, metrics, logger } = options;
  const served = [SandboxService, Health, ...(config.reflectionEnabled ? [ServerReflectionV1, ServerReflectionV1alpha] : [])];
  const descriptors = new DescriptorIndex(served);
  const connectHandler = connectNodeAdapter({
    routes: (router) => {
      router.service(SandboxService, options.sandbox);
      router.service(Health, createGrpcHealthService(options.monitor, [SandboxService.typeName], [...options.families]));
      if (config.reflectionEnabled) {
        router.service(ServerReflectionV1, createReflectionServiceV1(descriptors));
        router.service(ServerReflectionV1alpha, createReflectionServiceV1alpha(descriptors));
      }
    },
    readMaxBytes: config.maxRequestBytes,
    // The client's address, for the audit line.
    contextValues: (request) => createContextValues().set(clientAddressKey, request.socket?.remoteAddress ?? ""),
    interceptors: [
      metricsInterceptor(metrics),
      ...(authenticator.enabled
        ? [
            createAuthInterceptor(authenticator, {
              services: config.authProtectProbes
                ? []
                : [Health.typeName, ServerReflectionV1.typeName, ServerReflectionV1alpha.typeName],
              methods: config.authProtectProbes ? [] : [`${SandboxService.typeName}/Health`],
            }),
          ]
        : []),
    ],
    // snake_case names and default values in JSON, as the original REST API answered.
    jsonOptions: restJsonOptions,
  });
  const apiHandler = withMetricsRoute(
    withRestCompat(withSpecGrpcMessages(connectHandler), options.imageBuilder, authenticator, config.maxRequestBytes),
    metrics.registry,
    config.authProtectProbes && authenticator.enabled ? authenticator : undefined,
  );
  const mcp = config.mcpEnabled
    ? withMcpRoute(apiHandler, {
        authenticator,
        selfUrl: options.selfUrl,
        maxSessions: config.mcpMaxSessions,
        idleTimeoutSeconds: config.mcpSessionIdleTimeoutSeconds,
        maxRequestBytes: config.maxRequestBytes,
        allowedOrigins: config.corsAllowedOrigins,
        version: options.version,
        logger,
      })
    : undefined;
  const routed = mcp?.handler ?? apiHandler;
  const handler = withCors(
    config.playgroundEnabled
      ? withPlayground(routed, { directory: join(repositoryRoot(), "dist", "playground"), logger })
      : routed,
    config.corsAllowedOrigins,
  );
  return { handler, services: served.map((service) => service.typeName), mcp };
}
