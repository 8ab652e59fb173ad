import { lookup } from "node:dns/promises";
import { Code, ConnectError, type Client, createClient, type HandlerContext } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";

/**
 * Calls from this replica to a peer on a caller's behalf (a session the peer holds, a request id
 * it claimed): gRPC on one pooled HTTP/2 connection per peer, with the caller's Authorization
 * header (the peer checks it as for a call made to it), the caller's remaining deadline and its
 * cancellation, and a mark that the call was forwarded, so that it is never forwarded again.
 */
export interface PeerCalls {
  /** This replica's address (ADVERTISE_ADDRESS). */
  readonly address: string;
  client(address: string): Client<typeof SandboxService>;
  /** The options of a call made on behalf of the call `context` belongs to. */
  options(context: HandlerContext): { headers: Record<string, string>; signal: AbortSignal; timeoutMs: number | undefined };
  /** Whether the call `context` belongs to was forwarded by a peer (and must not be forwarded again). */
  forwarded(context: HandlerContext): boolean;
  /** Whether a failure is the peer not answering at all (rather than its answer). */
  noAnswer(error: unknown): boolean;
}

/** Marks a call one replica forwarded to another; its value is the forwarding replica's address. */
export const forwardedByHeader = "aurea-forwarded-by";

export function createPeerCalls(address: string): PeerCalls {
  const clients = new Map<string, Client<typeof SandboxService>>();
  return {
    address,
    client(peer) {
      let client = clients.get(peer);
      if (!client) {
        client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://${peer}` }));
        clients.set(peer, client);
      }
      return client;
    },
    options(context) {
      const headers: Record<string, string> = { [forwardedByHeader]: address };
      const authorization = context.requestHeader.get("authorization");
      if (authorization !== null) headers.authorization = authorization;
      return { headers, signal: context.signal, timeoutMs: context.timeoutMs() };
    },
    forwarded: (context) => context.requestHeader.has(forwardedByHeader),
    noAnswer(error) {
      const failure = ConnectError.from(error);
      // An answer carries the peer's headers; a refused or broken connection carries none.
      return failure.code === Code.Unavailable && !failure.metadata.has("grpc-status") && !failure.metadata.has("content-type");
    },
  };
}

/**
 * The other replicas, as far as they can be found: the PEERS list, and the addresses PEER_DNS
 * resolves to (the headless Service) on this replica's port. `found` is false when the name could
 * not be resolved, so a list built from them may be incomplete.
 */
export async function findPeers(options: {
  readonly peers: readonly string[];
  readonly peerDns: string;
  readonly address: string;
}): Promise<{ addresses: string[]; found: boolean }> {
  const port = options.address.slice(options.address.lastIndexOf(":") + 1);
  let resolved: string[] = [];
  let found = true;
  if (options.peerDns !== "") {
    try {
      resolved = (await lookup(options.peerDns, { all: true })).map(({ address, family }) =>
        family === 6 ? `[${address}]:${port}` : `${address}:${port}`,
      );
    } catch {
      found = false;
    }
  }
  const addresses = [...new Set([...options.peers, ...resolved])].filter((peer) => peer !== options.address);
  return { addresses, found };
}
