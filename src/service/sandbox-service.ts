import type { AureaConfig } from "../config/config.js";
import { createHash, randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  BuildImageResponseSchema,
  HealthResponseSchema,
  LanguageInfoSchema,
  ListLanguagesResponseSchema,
  ResourceLimitsSchema,
  RunStartedSchema,
  RunStreamResponseSchema,
  type BuildImageResponse,
  type RunRequest,
  type RunStreamResponse,
  type SandboxService,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { EngineUnavailableError, ImageMissingError, RuntimeMissingError } from "../docker/engine-errors.js";
import { runCompiledOrNot } from "../runner/compile-phase.js";
import type { Language } from "../runner/languages.js";
import type { RunObserver, RunOutcome, Runner, RunSpec } from "../runner/runner.js";
import { AsyncQueue } from "./async-queue.js";
import { type Admission, AdmissionAbandoned, AdmissionClosed, AdmissionRejected, type AdmissionTicket } from "./admission.js";
import { callerKey, clientAddressKey } from "./api-keys.js";
import type { HealthChecker } from "./health-check.js";
import type { HealthMonitor } from "./health-monitor.js";
import type { LanguageVersions } from "./language-versions.js";
import type { AureaMetrics } from "./metrics.js";
import type { PeerCalls } from "./peer-calls.js";
import type { RequestClaims } from "./request-claims.js";
import { type SandboxImageBuilder, UnknownFamilyError } from "./sandbox-image-builder.js";
import { toRunResponse, toTestResult } from "./run-response.js";
import { defaultCompileSeconds, validateRunRequest, type RunPolicy } from "./run-request.js";
import { egressRefusal, invalidArgument, refusal } from "./rpc-errors.js";

export interface SandboxServiceOptions {
  readonly runner: Runner;
  readonly health: HealthChecker;
  /** Readiness as last checked: runs fail fast while the engine is known to be unreachable. */
  readonly monitor: HealthMonitor;
  readonly admission: Admission;
  /** Aborted when shutdown's grace period is over: runs still going are killed. */
  readonly shutdownSignal: AbortSignal;
  readonly imageBuilder: SandboxImageBuilder;
  /** What runs are checked against, and the session lifetimes ListLanguages reports. */
  readonly policy: RunPolicy & Pick<AureaConfig, "sessionMaxTtlSeconds" | "sessionDefaultTtlSeconds">;
  /** Versions read from the images, for ListLanguages. */
  readonly versions: LanguageVersions;
  /** Version string reported by Health. */
  readonly version: string;
  /** Sessions open now, and how many of them were adopted at start (Health). */
  readonly sessionCounts: () => { open: number; adopted: number };
  /** One run per request_id, however often it is retried (request-claims.ts). */
  readonly claims: RequestClaims;
  /** The other replicas, when this one has an address: a retried request_id joins its first attempt there. */
  readonly peers?: PeerCalls | undefined;
  readonly metrics: Pick<AureaMetrics, "recordRun">;
  /** Put each run's code in its audit line (LOG_CODE). */
  readonly logCode: boolean;
  readonly logger: Logger;
}

/** The SandboxService RPCs: request validation and error mapping around the runner. */
export function createSandboxService(options: SandboxServiceOptions): Partial<ServiceImpl<typeof SandboxService>> {
  const { runner, policy, logger } = options;

  function specFor(request: RunRequest): RunSpec {
    const runId = randomUUID();
    const result = validateRunRequest(request, policy, runId);
    if (!result.ok) {
      logger.info({ run_id: runId, violations: result.violations }, "run rejected");
      throw invalidArgument(result.violations);
    }
    return result.spec;
  }

  /**
   * Admits a run (or refuses it with the bound named), runs it, and frees its slot on every path.
   * The run is killed when the caller goes away or shutdown's grace period ends.
   */
  async function admitAndRun(
    spec: RunSpec,
    context: HandlerContext,
    observer?: RunObserver,
  ): Promise<{ outcome: RunOutcome; queuedMs: number }> {
    checkReady(options, spec.runId, spec.language);
    const caller = context.values.get(callerKey);
    const ticket = await admitCaller(options.admission, context, spec.runId, logger);
    try {
      const signal = AbortSignal.any([context.signal, options.shutdownSignal]);
      const outcome = await runCompiledOrNot(runner, { ...spec, callerId: caller?.id }, { signal, observer });
      options.metrics.recordRun(spec, outcome, ticket.queuedMs);
      auditRun(logger, spec, outcome, ticket.queuedMs, context, options.logCode);
      return { outcome, queuedMs: ticket.queuedMs };
    } catch (error) {
      // The image went away since health last looked: say which family, and how to get it back.
      if (error instanceof ImageMissingError) throw familyMissing(spec, error.message, false);
      throw toConnectError(error, spec.runId, logger);
    } finally {
      ticket.release();
    }
  }

  return {
    async run(request, context) {
      const spec = specFor(request);
      const respond = async () => {
        const { outcome, queuedMs } = await admitAndRun(spec, context);
        return toRunResponse(spec, outcome, queuedMs);
      };
      if (!spec.requestId) return respond();
      // Nothing is claimed for a request a draining server will refuse anyway.
      if (options.admission.closed) throw admissionError(new AdmissionClosed("the server is shutting down"), spec.runId, logger);
      const callerId = context.values.get(callerKey)?.id ?? "";
      const { peers } = options;
      // A retry whose first attempt another replica holds gets that attempt's answer from it.
      const elsewhere =
        peers && !peers.forwarded(context)
          ? async (holder: string) => {
              try {
                return await peers.client(holder).run(request, peers.options(context));
              } catch (error) {
                if (peers.noAnswer(error)) return undefined;
                throw error;
              }
            }
          : undefined;
      return options.claims.once(callerId, spec.requestId, spec.runId, respond, elsewhere);
    },

    async *runStream(request, context) {
      const spec = specFor(request);
      const events = new AsyncQueue<RunStreamResponse>();
      const send = (event: RunStreamResponse["event"]) => events.push(create(RunStreamResponseSchema, { event }));
      admitAndRun(spec, context, {
        onStarted: () => send({ case: "started", value: create(RunStartedSchema, { runId: spec.runId }) }),
        onOutput: (stream, chunk) => send({ case: stream, value: chunk }),
        onTestResult: (test) => send({ case: "testResult", value: toTestResult(test) }),
      }).then(
        ({ outcome, queuedMs }) => {
          send({ case: "result", value: toRunResponse(spec, outcome, queuedMs) });
          events.close();
        },
        (error: unknown) => events.fail(error),
      );
      yield* events;
    },

    async *buildImage(request) {
      const events = new AsyncQueue<BuildImageResponse>();
      const send = (event: BuildImageResponse["event"]) => events.push(create(BuildImageResponseSchema, { event }));
      const onLog = (line: string) => send({ case: "log", value: line });
      options.imageBuilder.build({ family: request.family, noCache: request.noCache, onLog }).then(
        (imageId) => {
          send({ case: "imageId", value: imageId });
          events.close();
        },
        (error: unknown) => events.fail(toBuildError(error)),
      );
      yield* events;
    },

    async listLanguages() {
      const report = options.monitor.current();
      const present = new Set(report.families.filter((family) => family.present).map((family) => family.name));
      if (present.size > 0) await options.versions.read(present);
      const limits = create(ResourceLimitsSchema, {
        cpu: policy.cpuLimit,
        memoryBytes: BigInt(policy.memoryLimitBytes),
        pids: BigInt(policy.pidsLimit),
      });
      return create(ListLanguagesResponseSchema, {
        languages: policy.languages.all().map((language) =>
          create(LanguageInfoSchema, {
            name: language.name,
            aliases: [...language.aliases],
            version: options.versions.get(language.name),
            compiled: language.compile !== undefined,
            family: language.family,
            available: report.dockerReachable && present.has(language.family),
            defaultLimits: limits,
            maximumLimits: limits,
            defaultTimeout: policy.defaultTimeoutSeconds,
            maxTimeout: policy.maxTimeoutSeconds,
            defaultCompileTimeout: language.compile ? defaultCompileSeconds(language.compile, policy) : 0,
            defaultCompileMemoryBytes: BigInt(
              language.compile ? Math.min(language.compile.memoryBytes, policy.maxCompileMemoryBytes) : 0,
            ),
            warm: language.warmLoader !== undefined,
            title: language.title,
            fileName: language.fileName,
            example: language.examples.hello.code,
            statefulSessions: language.kernel !== undefined,
          }),
        ),
        runtimes: [...policy.allowedRuntimes],
        defaultRuntime: policy.defaultRuntime,
        sessionMaxTtl: policy.sessionMaxTtlSeconds,
        sessionDefaultTtl: policy.sessionDefaultTtlSeconds,
      });
    },

    async health() {
      const report = await options.health.check();
      const building = options.imageBuilder.building();
      return create(HealthResponseSchema, {
        ...report,
        families: report.families.map((family) => ({
          ...family,
          languages: [...family.languages],
          building: building.has(family.name),
        })),
        aureaVersion: options.version,
        languages: policy.languages.names(),
        sessions: options.sessionCounts().open,
        sessionsAdopted: options.sessionCounts().adopted,
      });
    },
  };
}

/** Maps a failure before the program started onto an RPC status; logs it with the run id. */
export function toConnectError(error: unknown, runId: string, logger: Logger): ConnectError {
  if (error instanceof ConnectError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const egress = egressRefusal(error, `run ${runId}: ${message}`);
  if (egress) {
    logger.warn({ run_id: runId, code: Code[egress.code], err: message }, "run refused: its network could not be given");
    return egress;
  }
  // An engine that cannot be reached, or has no sandbox image, is the service not being ready;
  // anything else that fails before the program starts is Aurea's own failure.
  const code =
    error instanceof EngineUnavailableError || error instanceof ImageMissingError || error instanceof RuntimeMissingError
      ? Code.Unavailable
      : Code.Internal;
  logger.error({ run_id: runId, code: Code[code], err: message }, "run failed before the program started");
  if (error instanceof EngineUnavailableError) return refusal(`run ${runId}: ${message}`, code, "ENGINE_UNAVAILABLE");
  return new ConnectError(`run ${runId}: ${message}`, code);
}

/**
 * Refuses at once (UNAVAILABLE) what cannot start now: the engine is known unreachable, or the
 * language's image family is missing. Shared by runs and sessions.
 */
export function checkReady(
  options: Pick<SandboxServiceOptions, "monitor" | "imageBuilder">,
  runId: string,
  language: Language,
): void {
  const report = options.monitor.current();
  if (!report.dockerReachable) {
    throw refusal(`run ${runId}: container engine unreachable (${report.detail})`, Code.Unavailable, "ENGINE_UNAVAILABLE");
  }
  const family = report.families.find((candidate) => candidate.name === language.family);
  if (family && !family.present) {
    throw familyMissing({ runId, language }, family.image, options.imageBuilder.building().has(family.name));
  }
}

/** An admission slot for the caller (held to its key's quota), or its refusal as an RPC status. */
export async function admitCaller(
  admission: Admission,
  context: HandlerContext,
  runId: string,
  logger: Logger,
): Promise<AdmissionTicket> {
  const caller = context.values.get(callerKey);
  try {
    return await admission.admit({
      signal: context.signal,
      ...(caller ? { callerId: caller.id, callerLimit: caller.maxConcurrent } : {}),
    });
  } catch (error) {
    throw admissionError(error, runId, logger);
  }
}

/** A language whose family's image is not on the engine: UNAVAILABLE, naming the family and the way to build it. */
export function familyMissing(
  spec: { readonly runId: string; readonly language: Language },
  detail: string,
  building: boolean,
): ConnectError {
  const family = spec.language.family;
  const how = building
    ? "it is being built now; try again when Health lists it present"
    : `build it with BuildImage {"family": "${family}"} (or POST /build-image {"family": "${family}"}, or scripts/build-sandbox-images.sh ${family})`;
  return refusal(
    `run ${spec.runId}: ${spec.language.name} runs in the "${family}" image family, whose image is missing (${detail}); ${how}`,
    Code.Unavailable,
    "FAMILY_NOT_BUILT",
    { family, build_hint: how },
  );
}

/** Admission's refusals as RPC status codes. */
export function admissionError(error: unknown, runId: string, logger: Logger): ConnectError {
  const message = error instanceof Error ? error.message : String(error);
  const refused = `run ${runId} not admitted: ${message}`;
  const failure =
    error instanceof AdmissionRejected
      ? refusal(refused, Code.ResourceExhausted, error.bound === "key_quota" ? "KEY_QUOTA" : "QUEUE_FULL")
      : error instanceof AdmissionClosed
        ? refusal(refused, Code.Unavailable, "DRAINING")
        : new ConnectError(refused, error instanceof AdmissionAbandoned ? Code.Canceled : Code.Internal);
  logger.info({ run_id: runId, code: Code[failure.code], reason: message }, "run not admitted");
  return failure;
}

/** A failed build names its failing step; an unreachable engine is UNAVAILABLE. Shared with `POST /build-image`. */
export function toBuildError(error: unknown): ConnectError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EngineUnavailableError) return refusal(message, Code.Unavailable, "ENGINE_UNAVAILABLE");
  if (error instanceof UnknownFamilyError) return invalidArgument([{ field: "family", description: message }]);
  return new ConnectError(message, Code.FailedPrecondition);
}

