import { describe, expect, it } from "vitest";
import {
  classifyEngineError,
  ContainerGoneError,
  EngineError,
  EngineUnavailableError,
  ImageMissingError,
  NameInUseError,
  RuntimeMissingError,
} from "../../src/docker/engine-errors.js";

/** What dockerode throws for an engine answer: the status code and the engine's message. */
const engineAnswer = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });

describe("classifyEngineError", () => {
  it("tells an unregistered runtime (RUNSC_PLATFORM without its registration) from other bad requests", () => {
    const error = classifyEngineError(engineAnswer(400, "Unknown runtime specified runsc-kvm"), "create container");
    expect(error).toBeInstanceOf(RuntimeMissingError);
    expect(error.message).toContain("runsc-kvm");
    expect(error.message).toContain("ensure-engine.sh");
    expect(classifyEngineError(engineAnswer(400, "invalid mount config"), "create container")).toBeInstanceOf(EngineError);
  });

  it("sorts the other answers by kind, keeping the action as context", () => {
    expect(classifyEngineError(engineAnswer(404, "No such image: x:latest"), "create")).toBeInstanceOf(ImageMissingError);
    expect(classifyEngineError(engineAnswer(404, "No such container: abc"), "kill")).toBeInstanceOf(ContainerGoneError);
    expect(classifyEngineError(engineAnswer(409, 'name "/a" is already in use'), "create")).toBeInstanceOf(NameInUseError);
    const unreachable = classifyEngineError(Object.assign(new Error("connect"), { code: "ECONNREFUSED" }), "ping engine");
    expect(unreachable).toBeInstanceOf(EngineUnavailableError);
    expect(unreachable.message).toMatch(/^ping engine: /);
  });
});
