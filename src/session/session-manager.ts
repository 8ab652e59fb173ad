import type { RunOutcome } from "../runner/run-spec.js";
import type { EgressGateway } from "../egress/egress-gateway.js";
import { createSessionNetworks, withNetworkSettings } from "./session-network.js";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { ContainerClient, ManagedContainer } from "../docker/container-client.js";
import { containerLabels } from "../docker/container-options.js";
import type { SandboxShape } from "../sandbox/limits.js";
import type { Language, LanguageRegistry } from "../runner/languages.js";
import type { ArtifactCaps } from "../sandbox/supervisor-protocol.js";
import { AgentConnection } from "./agent-connection.js";
import {
  containerEnd,
  readSessionLabels,
  type SessionSettings,
  sessionLabels,
  toSessionCreateOptions,
} from "./session-container.js";
import { SessionFailedError, SessionFileError, SessionLimitError, SessionNotFoundError } from "./session-errors.js";
import { type SnapshotMeta, type SnapshotStore, saveSnapshot, whenIdle } from "./snapshot-store.js";
import { Session } from "./session.js";
import type { SessionPlan } from "./session-context.js";

export type { SessionPlan };

export interface SessionManagerOptions {
  readonly containers: ContainerClient;
  /** The egress gateway, for sessions with a network policy; without it they are refused (UNAVAILABLE). */
  readonly egress?: EgressGateway | undefined;
  /** The languages sessions may run (languages.ts). */
  readonly languages: LanguageRegistry;
  /** This process, as its containers are labelled. */
  readonly instanceId: string;
  /** This server across restarts (INSTANCE_NAME): whose sessions it adopts. */
  readonly instanceName: string;
  /** The container shape of a language's sessions, but for the runtime. */
  readonly shapeFor: (language: Language, runtime: SandboxShape["runtime"]) => SandboxShape;
  readonly maxSessions: number;
  readonly maxSessionsPerKey: number;
  readonly maxExecs: number;
  readonly maxListed: number;
  readonly outputLimitBytes: number;
  readonly artifactCaps: ArtifactCaps;
  /** A new session's id (service/session-ids.ts names the owner in it); random when omitted. */
  readonly newSessionId?: () => string;
  /** Where snapshots are kept (SNAPSHOT_DIR); without it SnapshotSession and ON_IDLE_SNAPSHOT are refused. */
  readonly snapshots?: SnapshotStore;
  /** Told when a session is forgotten (closed, failed and said, handed off): its holder claim goes. */
  readonly onForget?: (sessionId: string) => void;
  /** The compile timeout of a language in a session. */
  readonly compileTimeoutMs: (language: Language) => number;
  readonly logger: Logger;
}

/** Longest a new or adopted session's agent may take to answer its first hello. */
const agentReadyTimeoutMs = 30_000;
/** How often expired and idle sessions are looked for. */
const sweepIntervalMs = 1_000;
/** A failed session is remembered this long for its owner's next call, then forgotten. */
const failedRetentionMs = 10 * 60_000;

export interface SessionManager {
  create(plan: SessionPlan, signal?: AbortSignal): Promise<Session>;
  /** The caller's session; SessionNotFoundError for any other, SessionFailedError (once) for a failed one. */
  get(id: string, ownerId: string): Session;
  list(ownerId: string): Session[];
  close(id: string, ownerId: string, reason: string): Promise<Session>;
  /**
   * Takes over the running sessions an earlier process of this instance left; resolves with how
   * many. `heldElsewhere` names sessions another live replica adopted since: they are left alone.
   */
  adopt(heldElsewhere?: (sessionId: string) => boolean): Promise<number>;
  /**
   * Takes over one running session container another replica left (it is gone): attaches to its
   * agent as adopt() does. Undefined when the container is over (expired, stopped) or its agent
   * does not answer; the container is then removed.
   */
  adoptContainer(container: ManagedContainer): Promise<Session | undefined>;
  /** Whether this server holds the session now. */
  holds(id: string): boolean;
  /** Runs `exec`, adding to its usage the bytes the session moved through the egress gateway meanwhile. */
  countingNetwork(id: string, exec: () => Promise<RunOutcome>): Promise<RunOutcome>;
  /** Saves one of the caller's sessions' workspace as a snapshot (SnapshotSession). */
  snapshot(id: string, ownerId: string, name: string): Promise<SnapshotMeta>;
  /**
   * Leaves every session running without this server (a draining replica whose peers will adopt
   * them): detaches from each agent and forgets it; answers the containers left.
   */
  handOff(): string[];
  /** Closes every session (shutdown); resolves when their containers are gone. */
  closeAll(reason: string): Promise<void>;
  /** Starts and stops the sweeps for expired and idle sessions. */
  start(): void;
  stop(): void;
  containerIds(): Set<string>;
  counts(): { open: number; adopted: number };
  /** Resolves when every container removal started so far has ended. */
  settled(): Promise<void>;
}

