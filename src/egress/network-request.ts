import type { NetworkPolicy } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { AllowEntryError, type AllowRule, isWithin, maxAllowEntries, parseAllowEntry } from "../sandbox/allow-list.js";

/**
 * Checks a request's NetworkPolicy against the operator's EGRESS_ALLOWED; every problem is a
 * violation naming the entry (`network.allow[2]`). Returns the parsed rules, or undefined for no
 * network (no policy, or an empty one). Pure.
 */
export function validateNetworkPolicy(
  network: NetworkPolicy | undefined,
  operatorRules: readonly AllowRule[],
  violate: (field: string, description: string) => void,
): AllowRule[] | undefined {
  const entries = network?.allow ?? [];
  if (entries.length === 0) return undefined;
  if (operatorRules.length === 0) {
    violate("network", "egress is off on this server (EGRESS_ALLOWED is empty); leave network unset for no network");
    return undefined;
  }
  if (entries.length > maxAllowEntries) {
    violate("network.allow", `has ${entries.length} entries; at most ${maxAllowEntries} are allowed`);
    return undefined;
  }
  const rules: AllowRule[] = [];
  entries.forEach((entry, index) => {
    const field = `network.allow[${index}]`;
    try {
      const rule = parseAllowEntry(entry);
      if (isWithin(rule, operatorRules)) rules.push(rule);
      else violate(field, `${JSON.stringify(entry)} is not within what this server allows (EGRESS_ALLOWED)`);
    } catch (error) {
      if (!(error instanceof AllowEntryError)) throw error;
      violate(field, `${JSON.stringify(entry)}: ${error.reason}`);
    }
  });
  return rules;
}
