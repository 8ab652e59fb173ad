import type { EngineClient } from "../docker/engine-client.js";
import { EngineTimeoutError } from "../docker/engine-errors.js";
import type { ImageClient } from "../docker/image-client.js";
import type { ImageFamily } from "./image-families.js";

export interface HealthReport {
  readonly serving: boolean;
  readonly dockerReachable: boolean;
  readonly dockerVersion: string;
  readonly dockerApiVersion: string;
  readonly sandboxImage: string;
  readonly sandboxImagePresent: boolean;
  /** Every image family's image and whether the engine has it; serving needs only the core one. */
  readonly families: readonly FamilyPresence[];
  /** Why the service is not serving; "" when it is. */
  readonly detail: string;
  /** The engine did not answer within the check's bound: it may be slow rather than gone. */
  readonly engineSlow?: boolean;
}

export interface FamilyPresence {
  readonly name: string;
  readonly image: string;
  /** The languages that run in it. */
  readonly languages: readonly string[];
  readonly present: boolean;
}

export interface HealthChecker {
  /** Asks the engine, bounded by the probe timeout; never rejects. */
  check(): Promise<HealthReport>;
}

export interface HealthCheckerOptions {
  readonly engine: EngineClient;
  readonly images: ImageClient;
  readonly sandboxImage: string;
  /** Every image family, core first; the core family's image is `sandboxImage`. */
  readonly families: readonly Pick<ImageFamily, "name" | "image" | "languages">[];
  /** Bound on the whole check, so a hung engine cannot hang a probe (default 1000 ms). */
  readonly timeoutMs?: number;
}

/** A report of nothing known yet: not serving, for `detail`'s reason. */
export function notServingReport(sandboxImage: string, detail: string): HealthReport {
  return {
    serving: false,
    dockerReachable: false,
    dockerVersion: "",
    dockerApiVersion: "",
    sandboxImage,
    sandboxImagePresent: false,
    families: [],
    detail,
  };
}

export function createHealthChecker(options: HealthCheckerOptions): HealthChecker {
  const timeoutMs = options.timeoutMs ?? 1000;
  return {
    async check() {
      const deadline = performance.now() + timeoutMs;
      const remaining = () => Math.max(1, Math.round(deadline - performance.now()));
      const report: { -readonly [K in keyof HealthReport]: HealthReport[K] } = { ...notServingReport(options.sandboxImage, "") };
      try {
        const version = await options.engine.version(remaining());
        report.dockerReachable = true;
        report.dockerVersion = version.version;
        report.dockerApiVersion = version.apiVersion;
      } catch (error) {
        const engineSlow = error instanceof EngineTimeoutError;
        return { ...report, engineSlow, detail: `container engine unreachable: ${(error as Error).message}` };
      }
      try {
        // One look per family, at once: a handful of local image inspects.
        const present = await Promise.all(options.families.map((family) => options.images.exists(family.image, remaining())));
        report.families = options.families.map(({ name, image, languages }, index) => ({
          name,
          image,
          languages,
          present: present[index] ?? false,
        }));
        const core = report.families.find((family) => family.image === options.sandboxImage);
        report.sandboxImagePresent = core ? core.present : await options.images.exists(options.sandboxImage, remaining());
      } catch (error) {
        // The engine answered its version and then not this: slow (tolerated a while, as for the
        // version), or gone (shutting down, say), and then it is not reachable for runs either.
        const engineSlow = error instanceof EngineTimeoutError;
        const detail = `could not look up the sandbox images: ${(error as Error).message}`;
        return { ...report, dockerReachable: engineSlow, engineSlow, detail };
      }
      if (!report.sandboxImagePresent) {
        return { ...report, detail: `sandbox image ${options.sandboxImage} is missing; build it (see README)` };
      }
      return { ...report, serving: true };
    },
  };
}
