import { pino, type Logger } from "pino";

export type { Logger };

/** Creates the process logger: pino JSON, one line per event, to stdout. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "aurea" },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
