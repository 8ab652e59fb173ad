import type Docker from "dockerode";
import type { Logger } from "pino";
import { pack } from "tar-stream";
import { callWithOptions, engineCall } from "./engine-call.js";
import { EngineError } from "./engine-errors.js";

export interface ImageBuildRequest {
  /** Name:tag the result is tagged with. */
  readonly tag: string;
  /** Contents of the Dockerfile. */
  readonly dockerfile: string;
  /** Other files of the build context, by name, for the Dockerfile to COPY. */
  readonly files?: Readonly<Record<string, string>>;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly noCache?: boolean;
  /** Receives build output line by line as the engine reports it. */
  readonly onLog?: (line: string) => void;
  /** Longest the build may take. */
  readonly timeoutMs: number;
}

/** Images on the engine. */
export interface ImageClient {
  /** True when the image exists locally. */
  exists(name: string, timeoutMs?: number): Promise<boolean>;
  /** Builds an image from a Dockerfile (and the few files it copies) and resolves to its id; rejects naming the failing step. */
  build(request: ImageBuildRequest): Promise<string>;
}

interface BuildEvent {
  stream?: string;
  status?: string;
  error?: string;
  aux?: { ID?: string };
}

export class DockerodeImageClient implements ImageClient {
  constructor(
    private readonly docker: Docker,
    private readonly logger: Logger,
  ) {}

  async exists(name: string, timeoutMs?: number): Promise<boolean> {
    return engineCall(
      this.logger,
      "inspect image",
      { image: name },
      async (abortSignal) => {
        try {
          await callWithOptions(this.docker.getImage(name), "inspect", { abortSignal });
          return true;
        } catch (error) {
          if ((error as { statusCode?: number }).statusCode === 404) return false;
          throw error;
        }
      },
      { timeoutMs },
    );
  }

  async build(request: ImageBuildRequest): Promise<string> {
    return engineCall(
      this.logger,
      "build image",
      { image: request.tag },
      async (abortSignal) => {
        const context = pack();
        context.entry({ name: "Dockerfile" }, request.dockerfile);
        for (const [name, content] of Object.entries(request.files ?? {})) context.entry({ name }, content);
        context.finalize();
        const progress = await callWithOptions<NodeJS.ReadableStream>(this.docker, "buildImage", context, {
          t: request.tag,
          buildargs: { ...request.buildArgs },
          nocache: request.noCache ?? false,
          rm: true,
          forcerm: true,
          abortSignal,
        });
        let imageId = "";
        let lastStep = "";
        const failure = await new Promise<string | undefined>((resolve, reject) => {
          this.docker.modem.followProgress(
            progress,
            (error) => (error ? reject(error) : resolve(undefined)),
            (event: BuildEvent) => {
              if (event.aux?.ID) imageId = event.aux.ID;
              if (event.error) resolve(event.error);
              for (const line of (event.stream ?? event.status ?? "").split("\n")) {
                if (line.trim() === "") continue;
                if (/^Step \d+\/\d+ :/.test(line)) lastStep = line.trim();
                request.onLog?.(line);
              }
            },
          );
        });
        if (failure !== undefined) {
          throw new EngineError(`build failed at ${lastStep || "the first step"}: ${failure.trim()}`);
        }
        if (!imageId) {
          const image = await callWithOptions<{ Id: string }>(this.docker.getImage(request.tag), "inspect", { abortSignal });
          imageId = image.Id;
        }
        return imageId;
      },
      { timeoutMs: request.timeoutMs },
    );
  }
}