export function createSessionManager(options: SessionManagerOptions): SessionManager {
  const sessions = new Map<string, Session>();
  const failedAt = new Map<string, number>();
  const removals = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  /** Sessions being created now, by owner: they count against the bounds before they exist. */
  const starting = new Map<string, number>();
  const { containers, logger } = options;
  const networks = createSessionNetworks(options.egress);

  const remove = (containerId: string, log: Logger): Promise<void> => {
    const removal = containers
      .remove(containerId)
      .catch((error: Error) => log.error({ container: containerId, err: error.message }, "session container not removed"));
    removals.add(removal);
    return removal.finally(() => removals.delete(removal));
  };

  function register(
    id: string,
    ownerId: string,
    containerId: string,
    settings: SessionSettings,
    agent: AgentConnection,
    adopted: boolean,
    log: Logger,
  ): Session {
    const language = options.languages.find(settings.language);
    if (!language) throw new Error(`unknown language ${settings.language}`);
    const session = new Session(id, ownerId, containerId, settings, adopted, {
      agent,
      language,
      outputLimitBytes: options.outputLimitBytes,
      maxExecs: options.maxExecs,
      maxListed: options.maxListed,
      artifactCaps: options.artifactCaps,
      compileTimeoutMs: options.compileTimeoutMs(language),
      removeContainer: () => networks.release(id, () => remove(containerId, log), log),
      freeze: (paused) => containers.setPaused(containerId, paused),
      inspectEnd: () => containerEnd(containers, containerId),
      log,
    });
    sessions.set(id, session);
    return session;
  }

  function ownedBy(ownerId: string): Session[] {
    return [...sessions.values()].filter((session) => session.ownerId === ownerId);
  }

  async function sweep(): Promise<void> {
    const now = Date.now();
    for (const session of [...sessions.values()]) {
      if (session.state === "failed") {
        const since = failedAt.get(session.id) ?? now;
        failedAt.set(session.id, since);
        if (now - since >= failedRetentionMs) forget(session);
        continue;
      }
      if (session.state !== "active" && session.state !== "paused") continue;
      const { settings } = session;
      if (now >= settings.expiresAtMs) {
        void closeAndForget(session, `its ttl of ${settings.ttlMs / 1000} s passed`);
      } else if (
        session.state === "active" &&
        session.execsRunning === 0 &&
        now - session.lastUsedAtMs >= settings.idleTimeoutMs
      ) {
        void whenIdle(session, {
          snapshots: options.snapshots,
          close: (reason) => closeAndForget(session, reason),
          log: logger.child({ session_id: session.id }),
        });
      }
    }
  }

  /** Saves the session's workspace in the snapshot store. */
  function snapshotOf(session: Session, name: string): Promise<SnapshotMeta> {
    if (!options.snapshots) throw new SessionFileError("this server keeps no snapshots (SNAPSHOT_DIR)");
    return saveSnapshot(options.snapshots, session, name);
  }

  function forget(session: Session): void {
    sessions.delete(session.id);
    failedAt.delete(session.id);
    options.onForget?.(session.id);
  }

  async function closeAndForget(session: Session, reason: string): Promise<void> {
    try {
      await session.close(reason);
    } finally {
      forget(session);
    }
  }

  async function adoptContainer(container: ManagedContainer): Promise<Session | undefined> {
    const labels = readSessionLabels(container.labels);
    if (!labels) return undefined;
    const held = sessions.get(labels.sessionId);
    if (held) return held;
    const log = logger.child({ session_id: labels.sessionId });
    const over = async () => {
      log.info({ container: container.id, state: container.state }, "session left by an earlier process is over: removed");
      await remove(container.id, log);
      return undefined;
    };
    if (container.state !== "running" || !options.languages.find(labels.settings.language)) return over();
    try {
      const agent = new AgentConnection(await containers.attach(container.id), log);
      const answer = await agent.hello(5_000);
      // The labels hold the times it was created with; the agent, those UpdateSession set since.
      const { createdAtMs } = labels.settings;
      const settings = answer.times
        ? { ...labels.settings, ...answer.times, ttlMs: answer.times.expiresAtMs - createdAtMs }
        : labels.settings;
      if (Date.now() >= settings.expiresAtMs) {
        agent.detach();
        return over();
      }
      const session = register(labels.sessionId, labels.ownerId, container.id, settings, agent, true, log);
      if (settings.network) await networks.reopen(labels.sessionId, settings.network, log);
      log.info({ container: container.id, execs_running: answer.execs, left_by: labels.instanceName }, "session adopted");
      return session;
    } catch (error) {
      log.warn({ container: container.id, err: (error as Error).message }, "session could not be adopted: removed");
      await remove(container.id, log);
      return undefined;
    }
  }

  async function createNow(plan: SessionPlan, signal: AbortSignal | undefined): Promise<Session> {
    const id = options.newSessionId?.() ?? `ses_${randomBytes(18).toString("base64url")}`;
    const createdAtMs = Date.now();
    const log = logger.child({ session_id: id });
    const egress = await networks.open(id, plan.network, log);
    const times = { createdAtMs, expiresAtMs: createdAtMs + plan.settings.ttlMs };
    const settings = withNetworkSettings({ ...plan.settings, ...times }, plan, egress);
    let containerId: string | undefined;
    try {
      containerId = await containers.create(
        toSessionCreateOptions({
          sessionId: id,
          ownerId: plan.ownerId,
          instanceId: options.instanceId,
          instanceName: options.instanceName,
          shape: options.shapeFor(plan.language, settings.runtime),
          settings,
          env: egress ? [...plan.env, ...egress.env] : plan.env,
          network: egress && { name: egress.network, gatewayAddress: egress.gatewayAddress },
        }),
      );
      const attachment = await containers.attach(containerId);
      const agent = new AgentConnection(attachment, log);
      await containers.start(containerId);
      await agent.hello(agentReadyTimeoutMs);
      if (signal?.aborted) throw new Error("the caller went away while the session started");
      const session = register(id, plan.ownerId, containerId, settings, agent, false, log);
      try {
        await session.writeFiles(plan.files);
      } catch (error) {
        forget(session);
        await session.close("its initial files could not be written");
        throw error;
      }
      log.info(
        {
          key_id: plan.ownerId || undefined,
          container: containerId,
          language: plan.language.name,
          runtime: settings.runtime,
          stateful: settings.stateful,
          ttl_s: settings.ttlMs / 1000,
          idle_timeout_s: settings.idleTimeoutMs / 1000,
          memory_bytes: settings.limits.memoryBytes,
        },
        "session created",
      );
      return session;
    } catch (error) {
      const made = containerId;
      if (!sessions.has(id)) await networks.release(id, () => (made ? remove(made, log) : Promise.resolve()), log);
      throw error;
    }
  }

  return {
    async create(plan, signal) {
      const startingNow = [...starting.values()].reduce((sum, count) => sum + count, 0);
      if (sessions.size + startingNow >= options.maxSessions) {
        throw new SessionLimitError(`${options.maxSessions} sessions are open, the server's maximum (MAX_SESSIONS)`);
      }
      if (ownedBy(plan.ownerId).length + (starting.get(plan.ownerId) ?? 0) >= options.maxSessionsPerKey) {
        throw new SessionLimitError(
          `this key already has ${options.maxSessionsPerKey} sessions open, its maximum (MAX_SESSIONS_PER_KEY)`,
        );
      }
      starting.set(plan.ownerId, (starting.get(plan.ownerId) ?? 0) + 1);
      try {
        return await createNow(plan, signal);
      } finally {
        const left = (starting.get(plan.ownerId) ?? 1) - 1;
        if (left > 0) starting.set(plan.ownerId, left);
        else starting.delete(plan.ownerId);
      }
    },
    get(id, ownerId) {
      const session = sessions.get(id);
      if (!session || session.ownerId !== ownerId) throw new SessionNotFoundError(id);
      if (session.state === "failed") {
        // Said once, with the cause; the session is then gone.
        forget(session);
        throw new SessionFailedError(id, session.reason);
      }
      return session;
    },

    list(ownerId) {
      return ownedBy(ownerId);
    },

    async close(id, ownerId, reason) {
      const session = sessions.get(id);
      if (!session || session.ownerId !== ownerId) throw new SessionNotFoundError(id);
      await closeAndForget(session, reason);
      return session;
    },

    async adopt(heldElsewhere = () => false) {
      let found: ManagedContainer[];
      try {
        found = await containers.listByLabels({
          [containerLabels.managed]: "true",
          [sessionLabels.instanceName]: options.instanceName,
        });
      } catch (error) {
        logger.warn({ err: (error as Error).message }, "sessions not adopted: engine unreachable");
        return 0;
      }
      let adopted = 0;
      for (const container of found) {
        const labels = readSessionLabels(container.labels);
        if (!labels || sessions.has(labels.sessionId) || heldElsewhere(labels.sessionId)) continue;
        if (await adoptContainer(container)) adopted += 1;
      }
      return adopted;
    },

    adoptContainer,

    holds: (id) => sessions.has(id),
    countingNetwork: (id, exec) => networks.counting(id, exec),

    async snapshot(id, ownerId, name) {
      const session = this.get(id, ownerId);
      await session.resume();
      return snapshotOf(session, name);
    },

    handOff() {
      const left = [...sessions.values()].filter((session) => session.state === "active");
      for (const session of left) {
        session.detach("handed off: a peer adopts it");
        forget(session);
      }
      return left.map((session) => session.containerId);
    },

    async closeAll(reason) {
      await Promise.all([...sessions.values()].map((session) => closeAndForget(session, reason)));
    },

    start() {
      let sweeps = 0;
      timer ??= setInterval(() => {
        void sweep();
        // Snapshots past their SNAPSHOT_TTL, once a minute.
        if (++sweeps % 60 === 0) void options.snapshots?.sweep().catch(() => 0);
      }, sweepIntervalMs);
      timer.unref();
    },

    stop() {
      clearInterval(timer);
      timer = undefined;
    },

    containerIds: () => new Set([...sessions.values()].map((session) => session.containerId)),

    counts: () => {
      const open = [...sessions.values()].filter((session) => session.state === "active");
      return { open: open.length, adopted: open.filter((session) => session.adopted).length };
    },

    async settled() {
      while (removals.size > 0) await Promise.all([...removals]);
    },
  };
}
