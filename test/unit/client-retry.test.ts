import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { normalizeError, type RetrySafety, withRetries } from "../../clients/typescript/src/retry.js";

/** The TypeScript client's retry rule, with failures as connect-web makes them. */

const answered = () => new ConnectError("draining", Code.Unavailable, new Headers({ "content-type": "application/json" }));
const refused = () =>
  new ConnectError(
    "fetch failed",
    Code.Unknown,
    undefined,
    undefined,
    new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) }),
  );
const broken = () =>
  new ConnectError(
    "fetch failed",
    Code.Unknown,
    undefined,
    undefined,
    new TypeError("fetch failed", { cause: new Error("other side closed") }),
  );

async function attemptsUntilDone(
  failures: (() => ConnectError)[],
  safety: RetrySafety,
): Promise<{ attempts: number; error?: ConnectError }> {
  let attempts = 0;
  try {
    await withRetries(
      async () => {
        const failure = failures[attempts++];
        if (failure) throw failure();
        return "ok";
      },
      { policy: { maxAttempts: 4, initialBackoffMs: 1 }, safety },
    );
    return { attempts };
  } catch (error) {
    return { attempts, error: error as ConnectError };
  }
}

describe("the TypeScript client's retries", () => {
  it("say a connection that failed as UNAVAILABLE, naming why", () => {
    const failure = normalizeError(refused());
    expect(failure.code).toBe(Code.Unavailable);
    expect(failure.rawMessage).toBe("fetch failed: connect ECONNREFUSED");
    expect(normalizeError(answered()).code).toBe(Code.Unavailable);
    expect(normalizeError(new ConnectError("bad", Code.InvalidArgument)).code).toBe(Code.InvalidArgument);
  });

  it("repeat a safe call after any UNAVAILABLE, up to the policy's attempts", async () => {
    expect(await attemptsUntilDone([broken, answered, refused], "always")).toEqual({ attempts: 4 });
    const spent = await attemptsUntilDone([broken, broken, broken, broken, broken], "always");
    expect(spent.attempts).toBe(4);
    expect(spent.error?.code).toBe(Code.Unavailable);
  });

  it("repeat an exec only when nothing can have started: the server refused it, or no connection was made", async () => {
    expect(await attemptsUntilDone([answered, refused], "refused")).toEqual({ attempts: 3 });
    const cut = await attemptsUntilDone([broken], "refused");
    expect(cut.attempts).toBe(1);
    expect(cut.error?.code).toBe(Code.Unavailable);
  });

  it("never repeat a call the server answered with anything else", async () => {
    const result = await attemptsUntilDone([() => new ConnectError("no", Code.ResourceExhausted)], "always");
    expect(result.attempts).toBe(1);
    expect(result.error?.code).toBe(Code.ResourceExhausted);
  });
});
