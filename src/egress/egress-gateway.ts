import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import type { Logger } from "pino";
import type { ContainerClient } from "../docker/container-client.js";
import { attachedStdio, containerLabels } from "../docker/container-options.js";
import { type ManagedNetwork, type NetworkClient, NetworkPoolExhaustedError } from "../docker/network-client.js";
import { egressGatewayCommand } from "../sandbox/sandbox-scripts.js";
import { type AllowRule, toGatewayRules } from "../sandbox/allow-list.js";
import { type EgressEnd, EgressUnavailableError, GatewayProcess, gatewayAnswerMs } from "./gateway-process.js";

export { type EgressEnd, EgressUnavailableError } from "./gateway-process.js";

/**
 * The egress gateway: one container per server (sandbox/programs/egress-gateway/), the only
 * peer of every sandbox with a network policy, and the server's side of its control wire. Each
 * run or session with a policy gets an EgressLease: a network of its own (internal, the bridge
 * without a host address) that the gateway joins and listens on, with the policy in place before
 * the lease is handed out. Everything fails closed: a gateway that cannot start, a network that
 * cannot be made or a policy not acknowledged is EgressUnavailableError (UNAVAILABLE), and a
 * gateway lost mid-run ends every lease's `ended` with the reason.
 */

/** Label on every network egress makes (with Aurea's managed, instance and run-id labels). */
export const egressNetworkLabel = "dev.aurea.egress-network";
/** Port of the gateway's HTTP proxy on every run network. */
export const proxyPort = 3128;

/** What the gateway counted for one lease. */
export interface EgressReport {
  readonly sent: number;
  readonly received: number;
  /** Per host name (or literal): bytes each way and connections allowed. */
  readonly hosts: Readonly<Record<string, { sent: number; received: number; connections: number }>>;
  /** Connections and DNS questions refused, by reason. */
  readonly denied: Readonly<Record<string, number>>;
}

export interface EgressLease {
  /** The engine network the sandbox joins (its NetworkMode). */
  readonly network: string;
  /** The gateway's address on it: the sandbox's DNS server and proxy. */
  readonly gatewayAddress: string;
  /** HTTP_PROXY, HTTPS_PROXY and NO_PROXY (both cases) for the program. */
  readonly env: readonly string[];
  /** Settles when the lease's network ended before `finish`: a cap reached, or the gateway lost. */
  readonly ended: Promise<EgressEnd>;
  /** Bytes so far, for a session's exec. */
  usage(): Promise<{ sent: number; received: number }>;
  /** Closes the policy at the gateway (nothing passes after) and returns its counts. */
  finish(): Promise<EgressReport>;
  /** Removes the network; call once the sandbox is gone from it. Never rejects. */
  dispose(): Promise<void>;
}

export interface EgressGatewayOptions {
  readonly containers: ContainerClient;
  readonly networks: NetworkClient;
  /** The image the gateway runs in (the core sandbox image: it needs only python3). */
  readonly image: string;
  /** This server process's id, as its containers and networks are labelled. */
  readonly instanceId: string;
  /** The engine network the gateway reaches out through (EGRESS_UPSTREAM_NETWORK). */
  readonly upstreamNetwork: string;
  /** Bytes through the gateway one lease may move, both ways together (EGRESS_MAX_BYTES). */
  readonly maxBytes: number;
  /** Connections one lease may open (EGRESS_MAX_CONNECTIONS). */
  readonly maxConnections: number;
  /** Told of every connection the gateway allowed or denied, for the metrics. */
  readonly onConnection?: (allowed: boolean, reason: string) => void;
  readonly logger: Logger;
}

export interface EgressGateway {
  /** A network for `id` (a run or session id) with `rules` in force; EgressUnavailableError when not. */
  open(id: string, rules: readonly AllowRule[]): Promise<EgressLease>;
  /**
   * The network an adopted session's sandbox is still on (its gateway gone with the server that
   * made it): this gateway joins it and takes the policy, or EgressUnavailableError when it does
   * not get `gatewayAddress` there, the address the sandbox's proxy settings and resolver name.
   */
  reopen(id: string, rules: readonly AllowRule[], gatewayAddress: string): Promise<EgressLease>;
  /** The gateway's container while it runs, which the orphan sweep must leave alone. */
  containerId(): string | undefined;
  /**
   * Removes egress networks nobody will: this instance's that no lease holds (after a grace), and
   * those of instances whose lease lapsed. Never rejects.
   */
  sweepNetworks(liveInstances: ReadonlySet<string> | undefined): Promise<void>;
  /** Removes the gateway (at shutdown, after every run ended). */
  stop(): Promise<void>;
}

