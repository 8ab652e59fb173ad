import { describe, expect, it } from "vitest";
import { ApiKeyAuthenticator, parseApiKeys } from "../../src/service/api-keys.js";

const secretA = "a-secret-of-sixteen-plus";
const secretB = "b-secret-of-sixteen-plus";

describe("parseApiKeys", () => {
  it("reads ids, secrets and optional quotas, by comma or line", () => {
    const { keys, errors } = parseApiKeys(`alice:${secretA}:2,\n# comment\nbob:${secretB}\n`, "API_KEYS");
    expect(errors).toEqual([]);
    expect(keys).toEqual([
      { id: "alice", secret: secretA, maxConcurrent: 2 },
      { id: "bob", secret: secretB, maxConcurrent: undefined },
    ]);
  });

  it("reports bad entries without echoing secrets", () => {
    const { keys, errors } = parseApiKeys(
      `bad id:${secretA}, short:abc, q:${secretA}:zero, a:${secretA}, a:${secretB}`,
      "API_KEYS",
    );
    expect(keys.map((key) => key.id)).toEqual(["a"]);
    expect(errors).toHaveLength(4);
    expect(errors.join("\n")).not.toContain(secretA);
    expect(errors[1]).toMatch(/\(short\): the key must have at least 16 characters/);
  });
});

describe("ApiKeyAuthenticator", () => {
  const authenticator = new ApiKeyAuthenticator(parseApiKeys(`alice:${secretA},bob:${secretB}`, "test").keys);

  it("finds the key of a bearer token", () => {
    expect(authenticator.identify(`Bearer ${secretB}`)?.id).toBe("bob");
    expect(authenticator.identify(`bearer ${secretA}`)?.id).toBe("alice");
  });

  it("finds nothing for a missing, malformed or wrong token", () => {
    for (const header of [undefined, "", "Bearer", `Basic ${secretA}`, `Bearer ${secretA}x`, `Bearer ${secretA.slice(1)}`]) {
      expect(authenticator.identify(header)).toBeUndefined();
    }
  });

  it("is off with no keys", () => {
    expect(new ApiKeyAuthenticator([]).enabled).toBe(false);
  });
});
