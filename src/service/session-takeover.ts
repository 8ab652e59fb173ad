import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { ContainerClient, ManagedContainer } from "../docker/container-client.js";
import { containerLabels, toMarkerCreateOptions } from "../docker/container-options.js";
import { NameInUseError } from "../docker/engine-errors.js";
import { readSessionLabels } from "../session/session-container.js";
import type { SessionManager } from "../session/session-manager.js";

/**
 * Sessions outlive the replica that held them, on a shared engine. A session's container runs on
 * when its replica dies (SIGKILL) or hands it off (draining): its interpreter and files stay. The
 * replica that next needs it (a call whose owner does not answer, or its orphan sweep) adopts it
 * as a restart does, after taking a holder claim: a container named after the session, which the
 * engine keeps unique, labelled with the adopter's instance and address. So exactly one live
 * replica holds a session: its creator while that one's lease is fresh (instance-lease.ts), else
 * the live holder of its claim; every other replica forwards calls there, and reapers spare it.
 */

/** Label of a holder claim: the session id it holds. */
export const holderLabel = "dev.aurea.session-holder";
/** The holding replica's address, for the replicas that forward to it. */
export const holderAddressLabel = "dev.aurea.session-holder-address";

export type Takeover =
  /** Adopted here: serve the call locally. */
  | { readonly kind: "adopted" }
  /** Another live replica holds it: forward there. */
  | { readonly kind: "held"; readonly address: string }
  /** Its holder's lease is still fresh (it may be restarting, or unreachable from here): retry. */
  | { readonly kind: "holder-alive" }
  /** Not on this engine: its owner and its sandbox are gone from here. */
  | { readonly kind: "gone" };

export interface SessionTakeoverOptions {
  readonly containers: ContainerClient;
  readonly sessions: Pick<SessionManager, "adoptContainer" | "holds">;
  /** The instances whose lease is fresh, from every managed container (instance-lease.ts). */
  readonly liveInstances: (found: readonly ManagedContainer[]) => ReadonlySet<string> | undefined;
  /** The addresses of the other live replicas on the engine (instance-lease.ts). */
  readonly livePeers: (found: readonly ManagedContainer[]) => string[];
  readonly instanceId: string;
  /** This replica's address (ADVERTISE_ADDRESS), written on its claims. */
  readonly address: string;
  /** Any image on the engine: a claim is created, never started. */
  readonly image: () => string;
  readonly logger: Logger;
}

export interface SessionTakeover {
  /** For a session whose holder did not answer: adopt it, or say who holds it, or that it is gone. */
  takeOver(sessionId: string): Promise<Takeover>;
  /**
   * Adopts every unexpired session no live replica holds (the orphan sweep, from its listing, or
   * the engine now); answers how many.
   */
  adoptAbandoned(found?: readonly ManagedContainer[]): Promise<number>;
  /** From a listing: sessions a live replica other than this one holds by claim. */
  heldElsewhere(found: readonly ManagedContainer[]): Set<string>;
  /** heldElsewhere, from the engine now (a restarting instance's adoption). */
  heldElsewhereNow(): Promise<Set<string>>;
  /**
   * What a draining replica does with its sessions: the addresses of live peers on the engine that
   * can adopt them (empty: none, so they are closed).
   */
  peersOnEngine(): Promise<string[]>;
  /** Gives up this replica's claim (its session closed). */
  release(sessionId: string): Promise<void>;
  /** The claims this replica holds (their containers), which its reaper spares. */
  containerIds(): Set<string>;
}

const claimName = (sessionId: string) =>
  `aurea-session-holder-${createHash("sha256").update(sessionId).digest("hex").slice(0, 48)}`;

