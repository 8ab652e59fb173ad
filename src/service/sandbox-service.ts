import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  BuildImageResponseSchema,
  HealthResponseSchema,
  RunStartedSchema,
  RunStreamResponseSchema,
  type BuildImageResponse,
  type RunRequest,
  type RunStreamResponse,
  type SandboxService,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import {
  ContainerGoneError,
  EngineError,
  EngineUnavailableError,
  ImageMissingError,
} from "../docker/engine-errors.js";
import { languageNames } from "../runner/languages.js";
import type { Runner, RunSpec } from "../runner/runner.js";
import { AsyncQueue } from "./async-queue.js";
import type { HealthChecker } from "./health-check.js";
import type { SandboxImageBuilder } from "./sandbox-image-builder.js";
import { toRunResponse } from "./run-response.js";
import { validateRunRequest, type RunPolicy } from "./run-request.js";

export interface SandboxServiceOptions {
  readonly runner: Runner;
  readonly health: HealthChecker;
  readonly imageBuilder: SandboxImageBuilder;
  readonly policy: RunPolicy;
  /** Version string reported by Health. */
  readonly version: string;
  readonly logger: Logger;
}

/** The SandboxService RPCs: request validation and error mapping around the runner. */
export function createSandboxService(options: SandboxServiceOptions): Partial<ServiceImpl<typeof SandboxService>> {
  const { runner, policy, logger } = options;

  function specFor(request: RunRequest): RunSpec {
    const runId = randomUUID();
    const result = validateRunRequest(request, policy, runId);
    if (!result.ok) {
      const message = result.violations.map((v) => `${v.field}: ${v.description}`).join("; ");
      logger.info({ run_id: runId, violations: result.violations }, "run rejected");
      throw new ConnectError(message, Code.InvalidArgument);
    }
    return result.spec;
  }

  return {
    async run(request, context) {
      const spec = specFor(request);
      try {
        const outcome = await runner.run(spec, { signal: context.signal });
        return toRunResponse(spec, outcome);
      } catch (error) {
        throw toConnectError(error, spec.runId, logger);
      }
    },

    async *runStream(request, context) {
      const spec = specFor(request);
      const events = new AsyncQueue<RunStreamResponse>();
      const send = (event: RunStreamResponse["event"]) => events.push(create(RunStreamResponseSchema, { event }));
      runner
        .run(spec, {
          signal: context.signal,
          observer: {
            onStarted: () => send({ case: "started", value: create(RunStartedSchema, { runId: spec.runId }) }),
            onOutput: (stream, chunk) => send({ case: stream, value: chunk }),
          },
        })
        .then(
          (outcome) => {
            send({ case: "result", value: toRunResponse(spec, outcome) });
            events.close();
          },
          (error: unknown) => events.fail(toConnectError(error, spec.runId, logger)),
        );
      yield* events;
    },

    async *buildImage(request) {
      const events = new AsyncQueue<BuildImageResponse>();
      const send = (event: BuildImageResponse["event"]) => events.push(create(BuildImageResponseSchema, { event }));
      options.imageBuilder.build({ noCache: request.noCache, onLog: (line) => send({ case: "log", value: line }) }).then(
        (imageId) => {
          send({ case: "imageId", value: imageId });
          events.close();
        },
        (error: unknown) => events.fail(toBuildError(error)),
      );
      yield* events;
    },

    async health() {
      const report = await options.health.check();
      return create(HealthResponseSchema, {
        ...report,
        aureaVersion: options.version,
        languages: languageNames(),
      });
    },
  };
}

/** Maps a failure before the program started onto an RPC status; logs it with the run id. */
export function toConnectError(error: unknown, runId: string, logger: Logger): ConnectError {
  if (error instanceof ConnectError) return error;
  const message = error instanceof Error ? error.message : String(error);
  let code = Code.Internal;
  if (error instanceof EngineUnavailableError) code = Code.Unavailable;
  else if (error instanceof ImageMissingError) code = Code.Unavailable;
  else if (error instanceof ContainerGoneError || error instanceof EngineError) code = Code.Internal;
  logger.error({ run_id: runId, code: Code[code], err: message }, "run failed before the program started");
  return new ConnectError(`run ${runId}: ${message}`, code);
}

/** A failed build names its failing step; an unreachable engine is UNAVAILABLE. */
function toBuildError(error: unknown): ConnectError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof EngineUnavailableError) return new ConnectError(message, Code.Unavailable);
  return new ConnectError(message, Code.FailedPrecondition);
}
