import { BlockList, isIP } from "node:net";

/**
 * The syntax of egress allow-lists, shared by the operator's EGRESS_ALLOWED and a request's
 * NetworkPolicy.allow, and the rule that a request may only ask for what the operator allows.
 * Pure; the gateway (sandbox/programs/egress-gateway/) applies the parsed rules to traffic.
 *
 *   pypi.org                  that name only, ports 443 and 80
 *   *.githubusercontent.com   names under it (not the bare name), ports 443 and 80
 *   *                         any name (operators only, in practice)
 *   203.0.113.0/24            IP literals in it, and names resolving into it even where private
 *   pypi.org:8443             any of the above with one port instead of 443 and 80
 */

export type AllowRule =
  | { readonly kind: "host"; readonly name: string; readonly ports: readonly number[]; readonly text: string }
  /** `suffix` starts with a dot (".githubusercontent.com"), or is "" for `*` (any name). */
  | { readonly kind: "suffix"; readonly suffix: string; readonly ports: readonly number[]; readonly text: string }
  | {
      readonly kind: "cidr";
      readonly address: string;
      readonly prefix: number;
      readonly family: "ipv4" | "ipv6";
      readonly ports: readonly number[];
      readonly text: string;
    };

/** Ports an entry without `:port` allows: HTTPS and HTTP. */
export const defaultPorts: readonly number[] = [443, 80];

/** Most entries one request's policy may list. */
export const maxAllowEntries = 64;

const labelPattern = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function validName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => labelPattern.test(label));
}

/** An entry that could not be read: `reason` says why, for the field violation. */
export class AllowEntryError extends Error {
  override readonly name = "AllowEntryError";
  constructor(
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`${JSON.stringify(entry)}: ${reason}`);
  }
}

/** Splits a trailing `:port` off, where one is there. */
function splitPort(entry: string): { body: string; ports: readonly number[] } {
  const match = /^(.*[^:]):(\d{1,5})$/.exec(entry);
  // A bare IPv6 address has colons of its own; only a CIDR's (digits after the slash) or a
  // name's `:port` is a port.
  if (!match?.[1] || (match[1].includes(":") && !match[1].includes("/"))) return { body: entry, ports: defaultPorts };
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new AllowEntryError(entry, "port must be 1-65535");
  return { body: match[1], ports: [port] };
}

/** Reads one entry; throws AllowEntryError naming what is wrong. */
export function parseAllowEntry(raw: string): AllowRule {
  const text = raw.trim().toLowerCase();
  if (text.length === 0) throw new AllowEntryError(raw, "empty entry");
  if (text.length > 300) throw new AllowEntryError(raw, "longer than 300 characters");
  const { body, ports } = splitPort(text);
  if (body.includes("/")) {
    const [address = "", prefixText = ""] = body.split("/");
    const version = isIP(address);
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (version === 0) throw new AllowEntryError(raw, "not an IPv4 or IPv6 network (like 203.0.113.0/24)");
    const family = version === 4 ? "ipv4" : "ipv6";
    if (!(prefix >= 0 && prefix <= (version === 4 ? 32 : 128)))
      throw new AllowEntryError(raw, `prefix length must be 0-${version === 4 ? 32 : 128}`);
    return { kind: "cidr", address, prefix, family, ports, text };
  }
  if (isIP(body) !== 0 || isIP(body.replace(/^\[|\]$/g, "")) !== 0)
    throw new AllowEntryError(raw, `an address is allowed through a CIDR entry (${body}/32), not as a name`);
  if (body === "*") return { kind: "suffix", suffix: "", ports, text };
  if (body.startsWith("*.")) {
    const parent = body.slice(2);
    if (!validName(parent)) throw new AllowEntryError(raw, "not a valid wildcard (like *.example.com)");
    return { kind: "suffix", suffix: `.${parent}`, ports, text };
  }
  if (!validName(body)) throw new AllowEntryError(raw, "not a host name, *.suffix or CIDR");
  return { kind: "host", name: body, ports, text };
}

/** Reads a whole list (EGRESS_ALLOWED); throws the first AllowEntryError. */
export function parseAllowList(entries: readonly string[]): AllowRule[] {
  return entries.map(parseAllowEntry);
}

function cidrContains(outer: Extract<AllowRule, { kind: "cidr" }>, inner: { address: string; prefix: number; family: string }) {
  if (outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  const list = new BlockList();
  list.addSubnet(outer.address, outer.prefix, outer.family);
  return list.check(inner.address, inner.family as "ipv4" | "ipv6");
}

function nameMatches(rule: AllowRule, name: string): boolean {
  if (rule.kind === "host") return rule.name === name;
  if (rule.kind === "suffix") return rule.suffix === "" || (name.endsWith(rule.suffix) && name.length > rule.suffix.length);
  return false;
}

/** Whether `outer` (an operator's entry) covers everything `inner` names, on `port`. */
function covers(outer: AllowRule, inner: AllowRule, port: number): boolean {
  if (!outer.ports.includes(port)) return false;
  if (inner.kind === "cidr") return outer.kind === "cidr" && cidrContains(outer, inner);
  if (inner.kind === "host") return nameMatches(outer, inner.name);
  // A wildcard is covered by a wildcard at or above it.
  return outer.kind === "suffix" && (outer.suffix === "" || (inner.suffix !== "" && inner.suffix.endsWith(outer.suffix)));
}

/** Whether the operator's rules allow everything `rule` asks for (each of its ports by some rule). */
export function isWithin(rule: AllowRule, operator: readonly AllowRule[]): boolean {
  return rule.ports.every((port) => operator.some((outer) => covers(outer, rule, port)));
}

/** The rules as the gateway reads them (sandbox/programs/egress-gateway/). */
export function toGatewayRules(rules: readonly AllowRule[]): unknown[] {
  return rules.map((rule) =>
    rule.kind === "cidr"
      ? { kind: "cidr", cidr: `${rule.address}/${rule.prefix}`, ports: rule.ports }
      : rule.kind === "host"
        ? { kind: "host", name: rule.name, ports: rule.ports }
        : { kind: "suffix", suffix: rule.suffix, ports: rule.ports },
  );
}