export function createSessionTakeover(options: SessionTakeoverOptions): SessionTakeover {
  const { containers, logger } = options;
  const claims = new Map<string, string>();
  const inFlight = new Map<string, Promise<Takeover>>();

  async function listing(): Promise<{ found: ManagedContainer[]; live: ReadonlySet<string> | undefined }> {
    const found = await containers.listByLabels({ [containerLabels.managed]: "true" });
    return { found, live: options.liveInstances(found) };
  }

  /** The live holder of a session by claim, when it has one. */
  function claimHolder(found: readonly ManagedContainer[], live: ReadonlySet<string>, sessionId: string) {
    const claim = found.find((container) => container.labels[holderLabel] === sessionId);
    const instance = claim?.labels[containerLabels.instance] ?? "";
    return {
      claim,
      // This replica's own claim on a session it does not hold (its adoption failed) is stale too.
      live: claim !== undefined && live.has(instance) && instance !== options.instanceId,
      address: claim?.labels[holderAddressLabel] ?? "",
    };
  }

  async function claimAndAdopt(sessionId: string, container: ManagedContainer, stale: ManagedContainer | undefined) {
    const log = logger.child({ session_id: sessionId });
    if (stale) await containers.remove(stale.id).catch(() => undefined);
    let claim: string;
    try {
      claim = await containers.create(
        toMarkerCreateOptions({
          name: claimName(sessionId),
          image: options.image(),
          instanceId: options.instanceId,
          purpose: `holds ${sessionId}`,
          labels: { [holderLabel]: sessionId, [holderAddressLabel]: options.address },
        }),
      );
    } catch (error) {
      if (!(error instanceof NameInUseError)) throw error;
      // Another replica claimed it a moment ago.
      const { found, live } = await listing();
      const holder = live ? claimHolder(found, live, sessionId) : undefined;
      return holder?.live && holder.address
        ? ({ kind: "held", address: holder.address } as const)
        : ({ kind: "holder-alive" } as const);
    }
    claims.set(sessionId, claim);
    const session = await options.sessions.adoptContainer(container);
    if (!session) {
      await release(sessionId);
      return { kind: "gone" } as const;
    }
    log.info({ container: container.id }, "session taken over from a replica that is gone");
    return { kind: "adopted" } as const;
  }

  async function decide(sessionId: string): Promise<Takeover> {
    if (options.sessions.holds(sessionId)) return { kind: "adopted" };
    const { found, live } = await listing();
    // Without a lease of its own this replica cannot tell the living from the dead.
    if (!live) return { kind: "holder-alive" };
    const container = found.find((candidate) => readSessionLabels(candidate.labels)?.sessionId === sessionId);
    if (!container) return { kind: "gone" };
    const holder = claimHolder(found, live, sessionId);
    if (holder.live) return holder.address ? { kind: "held", address: holder.address } : { kind: "holder-alive" };
    if (!holder.claim && live.has(container.labels[containerLabels.instance] ?? "")) return { kind: "holder-alive" };
    return claimAndAdopt(sessionId, container, holder.claim);
  }

  async function release(sessionId: string): Promise<void> {
    const claim = claims.get(sessionId);
    claims.delete(sessionId);
    if (claim)
      await containers.remove(claim).catch((error: Error) => logger.warn({ err: error.message }, "holder claim not removed"));
  }

  return {
    takeOver(sessionId) {
      let pending = inFlight.get(sessionId);
      if (!pending) {
        pending = decide(sessionId).finally(() => inFlight.delete(sessionId));
        inFlight.set(sessionId, pending);
      }
      return pending;
    },
    async adoptAbandoned(listed) {
      const found = listed ?? (await listing()).found;
      const live = options.liveInstances(found);
      if (!live) return 0;
      let adopted = 0;
      for (const container of found) {
        const labels = readSessionLabels(container.labels);
        if (!labels || options.sessions.holds(labels.sessionId) || container.state !== "running") continue;
        if (Date.now() >= labels.settings.expiresAtMs || live.has(container.labels[containerLabels.instance] ?? "")) continue;
        const outcome = await this.takeOver(labels.sessionId).catch(() => undefined);
        if (outcome?.kind === "adopted") adopted += 1;
      }
      return adopted;
    },
    heldElsewhere(found) {
      const live = options.liveInstances(found) ?? new Set<string>();
      const held = new Set<string>();
      for (const container of found) {
        const sessionId = container.labels[holderLabel];
        const instance = container.labels[containerLabels.instance] ?? "";
        if (sessionId && instance !== options.instanceId && live.has(instance)) held.add(sessionId);
      }
      return held;
    },
    async heldElsewhereNow() {
      const { found } = await listing();
      return this.heldElsewhere(found);
    },
    async peersOnEngine() {
      const { found } = await listing();
      return options.livePeers(found);
    },
    release,
    containerIds: () => new Set(claims.values()),
  };
}