/**
 * The audit line of one request: who (key id and address), what (language, runtime, the code's
 * size and SHA-256, limits), and how it ended (verdict, usage, queue and run time). The code
 * itself only when the operator turned LOG_CODE on.
 */
function auditRun(
  logger: Logger,
  spec: RunSpec,
  outcome: RunOutcome,
  queuedMs: number,
  context: HandlerContext,
  logCode: boolean,
) {
  logger.info(
    {
      run_id: spec.runId,
      request_id: spec.requestId,
      key_id: context.values.get(callerKey)?.id,
      client_address: context.values.get(clientAddressKey) || undefined,
      language: spec.language.name,
      runtime: spec.runtime,
      code_bytes: Buffer.byteLength(spec.code, "utf8"),
      code_sha256: createHash("sha256").update(spec.code, "utf8").digest("hex"),
      ...(logCode ? { code: spec.code } : {}),
      files: spec.files.length,
      tests: spec.tests?.cases.length,
      limits: {
        cpu: spec.limits.cpu,
        memory_bytes: spec.limits.memoryBytes,
        pids: spec.limits.pids,
        timeout_s: spec.timeoutMs / 1000,
      },
      status: outcome.verdict,
      exit_code: outcome.exitCode,
      cpu_ms: outcome.usage?.cpuTimeNs !== undefined ? Math.round(outcome.usage.cpuTimeNs / 1e6) : undefined,
      peak_memory_bytes: outcome.usage?.peakMemoryBytes,
      queue_ms: Math.round(queuedMs),
      run_ms: Math.round(outcome.executionTimeMs),
    },
    "run audit",
  );
}