/** An egress network of this instance's own is left alone this long, so one being set up is not raced. */
const ownNetworkGraceMs = 60_000;

/** The gateway container's create body. Pure. */
export function toGatewayCreateOptions(options: {
  readonly image: string;
  readonly instanceId: string;
  readonly upstreamNetwork: string;
}): Docker.ContainerCreateOptions {
  return {
    name: `aurea-egress-gateway-${options.instanceId}-${randomBytes(3).toString("hex")}`,
    Image: options.image,
    Cmd: egressGatewayCommand(),
    User: "65534:65534",
    Env: ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
    Labels: {
      [containerLabels.managed]: "true",
      [containerLabels.instance]: options.instanceId,
      [containerLabels.runId]: "egress-gateway",
    },
    // stdin closes when the server detaches (it exited or lost the engine): the gateway exits,
    // and every policy with it.
    ...attachedStdio,
    StopTimeout: 1,
    HostConfig: {
      NetworkMode: options.upstreamNetwork,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      ReadonlyRootfs: true,
      Memory: 256 * 1024 * 1024,
      MemorySwap: 256 * 1024 * 1024,
      PidsLimit: 64,
      // Port 53 without a capability; no answer to pings from sandboxes; never a router.
      Sysctls: {
        "net.ipv4.ip_unprivileged_port_start": "53",
        "net.ipv4.icmp_echo_ignore_all": "1",
        "net.ipv4.ip_forward": "0",
      },
      LogConfig: { Type: "none", Config: {} },
      AutoRemove: false,
    },
  };
}

/** The program's environment: every common spelling of the proxy settings. */
export function proxyEnvironment(gatewayAddress: string): string[] {
  const proxy = `http://${gatewayAddress}:${proxyPort}`;
  return [`HTTP_PROXY=${proxy}`, `HTTPS_PROXY=${proxy}`, `http_proxy=${proxy}`, `https_proxy=${proxy}`, "NO_PROXY=", "no_proxy="];
}

