import { describe, expect, it } from "vitest";
import type { ImageBuildRequest } from "../../src/docker/image-client.js";
import { imageFamilies } from "../../src/service/image-families.js";
import { createSandboxImageBuilder, UnknownFamilyError } from "../../src/service/sandbox-image-builder.js";
import { FakeEngine } from "../support/fake-engine.js";
import { silentLogger } from "../support/fixtures.js";
import { repositoryLanguages } from "../support/languages.js";

/** The fake engine, recording each build's tag and build arguments in order. */
function recordingEngine(present: string[]) {
  const engine = new FakeEngine();
  engine.images.clear();
  for (const image of present) engine.images.add(image);
  const builds: { tag: string; args: Record<string, string> }[] = [];
  const build = engine.build.bind(engine);
  engine.build = (request: ImageBuildRequest) => {
    builds.push({ tag: request.tag, args: { ...request.buildArgs } });
    return build(request);
  };
  return { engine, builds };
}

const families = imageFamilies(repositoryLanguages, "aurea-sandbox:latest", "Dockerfile.sandbox");
const builderFor = (engine: FakeEngine) =>
  createSandboxImageBuilder({ images: engine, families, baseImage: "aurea-base:trixie", logger: silentLogger });

describe("the sandbox image builder", () => {
  it("builds every family when none is named, core first, each family FROM the core image", async () => {
    const { engine, builds } = recordingEngine(["aurea-base:trixie"]);
    const lines: string[] = [];
    await builderFor(engine).build({ onLog: (line) => lines.push(line) });
    expect(builds.map((build) => build.tag)).toEqual(families.map((family) => family.image));
    expect(builds[0]?.args).toEqual({ BASE_IMAGE: "aurea-base:trixie" });
    expect(builds.slice(1).every((build) => build.args.CORE_IMAGE === "aurea-sandbox:latest")).toBe(true);
    expect(lines.filter((line) => line.startsWith("=== family "))).toHaveLength(families.length);
  });

  it("builds the core image first when a family is asked for and core is missing, and only those two", async () => {
    const { engine, builds } = recordingEngine(["aurea-base:trixie"]);
    await builderFor(engine).build({ family: "native" });
    expect(builds.map((build) => build.tag)).toEqual(["aurea-sandbox:latest", "aurea-sandbox-native:latest"]);
  });

  it("shares one build between callers of the same family, and refuses an unknown family before building", async () => {
    const { engine, builds } = recordingEngine(["aurea-base:trixie", "aurea-sandbox:latest"]);
    const builder = builderFor(engine);
    await Promise.all([builder.build({ family: "dotnet" }), builder.build({ family: "dotnet" })]);
    expect(builds.map((build) => build.tag)).toEqual(["aurea-sandbox-dotnet:latest"]);
    await expect(builder.build({ family: "cobol-on-cogs" })).rejects.toBeInstanceOf(UnknownFamilyError);
    expect(builds).toHaveLength(1);
  });
});
