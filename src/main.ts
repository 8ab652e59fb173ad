import { parseConfig } from "./config/config.js";
import { createAureaApp } from "./app.js";
import { createLogger } from "./log/logger.js";

/** Process entry point: configuration from the environment, then serve until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const parsed = parseConfig(process.env);
  if (!parsed.ok) {
    const logger = createLogger("info");
    logger.fatal({ errors: parsed.errors }, `invalid configuration: ${parsed.errors.join("; ")}`);
    process.exit(2);
  }
  const logger = createLogger(parsed.config.logLevel);
  const app = createAureaApp({ config: parsed.config, logger });
  await app.start();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    app.stop().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ err: error.message }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: Error) => {
  createLogger("info").fatal({ err: error.message, stack: error.stack }, "aurea failed to start");
  process.exit(1);
});