export function createEgressGateway(options: EgressGatewayOptions): EgressGateway {
  const { containers, networks, logger } = options;
  let gateway: GatewayProcess | undefined;
  let starting: Promise<GatewayProcess> | undefined;
  let stopped = false;
  /** Networks of leases not yet disposed, by name. */
  const leased = new Set<string>();

  async function startGateway(): Promise<GatewayProcess> {
    let id: string | undefined;
    try {
      id = await containers.create(toGatewayCreateOptions(options));
      const attachment = await containers.attach(id);
      const started = new GatewayProcess(id, attachment, options, () => {
        if (gateway === started) gateway = undefined;
        logger.warn({ gateway: started.id }, "egress gateway lost");
        void containers.remove(started.id).catch(() => undefined);
      });
      await containers.start(id);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        started.ready,
        new Promise((_resolve, reject) => {
          timer = setTimeout(
            () => reject(new EgressUnavailableError("the egress gateway did not start in time")),
            gatewayAnswerMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      logger.info({ gateway: id, upstream: options.upstreamNetwork }, "egress gateway started");
      return started;
    } catch (error) {
      if (id) await containers.remove(id).catch(() => undefined);
      throw error instanceof EgressUnavailableError
        ? error
        : new EgressUnavailableError(
            `the egress gateway could not start on network ${JSON.stringify(options.upstreamNetwork)} (EGRESS_UPSTREAM_NETWORK): ${(error as Error).message}`,
            { cause: error },
          );
    }
  }

  async function liveGateway(): Promise<GatewayProcess> {
    if (gateway?.alive) return gateway;
    if (stopped) throw new EgressUnavailableError("the server is stopping: no new egress gateway");
    starting ??= startGateway().finally(() => (starting = undefined));
    gateway = await starting;
    return gateway;
  }

  /** The lease on network `name`, once the gateway at `gatewayAddress` there took the policy. */
  async function lease(
    wire: GatewayProcess,
    id: string,
    name: string,
    gatewayAddress: string,
    rules: readonly AllowRule[],
    removeNetwork: () => Promise<void>,
  ): Promise<EgressLease> {
    const answer = await wire.ask({
      op: "open",
      id,
      listen: gatewayAddress,
      rules: toGatewayRules(rules),
      max_bytes: options.maxBytes,
      max_connections: options.maxConnections,
    });
    if (typeof answer.error === "string")
      throw new EgressUnavailableError(`the egress gateway refused the policy: ${answer.error}`);
    const ended = wire.watch(id);
    let finished: Promise<EgressReport> | undefined;
    return {
      network: name,
      gatewayAddress,
      env: proxyEnvironment(gatewayAddress),
      ended,
      async usage() {
        const counts = await wire.ask({ op: "usage", id });
        return { sent: Number(counts.sent ?? 0), received: Number(counts.received ?? 0) };
      },
      finish() {
        finished ??= (async () => {
          wire.forget(id);
          const report = await wire.ask({ op: "close", id });
          return {
            sent: Number(report.sent ?? 0),
            received: Number(report.received ?? 0),
            hosts: (report.hosts ?? {}) as EgressReport["hosts"],
            denied: (report.denied ?? {}) as EgressReport["denied"],
          };
        })();
        return finished;
      },
      dispose: removeNetwork,
    };
  }

  /** Runs `setUp` for network `name`; on any failure removes the network (when `owned`) and says why. */
  async function withNetwork(
    name: string,
    owned: boolean,
    setUp: (removeNetwork: () => Promise<void>) => Promise<EgressLease>,
  ): Promise<EgressLease> {
    const removeNetwork = async () => {
      leased.delete(name);
      await networks
        .remove(name)
        .catch((error: Error) => logger.warn({ network: name, err: error.message }, "egress network not removed"));
    };
    leased.add(name);
    try {
      return await setUp(removeNetwork);
    } catch (error) {
      if (owned) await removeNetwork();
      else leased.delete(name);
      // The engine has no address space left for another network: full, not broken.
      if (error instanceof EgressUnavailableError || error instanceof NetworkPoolExhaustedError) throw error;
      throw new EgressUnavailableError(`the network for egress could not be set up: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async function open(id: string, rules: readonly AllowRule[]): Promise<EgressLease> {
    const wire = await liveGateway();
    const name = `aurea-egress-${id}`;
    return withNetwork(name, true, async (removeNetwork) => {
      await networks.createIsolated(name, {
        [containerLabels.managed]: "true",
        [containerLabels.instance]: options.instanceId,
        [containerLabels.runId]: id,
        [egressNetworkLabel]: "true",
      });
      return lease(wire, id, name, await networks.connect(name, wire.id), rules, removeNetwork);
    });
  }

  async function reopen(id: string, rules: readonly AllowRule[], gatewayAddress: string): Promise<EgressLease> {
    const wire = await liveGateway();
    const name = `aurea-egress-${id}`;
    return withNetwork(name, false, async (removeNetwork) => {
      const address = await networks.connect(name, wire.id);
      if (address !== gatewayAddress) {
        throw new EgressUnavailableError(
          `the egress gateway got ${address} on ${name}, where the sandbox's proxy and resolver are ${gatewayAddress}`,
        );
      }
      return lease(wire, id, name, address, rules, removeNetwork);
    });
  }

  return {
    open,
    reopen,
    containerId: () => gateway?.id,
    async sweepNetworks(liveInstances) {
      let found: ManagedNetwork[];
      try {
        found = await networks.listByLabels({ [egressNetworkLabel]: "true" });
      } catch {
        return;
      }
      const now = Date.now();
      for (const network of found) {
        const owner = network.labels[containerLabels.instance] ?? "";
        const own = owner === options.instanceId;
        // A network a lease holds is in use, whoever made it (an adopted session's).
        if (leased.has(network.name)) continue;
        if (own ? now - network.createdAtMs < ownNetworkGraceMs : liveInstances?.has(owner) !== false) continue;
        await networks
          .remove(network.name)
          .then(() => logger.info({ network: network.name, owner }, "orphaned egress network removed"))
          .catch((error: Error) =>
            logger.warn({ network: network.name, err: error.message }, "orphaned egress network not removed"),
          );
      }
    },
    async stop() {
      stopped = true;
      const current = gateway ?? (await starting?.catch(() => undefined));
      gateway = undefined;
      if (!current) return;
      current.close();
      await containers.remove(current.id).catch(() => undefined);
    },
  };
}
