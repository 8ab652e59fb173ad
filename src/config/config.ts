import { type AllowRule, parseAllowEntry } from "../sandbox/allow-list.js";
import { hostname } from "node:os";
import { type RunscPlatform, runscPlatforms, runtimes, type Runtime } from "../sandbox/runtimes.js";
import { type Env, EnvReader, gibibyte, mebibyte } from "./env-reader.js";

export { gibibyte, kibibyte, mebibyte, parseByteSize } from "./env-reader.js";

/**
 * Server configuration, read once from the environment at start and validated as a whole so an
 * operator sees every bad value in one message instead of fixing them one restart at a time.
 *
 * Over 300 lines on purpose: it is the one table of every setting (its documented field, its
 * default and range, its reader), and splitting it would part a setting's doc from its check.
 */

export interface AureaConfig {
  /** Address the single listening port binds to (`HOST`, default `0.0.0.0`). */
  readonly host: string;
  /** The one port serving gRPC, gRPC-Web and Connect (`PORT`, default 8000; 0 picks a free port). */
  readonly port: number;
  /** Image every run executes in (`SANDBOX_IMAGE`, default `aurea-sandbox:latest`). */
  readonly sandboxImage: string;
  /**
   * `FROM` image used when the server builds the sandbox image itself (`SANDBOX_BASE_IMAGE`,
   * default `debian:trixie-slim`).
   */
  readonly sandboxBaseImage: string;
  /** Build the sandbox image at start when it is missing (`SANDBOX_BUILD_ON_START`, default true). */
  readonly buildImageOnStart: boolean;
  /** CPU cores a run may use at most, and by default (`SANDBOX_CPU_LIMIT`, default 1.0). */
  readonly cpuLimit: number;
  /** Memory in bytes a run may use at most, and by default (`SANDBOX_MEMORY_LIMIT`, default 512m). */
  readonly memoryLimitBytes: number;
  /** Processes and threads a run may have at once, at most and by default (`SANDBOX_PIDS_LIMIT`, 64). */
  readonly pidsLimit: number;
  /** Wall-clock limit of a run that asks for none, seconds (`SANDBOX_DEFAULT_TIMEOUT`, default 30). */
  readonly defaultTimeoutSeconds: number;
  /** Largest wall-clock limit a request may ask for, seconds (`SANDBOX_MAX_TIMEOUT`, default 300). */
  readonly maxTimeoutSeconds: number;
  /**
   * Longest a compile phase may take, seconds (`SANDBOX_MAX_COMPILE_TIMEOUT`, default 60): a
   * language's own default compile timeout is cut to it, and a request may only ask for less.
   */
  readonly maxCompileTimeoutSeconds: number;
  /** Most memory a compile phase may use, bytes (`SANDBOX_MAX_COMPILE_MEMORY`, default 2g); the same rule. */
  readonly maxCompileMemoryBytes: number;
  /** Most test cases one request may carry (`SANDBOX_MAX_TESTS`, default 256). */
  readonly maxTests: number;
  /** Most bytes of stdin and expected output all of a request's cases carry (`SANDBOX_MAX_TEST_INPUT_BYTES`, default 16m). */
  readonly maxTestInputBytes: number;
  /** Most seconds the timeouts of a request's cases may add up to (`SANDBOX_MAX_TEST_TIME`, default 300). */
  readonly maxTestTimeSeconds: number;
  /** Wall-clock seconds of a case that names none, when the request names none either (`SANDBOX_TEST_DEFAULT_TIMEOUT`, default 5). */
  readonly testDefaultTimeoutSeconds: number;
  /** Bytes of each case's stdout and stderr kept and compared; past it the case ends OUTPUT_LIMIT (`SANDBOX_TEST_OUTPUT_LIMIT`, default 256k). */
  readonly testOutputLimitBytes: number;
  /** Bytes kept of each of stdout and stderr; past it the run is killed (`SANDBOX_OUTPUT_LIMIT`, 1m). */
  readonly outputLimitBytes: number;
  /** Size of the workspace tmpfs (`SANDBOX_WORKSPACE_SIZE`, default 64m). */
  readonly workspaceSizeBytes: number;
  /** Most files and directories the workspace can hold (`SANDBOX_WORKSPACE_FILES`, default 4096). */
  readonly workspaceFiles: number;
  /** Most artifacts one run returns (`SANDBOX_ARTIFACT_MAX_FILES`, default 100). */
  readonly artifactMaxFiles: number;
  /** Largest single artifact returned (`SANDBOX_ARTIFACT_MAX_FILE_SIZE`, default 8m). */
  readonly artifactMaxFileBytes: number;
  /** Most artifact bytes one run returns in all (`SANDBOX_ARTIFACT_MAX_TOTAL_SIZE`, default 16m). */
  readonly artifactMaxTotalBytes: number;
  /** Size of the `/tmp` tmpfs (`SANDBOX_TMP_SIZE`, default 16m). */
  readonly tmpSizeBytes: number;
  /** Whether the root filesystem is read-only when a request does not say (`SANDBOX_READONLY_DEFAULT`, true). */
  readonly readonlyDefault: boolean;
  /** Largest `code`, in UTF-8 bytes (`SANDBOX_MAX_CODE_BYTES`, default 1m). */
  readonly maxCodeBytes: number;
  /** Largest request message the server reads, bytes (`MAX_REQUEST_BYTES`, default 8m). */
  readonly maxRequestBytes: number;
  /** Runtime of a run that names none (`SANDBOX_RUNTIME`, default `runc`). */
  readonly defaultRuntime: Runtime;
  /**
   * gVisor's platform for runs, test cases and compiles under `runsc` (`RUNSC_PLATFORM`: ptrace,
   * systrap or kvm; default ptrace, the fastest for the common short run in `npm run bench:gvisor`;
   * systrap is about 3x faster on output- and system-call-heavy programs). Sessions always run on
   * ptrace (runtimes.ts, sessionRunscPlatform).
   */
  readonly runscPlatform: RunscPlatform;
  /** Runtimes requests may choose (`SANDBOX_ALLOWED_RUNTIMES`, default `runc,runsc`; `runsc` alone forces gVisor). */
  readonly allowedRuntimes: readonly Runtime[];
  /**
   * The engine's default seccomp profile that Aurea's is derived from (`SANDBOX_SECCOMP_BASE_PROFILE`,
   * default /usr/local/share/aurea/docker-default-seccomp.json, installed by scripts/ensure-engine.sh),
   * or `builtin` to leave the engine's built-in default without Aurea's extra denials.
   */
  readonly seccompBaseProfile: string;
  /** Serve even on a runtime known to be open to a container escape (`ALLOW_VULNERABLE_RUNTIME`, false). */
  readonly allowVulnerableRuntime: boolean;
  /** Runs executing at once (`MAX_CONCURRENT_RUNS`, default 4). */
  readonly maxConcurrentRuns: number;
  /** Runs waiting for a slot, at most (`MAX_QUEUED_RUNS`, default 32); past it RESOURCE_EXHAUSTED. */
  readonly maxQueuedRuns: number;
  /** Longest a run waits for a slot, seconds (`MAX_QUEUE_WAIT`, default 30). */
  readonly maxQueueWaitSeconds: number;
  /** API keys, `id:key[:max-concurrent]` separated by commas (`API_KEYS`; secret, never logged). */
  readonly apiKeys: string;
  /** A file of API keys in the same form, one per line (`API_KEYS_FILE`). */
  readonly apiKeysFile: string | undefined;
  /** Require a key for health and reflection too (`AUTH_PROTECT_PROBES`, default false). */
  readonly authProtectProbes: boolean;
  /** How long runs in flight may finish after SIGTERM, seconds (`SHUTDOWN_GRACE`, default 30). */
  readonly shutdownGraceSeconds: number;
  /** Seconds between sweeps for orphaned containers (`REAPER_INTERVAL`, default 30). */
  readonly reaperIntervalSeconds: number;
  /**
   * Age in seconds after which a container of another Aurea instance whose lease lapsed is
   * orphaned (`REAPER_FOREIGN_AFTER`, default 0: at once). A live instance's are never touched.
   */
  readonly reaperForeignAfterSeconds: number;
  /**
   * Seconds between renewals of this server's lease on the engine (`INSTANCE_LEASE_INTERVAL`, 10):
   * servers sharing an engine leave each other's containers alone while the owner's lease is
   * fresh, and reap a dead one's three renewals after its last.
   */
  readonly instanceLeaseIntervalSeconds: number;
  /** Seconds between HTTP/2 keepalive PINGs on every connection; 0 for none (`KEEPALIVE_INTERVAL`, 30). */
  readonly keepaliveIntervalSeconds: number;
  /** Seconds a keepalive PING may go unanswered before the connection is closed (`KEEPALIVE_TIMEOUT`, 10). */
  readonly keepaliveTimeoutSeconds: number;
  /** Seconds after which an HTTP/2 connection is sent GOAWAY so clients re-resolve; 0 for never (`MAX_CONNECTION_AGE`, 300). */
  readonly maxConnectionAgeSeconds: number;
  /** Seconds calls on a connection past its age may go on (`MAX_CONNECTION_AGE_GRACE`, default SANDBOX_MAX_TIMEOUT + 60). */
  readonly maxConnectionAgeGraceSeconds: number;
  /** Seconds a finished Run's result is kept for retries with its request_id (`REQUEST_ID_WINDOW`, 120). */
  readonly requestIdWindowSeconds: number;
  /** Warm containers kept ready per language and shape in demand; 0 for the cold path only (`WARM_POOL_SIZE`, 2). */
  readonly warmPoolSize: number;
  /** Seconds without demand after which a shape's warm containers are removed (`WARM_POOL_IDLE_TIMEOUT`, 300). */
  readonly warmPoolIdleTimeoutSeconds: number;
  /** Warm containers created at once while refilling (`WARM_POOL_REFILL_CONCURRENCY`, 1). */
  readonly warmPoolRefillConcurrency: number;
  /**
   * A warm container that served a clean run is scrubbed and serves the same API key's next run
   * of the same shape (`RECYCLE_SANDBOXES`, true; which shapes may: runner/recycle-rules.ts).
   */
  readonly recycleSandboxes: boolean;
  /**
   * Keep the compilers of languages with a `compile.warm` loaded in their compile containers
   * (`WARM_COMPILERS`, true); false: their compile containers start the compile command itself.
   */
  readonly warmCompilers: boolean;
  /** Runs one recycled container may serve before it is removed (`RECYCLE_MAX_RUNS`, 100). */
  readonly recycleMaxRuns: number;
  /** Serve gRPC server reflection, v1 and v1alpha (`REFLECTION_ENABLED`, default true). */
  readonly reflectionEnabled: boolean;
  /** Serve the playground page at `/` (`PLAYGROUND_ENABLED`, default true); its calls need a key like any other. */
  readonly playgroundEnabled: boolean;
  /** Origins browsers may call from (`CORS_ALLOWED_ORIGINS`, comma-separated; none by default; `*` for any). */
  readonly corsAllowedOrigins: readonly string[];
  /** Where session snapshots are kept (`SNAPSHOT_DIR`, default /var/lib/aurea/snapshots); replicas sharing it share snapshots. */
  readonly snapshotDir: string;
  /** Most bytes one key's snapshots may take in all (`SNAPSHOT_MAX_BYTES_PER_KEY`, default 1g). */
  readonly snapshotMaxBytesPerKey: number;
  /** How long a snapshot is kept, seconds (`SNAPSHOT_TTL`, default 604800: a week). */
  readonly snapshotTtlSeconds: number;
  /** Serve the MCP endpoint at `/mcp` (`MCP_ENABLED`, default true); it takes the same API keys. */
  readonly mcpEnabled: boolean;
  /** MCP sessions held at once (`MCP_MAX_SESSIONS`, default 256); past it a new one is refused. */
  readonly mcpMaxSessions: number;
  /** Seconds without a request after which an MCP session ends and its sessions close (`MCP_SESSION_IDLE_TIMEOUT`, 1800). */
  readonly mcpSessionIdleTimeoutSeconds: number;
  /** How often health asks the engine, seconds (`HEALTH_CHECK_INTERVAL`, default 2). */
  readonly healthCheckIntervalSeconds: number;
  /** pino log level (`LOG_LEVEL`, default `info`). */
  readonly logLevel: string;
  /** Put each run's code in its audit line (`LOG_CODE`, default false: only its size and SHA-256). */
  readonly logCode: boolean;
  /** Sessions open at once on this server, at most (`MAX_SESSIONS`, default 64); past it RESOURCE_EXHAUSTED. */
  readonly maxSessions: number;
  /** Sessions one API key may have open at once (`MAX_SESSIONS_PER_KEY`, default 8). */
  readonly maxSessionsPerKey: number;
  /** Longest a session may live, seconds (`SESSION_MAX_TTL`, default 86400). */
  readonly sessionMaxTtlSeconds: number;
  /** Lifetime of a session that names none, seconds (`SESSION_DEFAULT_TTL`, default 3600). */
  readonly sessionDefaultTtlSeconds: number;
  /** Seconds without a call after which a session that names no idle timeout is closed (`SESSION_DEFAULT_IDLE_TIMEOUT`, 600). */
  readonly sessionDefaultIdleTimeoutSeconds: number;
  /** Execs one session may run at once (`SESSION_MAX_EXECS`, default 4); past it RESOURCE_EXHAUSTED. */
  readonly sessionMaxExecs: number;
  /** Most entries ListFiles returns (`SESSION_MAX_LISTED`, default 10000). */
  readonly sessionMaxListed: number;
  /**
   * This server's name for the sessions it owns (`INSTANCE_NAME`, default the host name): a server
   * restarted under the same name takes over the sessions its predecessor left running.
   */
  readonly instanceName: string;
  /**
   * host:port the other replicas reach this one on (`ADVERTISE_ADDRESS`; Kubernetes: the pod's IP
   * from the downward API). Set, a session id names its owner, signed with PEER_SECRET, and any
   * replica forwards a call for a session it does not hold to its owner. Empty: off.
   */
  readonly advertiseAddress: string;
  /** The secret every replica shares to sign session ids (`PEER_SECRET`, at least 16 characters). */
  readonly peerSecret: string;
  /**
   * The other replicas, for ListSessions: `PEERS`, a list of host:port, and/or `PEER_DNS`, a name
   * whose addresses are the replicas (Kubernetes: the headless Service), on ADVERTISE_ADDRESS's port.
   */
  readonly peers: readonly string[];
  readonly peerDns: string;
  /**
   * What a request's NetworkPolicy may ask for (`EGRESS_ALLOWED`, comma-separated host names,
   * `*.suffix` wildcards and CIDRs, each with an optional `:port`; egress/allow-list.ts). Empty, the
   * default, turns egress off: any `network` field is INVALID_ARGUMENT.
   */
  readonly egressAllowed: readonly AllowRule[];
  /** The engine network the egress gateway reaches out through (`EGRESS_UPSTREAM_NETWORK`, default `bridge`). */
  readonly egressUpstreamNetwork: string;
  /** Bytes one run (or session) may move through the gateway, both ways (`EGRESS_MAX_BYTES`, default 256m). */
  readonly egressMaxBytes: number;
  /** Connections one run (or session) may open through the gateway (`EGRESS_MAX_CONNECTIONS`, default 256). */
  readonly egressMaxConnections: number;
}

