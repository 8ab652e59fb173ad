import { readFileSync } from "node:fs";
import { BlockList } from "node:net";
import { networkInterfaces } from "node:os";

/**
 * The first of `candidates` (IPv4 CIDRs) that overlaps nothing this machine already routes: its
 * interfaces' networks and every route in /proc/net/route but the default. Egress tests and the
 * egress bench make engine networks of their own with a fixed subnet; one that overlapped the
 * host's own network (documentation ranges are used for real addressing on some machines, this
 * one's included) would shadow the host's gateway.
 */
export function freeSubnet(
  candidates: readonly string[],
  taken: readonly (readonly [string, number])[] = hostNetworks(),
): string {
  for (const candidate of candidates) {
    const [base = "", prefixText = "24"] = candidate.split("/");
    const prefix = Number(prefixText);
    const overlaps = taken.some(([network, length]) => {
      // Two networks overlap when the wider one contains the other's base address.
      const wider = new BlockList();
      if (length <= prefix) {
        wider.addSubnet(network, length, "ipv4");
        return wider.check(base, "ipv4");
      }
      wider.addSubnet(base, prefix, "ipv4");
      return wider.check(network, "ipv4");
    });
    if (!overlaps) return candidate;
  }
  throw new Error(`every candidate subnet overlaps this machine's networks: ${candidates.join(", ")}`);
}

/** This machine's IPv4 networks: its interfaces' and its routes' (but the default), as [base, prefix]. */
export function hostNetworks(): [string, number][] {
  const taken: [string, number][] = [];
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === "IPv4" && address.cidr) {
        const [base = "", prefix = "32"] = address.cidr.split("/");
        taken.push([base, Number(prefix)]);
      }
    }
  }
  for (const line of readFileSync("/proc/net/route", "utf8").split("\n").slice(1)) {
    const [, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (!destination || !mask || mask === "00000000") continue;
    taken.push([hexToAddress(destination), prefixOf(hexToAddress(mask))]);
  }
  return taken;
}

/** /proc/net/route writes addresses as little-endian hex. */
function hexToAddress(hex: string): string {
  const value = Number.parseInt(hex, 16);
  return [value & 255, (value >>> 8) & 255, (value >>> 16) & 255, value >>> 24].join(".");
}

function prefixOf(mask: string): number {
  return mask.split(".").reduce((bits, part) => bits + (Number(part).toString(2).match(/1/g)?.length ?? 0), 0);
}

/** Candidates that the egress gateway does not count as internal (documentation and benchmark ranges). */
export const publicLookingSubnets = ["198.51.100.0/24", "203.0.113.0/24", "198.18.7.0/24", "198.19.7.0/24", "192.0.2.0/24"];
/** Candidates the gateway counts as private (a rebinding target unless a CIDR entry allows it). */
export const privateSubnets = ["10.213.77.0/24", "10.214.77.0/24", "10.215.77.0/24", "192.168.213.0/24"];
