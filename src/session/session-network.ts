import type { Logger } from "pino";
import { EgressUnavailableError, type EgressGateway, type EgressLease } from "../egress/egress-gateway.js";
import type { AllowRule } from "../sandbox/allow-list.js";

/**
 * A session's egress network (CreateSessionRequest.network), held for the session's lifetime: its
 * caps count over the whole of it, and a cap reached or a gateway lost closes it for good.
 */

/** The session's network lease, or undefined for a session without a policy. */
export async function openSessionNetwork(
  egress: EgressGateway | undefined,
  sessionId: string,
  rules: readonly AllowRule[] | undefined,
  log: Logger,
): Promise<EgressLease | undefined> {
  if (!rules || rules.length === 0) return undefined;
  if (!egress) throw new EgressUnavailableError("egress is not configured on this server (EGRESS_ALLOWED)");
  const lease = await egress.open(sessionId, rules);
  void lease.ended.then((end) =>
    log.warn({ end }, end.kind === "limit" ? "session network cap reached: its network is closed" : "session network lost"),
  );
  return lease;
}

/**
 * Closes the policy, removes the container (`removeContainer`), then the network it was on, and
 * logs what the session moved. Without a lease, only removes the container.
 */
export async function withNetworkReleased(
  lease: EgressLease | undefined,
  removeContainer: () => Promise<void>,
  log: Logger,
): Promise<void> {
  if (!lease) return removeContainer();
  const report = await lease.finish().catch(() => undefined);
  await removeContainer();
  await lease.dispose();
  if (report)
    log.info(
      {
        network_bytes_sent: report.sent,
        network_bytes_received: report.received,
        network_hosts: report.hosts,
        network_denied: report.denied,
      },
      "session network closed",
    );
}
