import type Docker from "dockerode";
import type { Logger } from "pino";
import { engineCall } from "./engine-call.js";
import { ContainerGoneError, EngineError } from "./engine-errors.js";

/** An engine network Aurea made, as a listing shows it. */
export interface ManagedNetwork {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Engine clock, milliseconds since the epoch. */
  readonly createdAtMs: number;
}

/** The engine's networks: the calls egress needs (egress/run-network.ts), each bounded in time. */
export interface NetworkClient {
  /**
   * Creates an internal bridge network (no route out) whose bridge has no address on the host
   * (`inhibit_ipv4`), so its members reach each other and nothing else, the host included.
   */
  createIsolated(name: string, labels: Readonly<Record<string, string>>): Promise<string>;
  /** Connects a container; resolves with its IPv4 address there. */
  connect(network: string, container: string): Promise<string>;
  /** Removes the network, disconnecting whatever is still on it; one already gone is not an error. */
  remove(network: string): Promise<void>;
  /** Networks carrying all the given labels. */
  listByLabels(labels: Readonly<Record<string, string>>): Promise<ManagedNetwork[]>;
}

interface NetworkBody {
  Id: string;
  Name: string;
  Created?: string;
  Labels?: Record<string, string> | null;
  Containers?: Record<string, { IPv4Address?: string }> | null;
}

/** The engine's message when its address pools are used up, a capacity problem rather than a fault. */
export class NetworkPoolExhaustedError extends Error {
  override readonly name = "NetworkPoolExhaustedError";
}

/** How often a network with an endpoint the engine has not let go of yet is tried (about 3 s in all). */
const removeAttempts = 5;
const activeEndpoints = /active endpoints/i;

export class DockerodeNetworkClient implements NetworkClient {
  constructor(
    private readonly docker: Docker,
    private readonly logger: Logger,
  ) {}

  async createIsolated(name: string, labels: Readonly<Record<string, string>>): Promise<string> {
    try {
      const network = await engineCall(this.logger, "create network", { network: name }, () =>
        this.docker.createNetwork({
          Name: name,
          Driver: "bridge",
          Internal: true,
          CheckDuplicate: true,
          Labels: { ...labels },
          Options: {
            // Without it the host's end of the bridge has an address the members can reach: the
            // host's own services (this server, an engine's TCP port) would be one hop away.
            "com.docker.network.bridge.inhibit_ipv4": "true",
          },
        }),
      );
      return network.id;
    } catch (error) {
      if (/available, non-overlapping|address pools have been fully subnetted/i.test((error as Error).message)) {
        throw new NetworkPoolExhaustedError((error as Error).message, { cause: error });
      }
      throw error;
    }
  }

  async connect(network: string, container: string): Promise<string> {
    await engineCall(this.logger, "connect network", { network, container }, (abortSignal) =>
      this.docker.getNetwork(network).connect({ Container: container, abortSignal } as { Container: string }),
    );
    const body = (await engineCall(this.logger, "inspect network", { network }, () =>
      this.docker.getNetwork(network).inspect(),
    )) as NetworkBody;
    const address = Object.entries(body.Containers ?? {}).find(([id]) => id === container || id.startsWith(container))?.[1]
      ?.IPv4Address;
    if (!address) throw new EngineError(`connect network ${network}: no address for container ${container}`);
    return address.split("/")[0] ?? address;
  }

  async remove(network: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.removeOnce(network);
      } catch (error) {
        // The engine may not yet have processed the exit of a container that was on the network
        // (a gateway killed a moment ago, a sandbox removed under load): its endpoint lingers
        // for a moment, and the network is refused as having active endpoints.
        if (attempt >= removeAttempts || !activeEndpoints.test((error as Error).message)) throw error;
        this.logger.debug({ network, attempt, err: (error as Error).message }, "network still has endpoints; retrying");
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  private async removeOnce(network: string): Promise<void> {
    try {
      const body = (await engineCall(this.logger, "inspect network", { network }, () =>
        this.docker.getNetwork(network).inspect(),
      )) as NetworkBody;
      for (const container of Object.keys(body.Containers ?? {})) {
        await engineCall(this.logger, "disconnect network", { network, container }, () =>
          this.docker.getNetwork(network).disconnect({ Container: container, Force: true }),
        ).catch((error: Error) => {
          if (!(error instanceof ContainerGoneError)) throw error;
        });
      }
      await engineCall(this.logger, "remove network", { network }, () => this.docker.getNetwork(network).remove());
    } catch (error) {
      if (!(error instanceof ContainerGoneError)) throw error;
    }
  }

  async listByLabels(labels: Readonly<Record<string, string>>): Promise<ManagedNetwork[]> {
    const filters = JSON.stringify({ label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) });
    const bodies = (await engineCall(this.logger, "list networks", { labels }, () =>
      this.docker.listNetworks({ filters }),
    )) as NetworkBody[];
    return bodies.map((body) => ({
      id: body.Id,
      name: body.Name,
      labels: body.Labels ?? {},
      createdAtMs: body.Created ? Date.parse(body.Created) : 0,
    }));
  }
}
