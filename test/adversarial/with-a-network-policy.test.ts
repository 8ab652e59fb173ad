import { afterAll, beforeAll, expect } from "vitest";
import { freeSubnet, publicLookingSubnets } from "../../bench/support/free-subnet.js";
import { createTestNetwork, removeLeftovers, type TestNetwork } from "../support/egress-network.js";
import { hostilePolicyVariable } from "../support/hostile-suite.js";

/**
 * The adversarial suite again, every family, with a network policy set on every run and session
 * (`pkgs.test`, the test's own listener on a network this file creates as internal): what held
 * without a network holds with one, and the listener hears nothing but what was asked of it by
 * name. The network probes themselves, which differ with a policy, are network-with-policy.test.ts.
 */
const upstreamName = "aurea-test-egress-hostile";
let upstream: TestNetwork;
process.env[hostilePolicyVariable] = upstreamName;

beforeAll(async () => {
  await removeLeftovers([upstreamName]);
  upstream = await createTestNetwork({ name: upstreamName, subnet: freeSubnet(publicLookingSubnets), aliases: ["pkgs.test"] });
}, 60_000);

afterAll(async () => {
  const log = await upstream.log();
  await upstream.remove();
  expect(log.hosts.filter((host) => host !== "pkgs.test")).toEqual([]);
  expect(log.udp).toBe(0);
  expect(log.tcp_connections).toBe(0);
});

await import("./escalation.test.js");
await import("./process-escapes.test.js");
await import("./resource-exhaustion.test.js");
await import("./looking-around.test.js");
await import("./leftovers.test.js");
await import("./nothing-lost.test.js");