/** EGRESS_ALLOWED, parsed; every entry that cannot be read is a configuration error naming it. */
function readAllowList(value: string, errors: string[]): AllowRule[] {
  const rules: AllowRule[] = [];
  for (const entry of value.split(",").map((item) => item.trim())) {
    if (entry === "") continue;
    try {
      rules.push(parseAllowEntry(entry));
    } catch (error) {
      errors.push(`EGRESS_ALLOWED: ${(error as Error).message}`);
    }
  }
  return rules;
}

export type ConfigResult =
  | { readonly ok: true; readonly config: AureaConfig }
  | { readonly ok: false; readonly errors: readonly string[] };

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Reads and validates the configuration; never throws. */
export function parseConfig(env: Env): ConfigResult {
  const errors: string[] = [];
  const read = new EnvReader(env, errors);
  const config: AureaConfig = {
    host: read.string("HOST", "0.0.0.0"),
    port: read.integer("PORT", 8000, 0, 65535),
    sandboxImage: read.imageName("SANDBOX_IMAGE", "aurea-sandbox:latest"),
    sandboxBaseImage: read.imageName("SANDBOX_BASE_IMAGE", "debian:trixie-slim"),
    buildImageOnStart: read.boolean("SANDBOX_BUILD_ON_START", true),
    cpuLimit: read.number("SANDBOX_CPU_LIMIT", 1.0, 0.01, 64),
    memoryLimitBytes: read.byteSize("SANDBOX_MEMORY_LIMIT", "512m", 8 * mebibyte, 64 * gibibyte),
    pidsLimit: read.integer("SANDBOX_PIDS_LIMIT", 64, 1, 4096),
    defaultTimeoutSeconds: read.number("SANDBOX_DEFAULT_TIMEOUT", 30, 0.1, 3600),
    maxTimeoutSeconds: read.number("SANDBOX_MAX_TIMEOUT", 300, 0.1, 3600),
    maxCompileTimeoutSeconds: read.number("SANDBOX_MAX_COMPILE_TIMEOUT", 60, 0.1, 3600),
    maxCompileMemoryBytes: read.byteSize("SANDBOX_MAX_COMPILE_MEMORY", "2g", 32 * mebibyte, 64 * gibibyte),
    maxTests: read.integer("SANDBOX_MAX_TESTS", 256, 1, 10_000),
    maxTestInputBytes: read.byteSize("SANDBOX_MAX_TEST_INPUT_BYTES", "16m", 1024, gibibyte),
    maxTestTimeSeconds: read.number("SANDBOX_MAX_TEST_TIME", 300, 1, 86_400),
    testDefaultTimeoutSeconds: read.number("SANDBOX_TEST_DEFAULT_TIMEOUT", 5, 0.1, 3600),
    testOutputLimitBytes: read.byteSize("SANDBOX_TEST_OUTPUT_LIMIT", "256k", 1024, 64 * mebibyte),
    outputLimitBytes: read.byteSize("SANDBOX_OUTPUT_LIMIT", "1m", 1024, 256 * mebibyte),
    workspaceSizeBytes: read.byteSize("SANDBOX_WORKSPACE_SIZE", "64m", mebibyte, 16 * gibibyte),
    workspaceFiles: read.integer("SANDBOX_WORKSPACE_FILES", 4096, 16, 1_000_000),
    artifactMaxFiles: read.integer("SANDBOX_ARTIFACT_MAX_FILES", 100, 0, 10_000),
    artifactMaxFileBytes: read.byteSize("SANDBOX_ARTIFACT_MAX_FILE_SIZE", "8m", 1, gibibyte),
    artifactMaxTotalBytes: read.byteSize("SANDBOX_ARTIFACT_MAX_TOTAL_SIZE", "16m", 1, gibibyte),
    tmpSizeBytes: read.byteSize("SANDBOX_TMP_SIZE", "16m", mebibyte, 16 * gibibyte),
    readonlyDefault: read.boolean("SANDBOX_READONLY_DEFAULT", true),
    maxCodeBytes: read.byteSize("SANDBOX_MAX_CODE_BYTES", "1m", 1, 64 * mebibyte),
    maxRequestBytes: read.byteSize("MAX_REQUEST_BYTES", "8m", 1024, 256 * mebibyte),
    defaultRuntime: read.oneOf("SANDBOX_RUNTIME", "runc", runtimes),
    allowedRuntimes: read.list("SANDBOX_ALLOWED_RUNTIMES", "runc,runsc", runtimes),
    runscPlatform: read.oneOf("RUNSC_PLATFORM", "ptrace", runscPlatforms),
    seccompBaseProfile: read.string("SANDBOX_SECCOMP_BASE_PROFILE", "/usr/local/share/aurea/docker-default-seccomp.json"),
    allowVulnerableRuntime: read.boolean("ALLOW_VULNERABLE_RUNTIME", false),
    maxConcurrentRuns: read.integer("MAX_CONCURRENT_RUNS", 4, 1, 1000),
    maxQueuedRuns: read.integer("MAX_QUEUED_RUNS", 32, 0, 100_000),
    maxQueueWaitSeconds: read.number("MAX_QUEUE_WAIT", 30, 0.01, 3600),
    apiKeys: read.string("API_KEYS", ""),
    apiKeysFile: read.optionalString("API_KEYS_FILE"),
    authProtectProbes: read.boolean("AUTH_PROTECT_PROBES", false),
    shutdownGraceSeconds: read.number("SHUTDOWN_GRACE", 30, 0, 3600),
    reaperIntervalSeconds: read.number("REAPER_INTERVAL", 30, 0.1, 3600),
    reaperForeignAfterSeconds: read.number("REAPER_FOREIGN_AFTER", 0, 0, 86_400),
    instanceLeaseIntervalSeconds: read.number("INSTANCE_LEASE_INTERVAL", 10, 0.5, 3600),
    requestIdWindowSeconds: read.number("REQUEST_ID_WINDOW", 120, 1, 86_400),
    keepaliveIntervalSeconds: read.number("KEEPALIVE_INTERVAL", 30, 0, 3600),
    keepaliveTimeoutSeconds: read.number("KEEPALIVE_TIMEOUT", 10, 0.1, 3600),
    maxConnectionAgeSeconds: read.number("MAX_CONNECTION_AGE", 300, 0, 86_400),
    // -1: not set, so the longest run plus a minute (resolved below).
    maxConnectionAgeGraceSeconds: read.number("MAX_CONNECTION_AGE_GRACE", -1, -1, 86_400),
    warmPoolSize: read.integer("WARM_POOL_SIZE", 2, 0, 64),
    warmPoolIdleTimeoutSeconds: read.number("WARM_POOL_IDLE_TIMEOUT", 300, 1, 86_400),
    warmPoolRefillConcurrency: read.integer("WARM_POOL_REFILL_CONCURRENCY", 1, 1, 16),
    recycleSandboxes: read.boolean("RECYCLE_SANDBOXES", true),
    warmCompilers: read.boolean("WARM_COMPILERS", true),
    recycleMaxRuns: read.integer("RECYCLE_MAX_RUNS", 100, 1, 100_000),
    reflectionEnabled: read.boolean("REFLECTION_ENABLED", true),
    playgroundEnabled: read.boolean("PLAYGROUND_ENABLED", true),
    corsAllowedOrigins: read.origins("CORS_ALLOWED_ORIGINS"),
    snapshotDir: read.string("SNAPSHOT_DIR", "/var/lib/aurea/snapshots"),
    snapshotMaxBytesPerKey: read.byteSize("SNAPSHOT_MAX_BYTES_PER_KEY", "1g", 0, 1024 * gibibyte),
    snapshotTtlSeconds: read.number("SNAPSHOT_TTL", 604_800, 1, 365 * 86_400),
    mcpEnabled: read.boolean("MCP_ENABLED", true),
    mcpMaxSessions: read.integer("MCP_MAX_SESSIONS", 256, 1, 100_000),
    mcpSessionIdleTimeoutSeconds: read.number("MCP_SESSION_IDLE_TIMEOUT", 1800, 1, 30 * 86_400),
    healthCheckIntervalSeconds: read.number("HEALTH_CHECK_INTERVAL", 2, 0.05, 60),
    logLevel: read.oneOf("LOG_LEVEL", "info", logLevels),
    logCode: read.boolean("LOG_CODE", false),
    maxSessions: read.integer("MAX_SESSIONS", 64, 0, 100_000),
    maxSessionsPerKey: read.integer("MAX_SESSIONS_PER_KEY", 8, 0, 100_000),
    sessionMaxTtlSeconds: read.number("SESSION_MAX_TTL", 86_400, 1, 30 * 86_400),
    sessionDefaultTtlSeconds: read.number("SESSION_DEFAULT_TTL", 3600, 1, 30 * 86_400),
    sessionDefaultIdleTimeoutSeconds: read.number("SESSION_DEFAULT_IDLE_TIMEOUT", 600, 1, 30 * 86_400),
    sessionMaxExecs: read.integer("SESSION_MAX_EXECS", 4, 1, 1000),
    sessionMaxListed: read.integer("SESSION_MAX_LISTED", 10_000, 1, 1_000_000),
    instanceName: read.string("INSTANCE_NAME", hostname()),
    advertiseAddress: read.string("ADVERTISE_ADDRESS", ""),
    peerSecret: read.string("PEER_SECRET", ""),
    peers: read
      .string("PEERS", "")
      .split(",")
      .map((peer) => peer.trim())
      .filter((peer) => peer !== ""),
    peerDns: read.string("PEER_DNS", ""),
    egressAllowed: readAllowList(read.string("EGRESS_ALLOWED", ""), errors),
    egressUpstreamNetwork: read.string("EGRESS_UPSTREAM_NETWORK", "bridge"),
    egressMaxBytes: read.byteSize("EGRESS_MAX_BYTES", "256m", 1, 1024 * gibibyte),
    egressMaxConnections: read.integer("EGRESS_MAX_CONNECTIONS", 256, 1, 1_000_000),
  };
  if (config.defaultTimeoutSeconds > config.maxTimeoutSeconds) {
    errors.push(
      `SANDBOX_DEFAULT_TIMEOUT (${config.defaultTimeoutSeconds}) must not exceed SANDBOX_MAX_TIMEOUT (${config.maxTimeoutSeconds})`,
    );
  }
  if (!config.allowedRuntimes.includes(config.defaultRuntime)) {
    errors.push(
      `SANDBOX_RUNTIME (${config.defaultRuntime}) must be one of SANDBOX_ALLOWED_RUNTIMES (${config.allowedRuntimes.join(",")})`,
    );
  }
  if (config.sessionDefaultTtlSeconds > config.sessionMaxTtlSeconds) {
    errors.push(
      `SESSION_DEFAULT_TTL (${config.sessionDefaultTtlSeconds}) must not exceed SESSION_MAX_TTL (${config.sessionMaxTtlSeconds})`,
    );
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(config.instanceName)) {
    errors.push(`INSTANCE_NAME (${JSON.stringify(config.instanceName)}) must be 1-128 letters, digits, "_", "." or "-"`);
  }
  if (config.advertiseAddress !== "" && !/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(config.advertiseAddress)) {
    errors.push(`ADVERTISE_ADDRESS (${JSON.stringify(config.advertiseAddress)}) must be host:port`);
  }
  if (config.advertiseAddress !== "" && config.peerSecret.length < 16) {
    errors.push("PEER_SECRET must be set, at least 16 characters, once ADVERTISE_ADDRESS is: it signs session ids");
  }
  if ((config.peers.length > 0 || config.peerDns !== "") && config.advertiseAddress === "") {
    errors.push("PEERS and PEER_DNS need ADVERTISE_ADDRESS: replicas find each other by their addresses");
  }
  for (const peer of config.peers) {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(peer)) errors.push(`PEERS: ${JSON.stringify(peer)} is not host:port`);
  }
  if (config.maxCodeBytes > config.maxRequestBytes) {
    errors.push(`SANDBOX_MAX_CODE_BYTES (${config.maxCodeBytes}) must not exceed MAX_REQUEST_BYTES (${config.maxRequestBytes})`);
  }
  const resolved: AureaConfig = {
    ...config,
    maxConnectionAgeGraceSeconds:
      config.maxConnectionAgeGraceSeconds < 0 ? config.maxTimeoutSeconds + 60 : config.maxConnectionAgeGraceSeconds,
  };
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: resolved };
}

/** The configuration as it may be logged: secrets replaced by what they amount to. */
export function redactConfig(config: AureaConfig): Record<string, unknown> {
  return {
    ...config,
    apiKeys: config.apiKeys === "" ? "none" : "[redacted]",
    peerSecret: config.peerSecret === "" ? "none" : "[redacted]",
  };
}
