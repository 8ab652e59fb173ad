import { describe, expect, it } from "vitest";
import { freeSubnet, hostNetworks } from "../../bench/support/free-subnet.js";

describe("freeSubnet", () => {
  it("skips a candidate that overlaps a network the machine has, wider or narrower", () => {
    const taken = [
      ["192.0.2.0", 24],
      ["10.0.0.0", 8],
      ["198.51.100.128", 25],
    ] as const;
    expect(freeSubnet(["192.0.2.0/24", "10.213.77.0/24", "198.51.100.0/24", "203.0.113.0/24"], taken)).toBe("203.0.113.0/24");
    expect(freeSubnet(["198.18.7.0/24"], taken)).toBe("198.18.7.0/24");
  });

  it("says so when every candidate is taken", () => {
    expect(() => freeSubnet(["10.1.0.0/24"], [["10.0.0.0", 8]])).toThrow(/overlaps/);
  });

  it("reads this machine's own networks, loopback included", () => {
    expect(hostNetworks()).toContainEqual(["127.0.0.1", 8]);
  });
});
