import type { Logger } from "pino";
import { EgressUnavailableError, type EgressGateway, type EgressLease } from "../egress/egress-gateway.js";
import type { RunOutcome } from "../runner/run-spec.js";
import type { SessionSettings } from "./session-container.js";
import { withNetworkUsage } from "../runner/runner.js";
import { type AllowRule, parseAllowList } from "../sandbox/allow-list.js";

/**
 * Sessions' egress networks (CreateSessionRequest.network), each held for its session's lifetime:
 * the caps count over the whole of it, and a cap reached or a gateway lost closes it for good.
 */
export interface SessionNetworks {
  /** The session's network lease, or undefined for a session without a policy. */
  open(sessionId: string, rules: readonly AllowRule[] | undefined, log: Logger): Promise<EgressLease | undefined>;
  /**
   * Restores an adopted session's network: this server's gateway joins the network the session's
   * sandbox is on, at the address the sandbox was given, with its policy. Where that cannot be
   * done the session keeps running without a network (never with more), and says so in the log.
   */
  reopen(sessionId: string, network: { allow: readonly string[]; gatewayAddress: string }, log: Logger): Promise<void>;
  /**
   * Runs `exec`, adding to its usage the bytes the session moved through the gateway meanwhile
   * (other execs' too, when several run at once); unchanged without a network.
   */
  counting(sessionId: string, exec: () => Promise<RunOutcome>): Promise<RunOutcome>;
  /**
   * Closes the policy, removes the container (`removeContainer`), then the network it was on, and
   * logs what the session moved. Without a network, only removes the container.
   */
  release(sessionId: string, removeContainer: () => Promise<void>, log: Logger): Promise<void>;
}

export function createSessionNetworks(egress: EgressGateway | undefined): SessionNetworks {
  const leases = new Map<string, EgressLease>();
  const networks: SessionNetworks = {
    async open(sessionId, rules, log) {
      if (!rules || rules.length === 0) return undefined;
      if (!egress) throw new EgressUnavailableError("egress is not configured on this server (EGRESS_ALLOWED)");
      const lease = await egress.open(sessionId, rules);
      follow(sessionId, lease, { allow: rules.map((rule) => rule.text), gatewayAddress: lease.gatewayAddress }, log);
      return lease;
    },
    async reopen(sessionId, network, log) {
      try {
        if (!egress) throw new EgressUnavailableError("egress is not configured on this server (EGRESS_ALLOWED)");
        const lease = await egress.reopen(sessionId, parseAllowList(network.allow), network.gatewayAddress);
        follow(sessionId, lease, network, log);
        log.info({ gateway_address: lease.gatewayAddress }, "session network restored");
      } catch (error) {
        log.warn({ err: (error as Error).message }, "session network not restored: the session has none");
      }
    },
    async counting(sessionId, exec) {
      const usage = () =>
        leases
          .get(sessionId)
          ?.usage()
          .catch(() => undefined);
      const before = await usage();
      const outcome = await exec();
      const after = before && (await usage());
      if (!before || !after) return outcome;
      return withNetworkUsage(outcome, { sent: after.sent - before.sent, received: after.received - before.received });
    },
    async release(sessionId, removeContainer, log) {
      const lease = leases.get(sessionId);
      leases.delete(sessionId);
      if (!lease) return removeContainer();
      const report = await lease.finish().catch(() => undefined);
      try {
        await removeContainer();
      } finally {
        // The network goes even when the container could not (left to the reaper): its removal
        // disconnects whatever is still on it.
        await lease.dispose();
      }
      if (!report) return;
      const { sent, received, hosts, denied } = report;
      log.info(
        { network_bytes_sent: sent, network_bytes_received: received, network_hosts: hosts, network_denied: denied },
        "session network closed",
      );
    },
  };

  /**
   * Holds the lease for the session's lifetime. A cap reached closes the network for good; a lost
   * gateway is replaced (once per loss), and the session's network restored on the new one.
   */
  function follow(
    sessionId: string,
    lease: EgressLease,
    network: { allow: readonly string[]; gatewayAddress: string },
    log: Logger,
  ) {
    leases.set(sessionId, lease);
    void lease.ended.then((end) => {
      if (end.kind === "limit") return log.warn({ end }, "session network cap reached: its network is closed");
      // Released meanwhile, or already restored: nothing to do.
      if (leases.get(sessionId) !== lease) return;
      leases.delete(sessionId);
      log.warn({ end }, "session network lost: restoring it on a new gateway");
      return networks.reopen(sessionId, network, log);
    });
  }

  return networks;
}

/** The session's settings with its policy and gateway address, kept in its labels for an adopter. */
export function withNetworkSettings(
  settings: SessionSettings,
  plan: { readonly network?: readonly AllowRule[] | undefined },
  lease: EgressLease | undefined,
): SessionSettings {
  if (!lease || !plan.network) return settings;
  return { ...settings, network: { allow: plan.network.map((rule) => rule.text), gatewayAddress: lease.gatewayAddress } };
}
