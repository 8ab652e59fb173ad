import { describe, expect, it } from "vitest";
import { AllowEntryError, isWithin, parseAllowEntry, parseAllowList, toGatewayRules } from "../../src/sandbox/allow-list.js";
import { validateNetworkPolicy } from "../../src/egress/network-request.js";
import { create } from "@bufbuild/protobuf";
import { NetworkPolicySchema } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";

describe("parseAllowEntry", () => {
  it("reads names, wildcards and CIDRs, with 443 and 80 unless a port is given", () => {
    expect(parseAllowEntry("PyPI.org")).toMatchObject({ kind: "host", name: "pypi.org", ports: [443, 80] });
    expect(parseAllowEntry("pypi.org:8443")).toMatchObject({ kind: "host", name: "pypi.org", ports: [8443] });
    expect(parseAllowEntry("*.githubusercontent.com")).toMatchObject({ kind: "suffix", suffix: ".githubusercontent.com" });
    expect(parseAllowEntry("*")).toMatchObject({ kind: "suffix", suffix: "" });
    expect(parseAllowEntry("203.0.113.0/24:8080")).toMatchObject({
      kind: "cidr",
      address: "203.0.113.0",
      prefix: 24,
      family: "ipv4",
      ports: [8080],
    });
    expect(parseAllowEntry("2001:db8::/32")).toMatchObject({ kind: "cidr", family: "ipv6", prefix: 32, ports: [443, 80] });
    expect(parseAllowEntry("2001:db8::/32:443")).toMatchObject({ kind: "cidr", family: "ipv6", ports: [443] });
  });

  it.each([
    ["", "empty"],
    ["203.0.113.7", "CIDR entry"],
    ["::1", "CIDR entry"],
    ["203.0.113.0/33", "prefix length"],
    ["999.0.0.0/8", "not an IPv4 or IPv6 network"],
    ["pypi.org:0", "port must be"],
    ["pypi.org:70000", "port must be"],
    ["*.", "wildcard"],
    ["a*.example.com", "not a host name"],
    ["exa mple.com", "not a host name"],
    ["-bad.example.com", "not a host name"],
    [`${"a".repeat(64)}.com`, "not a host name"],
  ])("refuses %j, saying why", (entry, reason) => {
    expect(() => parseAllowEntry(entry)).toThrow(AllowEntryError);
    try {
      parseAllowEntry(entry);
    } catch (error) {
      expect((error as AllowEntryError).reason).toContain(reason);
    }
  });
});

describe("isWithin", () => {
  const operator = parseAllowList(["pypi.org", "*.pythonhosted.org", "files.example.com:8443", "10.0.0.0/8:5432", "*.test"]);
  it.each([
    ["pypi.org", true],
    ["pypi.org:443", true],
    ["pypi.org:8080", false],
    ["files.pythonhosted.org", true],
    ["*.pythonhosted.org", true],
    ["*.a.pythonhosted.org", true],
    ["pythonhosted.org", false],
    ["*.org", false],
    ["files.example.com:8443", true],
    ["files.example.com", false],
    ["10.1.2.0/24:5432", true],
    ["10.1.2.0/24", false],
    ["0.0.0.0/0:5432", false],
    ["11.0.0.0/8:5432", false],
    ["pkgs.test", true],
    ["example.com", false],
  ])("%s: %s", (entry, within) => {
    expect(isWithin(parseAllowEntry(entry), operator)).toBe(within);
  });

  it("lets `*` cover every name but no address", () => {
    const any = parseAllowList(["*"]);
    expect(isWithin(parseAllowEntry("anything.example"), any)).toBe(true);
    expect(isWithin(parseAllowEntry("*.example"), any)).toBe(true);
    expect(isWithin(parseAllowEntry("203.0.113.0/24"), any)).toBe(false);
  });

  it("hands the gateway plain rules", () => {
    expect(toGatewayRules(parseAllowList(["a.test:81", "*.b.test", "203.0.113.0/24"]))).toEqual([
      { kind: "host", name: "a.test", ports: [81] },
      { kind: "suffix", suffix: ".b.test", ports: [443, 80] },
      { kind: "cidr", cidr: "203.0.113.0/24", ports: [443, 80] },
    ]);
  });
});

describe("validateNetworkPolicy", () => {
  const check = (allow: string[] | undefined, operator: string[]) => {
    const violations: { field: string; description: string }[] = [];
    const rules = validateNetworkPolicy(
      allow === undefined ? undefined : create(NetworkPolicySchema, { allow }),
      parseAllowList(operator),
      (field, description) => violations.push({ field, description }),
    );
    return { rules, violations };
  };

  it("means no network for an absent or empty policy, whatever the operator allows", () => {
    expect(check(undefined, [])).toEqual({ rules: undefined, violations: [] });
    expect(check([], ["*"])).toEqual({ rules: undefined, violations: [] });
  });

  it("refuses any policy while egress is off", () => {
    expect(check(["pypi.org"], []).violations).toEqual([
      { field: "network", description: expect.stringContaining("EGRESS_ALLOWED") },
    ]);
  });

  it("names every entry that is unreadable or outside EGRESS_ALLOWED", () => {
    const { violations } = check(["pypi.org", "evil.example", "1.2.3.4", "pypi.org:22"], ["pypi.org"]);
    expect(violations.map((violation) => violation.field)).toEqual(["network.allow[1]", "network.allow[2]", "network.allow[3]"]);
    expect(violations[0]?.description).toContain("EGRESS_ALLOWED");
    expect(violations[1]?.description).toContain("CIDR");
  });

  it("caps the number of entries", () => {
    const many = Array.from({ length: 65 }, (_, index) => `h${index}.test`);
    expect(check(many, ["*.test"]).violations).toEqual([{ field: "network.allow", description: expect.stringContaining("64") }]);
  });
});
