import { describe, expect, it } from "vitest";
import { specEncodeGrpcMessage } from "../../src/server/grpc-message-encoding.js";

describe("specEncodeGrpcMessage", () => {
  it("leaves printable ASCII alone, punctuation included", () => {
    const message = 'limits.cpu: 64 cores, path a/b; x=y "quoted"';
    expect(specEncodeGrpcMessage(encodeURIComponent(message))).toBe(message);
  });

  it("percent-encodes %, control characters and non-ASCII as UTF-8 bytes", () => {
    expect(specEncodeGrpcMessage(encodeURIComponent("100% done\nnext ü"))).toBe("100%25 done%0Anext %C3%BC");
  });

  it("passes through a value that is not valid percent-encoding", () => {
    expect(specEncodeGrpcMessage("%E0%A4%A")).toBe("%E0%A4%A");
  });
});
