import Docker from "dockerode";

/**
 * Integration tests need a real engine and the sandbox image; .ci/run (or `npm start` once)
 * provides both. Fail at once with the remedy rather than with a hundred timeouts.
 */
export default async function setup(): Promise<void> {
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`no Docker engine answers (${(error as Error).message}); run scripts/ensure-engine.sh`);
  }
  const image = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
  try {
    await docker.getImage(image).inspect();
  } catch {
    throw new Error(`sandbox image ${image} is missing; run scripts/build-sandbox-images.sh`);
  }
}
