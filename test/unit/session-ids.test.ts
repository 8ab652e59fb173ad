import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/config.js";
import { findPeers } from "../../src/service/peer-calls.js";
import { createSessionIds } from "../../src/service/session-ids.js";

const secret = "a-secret-every-replica-shares";

describe("session ids that name their owner", () => {
  const here = createSessionIds({ advertiseAddress: "10.0.0.1:8000", peerSecret: secret });
  const peer = createSessionIds({ advertiseAddress: "10.0.0.2:8000", peerSecret: secret });

  it("name the replica that made them, signed, and every replica with the secret reads them", () => {
    const id = peer.newId();
    expect(id).toMatch(/^ses_[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(here.ownerOf(id)).toEqual({ kind: "peer", address: "10.0.0.2:8000" });
    expect(peer.ownerOf(id)).toEqual({ kind: "here" });
    expect(new Set(Array.from({ length: 100 }, () => here.newId())).size).toBe(100);
  });

  it("read an altered owner, an altered signature or another secret's id as forged", () => {
    const id = peer.newId();
    const [random, , mac] = id.slice(4).split(".");
    const elsewhere = Buffer.from("203.0.113.9:443").toString("base64url");
    expect(here.ownerOf(`ses_${random}.${elsewhere}.${mac}`)).toEqual({ kind: "forged" });
    expect(here.ownerOf(`${id.slice(0, -2)}AA`)).toEqual({ kind: "forged" });
    expect(here.ownerOf(`${id}.extra`)).toEqual({ kind: "forged" });
    const stranger = createSessionIds({ advertiseAddress: "10.0.0.2:8000", peerSecret: "another-secret-entirely" });
    expect(here.ownerOf(stranger.newId())).toEqual({ kind: "forged" });
  });

  it("are plain, and looked up here, without ADVERTISE_ADDRESS", () => {
    const alone = createSessionIds({ advertiseAddress: "", peerSecret: "" });
    expect(alone.newId()).toMatch(/^ses_[A-Za-z0-9_-]{24}$/);
    expect(alone.ownerOf(peer.newId())).toEqual({ kind: "here" });
    expect(here.ownerOf("ses_plainoldid")).toEqual({ kind: "here" });
  });

  it("find the other replicas from PEERS and PEER_DNS, on this replica's port, without itself", async () => {
    expect(await findPeers({ peers: ["10.0.0.2:8000", "10.0.0.1:8000"], peerDns: "", address: "10.0.0.1:8000" })).toEqual({
      addresses: ["10.0.0.2:8000"],
      found: true,
    });
    const local = await findPeers({ peers: [], peerDns: "localhost", address: "10.0.0.1:9000" });
    expect(local.found).toBe(true);
    expect(local.addresses).toContain("127.0.0.1:9000");
  });

  it("need PEER_SECRET once ADVERTISE_ADDRESS is set, and an address of host:port", () => {
    const errors = (env: Record<string, string>) => {
      const parsed = parseConfig(env);
      return parsed.ok ? [] : parsed.errors;
    };
    expect(errors({ ADVERTISE_ADDRESS: "10.0.0.1:8000" })).toEqual([expect.stringMatching(/^PEER_SECRET must be set/)]);
    expect(errors({ ADVERTISE_ADDRESS: "10.0.0.1", PEER_SECRET: secret })).toEqual([expect.stringMatching(/must be host:port/)]);
    expect(errors({ ADVERTISE_ADDRESS: "aurea-0.aurea:8000", PEER_SECRET: secret })).toEqual([]);
    expect(errors({ PEERS: "10.0.0.2:8000" })).toEqual([expect.stringMatching(/need ADVERTISE_ADDRESS/)]);
    expect(errors({ ADVERTISE_ADDRESS: "10.0.0.1:8000", PEER_SECRET: secret, PEERS: "10.0.0.2" })).toEqual([
      'PEERS: "10.0.0.2" is not host:port',
    ]);
  });
});
