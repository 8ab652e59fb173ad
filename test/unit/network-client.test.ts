import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { DockerodeNetworkClient } from "../../src/docker/network-client.js";
import { silentLogger } from "../support/fixtures.js";

/** The engine's answer to removing a network a container's endpoint is still on. */
function activeEndpoints(): Error {
  return Object.assign(
    new Error("(HTTP code 403) unexpected - error while removing network: network aurea-egress-x id 1 has active endpoints"),
    { statusCode: 403 },
  );
}

/** A dockerode stand-in for one network whose `remove` fails with `failures`, in order, then succeeds. */
function engineWith(failures: Error[]) {
  const calls: string[] = [];
  const network = {
    inspect: async () => ({ Id: "1", Name: "aurea-egress-x", Containers: { gateway: { IPv4Address: "192.0.2.2/24" } } }),
    disconnect: async ({ Container }: { Container: string }) => {
      calls.push(`disconnect ${Container}`);
    },
    remove: async () => {
      calls.push("remove");
      const failure = failures.shift();
      if (failure) throw failure;
    },
  };
  return { calls, docker: { getNetwork: () => network } as unknown as Docker };
}

describe("removing an engine network", () => {
  it("tries again while the engine still counts an endpoint of a container that just went", async () => {
    const { calls, docker } = engineWith([activeEndpoints(), activeEndpoints()]);
    await new DockerodeNetworkClient(docker, silentLogger).remove("aurea-egress-x");
    expect(calls).toEqual(["disconnect gateway", "remove", "disconnect gateway", "remove", "disconnect gateway", "remove"]);
  });

  it("gives up after a few seconds, and at once on any other failure", async () => {
    const stuck = engineWith(Array.from({ length: 10 }, activeEndpoints));
    await expect(new DockerodeNetworkClient(stuck.docker, silentLogger).remove("aurea-egress-x")).rejects.toThrow(
      /active endpoints/,
    );
    expect(stuck.calls.filter((call) => call === "remove")).toHaveLength(5);
    const broken = engineWith([Object.assign(new Error("(HTTP code 500) server error"), { statusCode: 500 })]);
    await expect(new DockerodeNetworkClient(broken.docker, silentLogger).remove("aurea-egress-x")).rejects.toThrow(
      /server error/,
    );
    expect(broken.calls.filter((call) => call === "remove")).toHaveLength(1);
  }, 10_000);

  it("is done when the network is gone already", async () => {
    const gone = engineWith([Object.assign(new Error("(HTTP code 404) no such network"), { statusCode: 404 })]);
    await expect(new DockerodeNetworkClient(gone.docker, silentLogger).remove("aurea-egress-x")).resolves.toBeUndefined();
    expect(gone.calls).toEqual(["disconnect gateway", "remove"]);
  });
});
