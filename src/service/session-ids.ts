import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Session ids that name the replica holding the session, signed with the secret every replica
 * shares (PEER_SECRET), so that any replica can send a call to the owner, and no id a caller makes
 * up can point a replica at an address of the caller's choosing: the signature is checked before
 * anything connects anywhere.
 *
 *   ses_<24 random bytes>                          without ADVERTISE_ADDRESS: this server's alone
 *   ses_<24 random bytes>.<owner host:port>.<mac>  base64url each; mac = HMAC-SHA256 of the first two
 */
export interface SessionIds {
  /** A new id for a session this replica holds. */
  newId(): string;
  /**
   * Where the session with this id is held: here (look it up locally), at a peer's address, or
   * nowhere a replica signed (a forged or altered id: NOT_FOUND without a connection).
   */
  ownerOf(id: string): SessionOwner;
  /** This replica's address, "" when ids name no owner. */
  readonly address: string;
}

export type SessionOwner =
  | { readonly kind: "here" }
  | { readonly kind: "peer"; readonly address: string }
  | { readonly kind: "forged" };

/** Bytes of the MAC kept in an id: 128 bits. */
const macBytes = 16;

export function createSessionIds(options: { readonly advertiseAddress: string; readonly peerSecret: string }): SessionIds {
  const { advertiseAddress: address, peerSecret } = options;
  const mac = (signed: string) => createHmac("sha256", peerSecret).update(signed).digest().subarray(0, macBytes);
  return {
    address,
    newId() {
      const random = randomBytes(18).toString("base64url");
      if (address === "") return `ses_${random}`;
      const signed = `${random}.${Buffer.from(address, "utf8").toString("base64url")}`;
      return `ses_${signed}.${mac(signed).toString("base64url")}`;
    },
    ownerOf(id) {
      // Without an address of its own this server forwards nothing: every id is looked up here.
      if (address === "" || !id.startsWith("ses_")) return { kind: "here" };
      const parts = id.slice(4).split(".");
      if (parts.length === 1) return { kind: "here" };
      const [random, owner, signature] = parts;
      if (parts.length !== 3 || !random || !owner || !signature) return { kind: "forged" };
      const given = Buffer.from(signature, "base64url");
      const expected = mac(`${random}.${owner}`);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { kind: "forged" };
      const ownerAddress = Buffer.from(owner, "base64url").toString("utf8");
      return ownerAddress === address ? { kind: "here" } : { kind: "peer", address: ownerAddress };
    },
  };
}
