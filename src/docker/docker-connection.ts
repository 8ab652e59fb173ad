import Docker from "dockerode";

/**
 * Connects to the engine named by DOCKER_HOST (unix socket or tcp), or the local socket.
 * dockerode reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself.
 */
export function connectDocker(): Docker {
  return new Docker();
}
