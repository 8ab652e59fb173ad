/**
 * The client service config README.md gives for talking to several Aurea replicas: round_robin
 * over every address, and retries of UNAVAILABLE only (which Aurea answers only when the program
 * never started), with backoff. With RunRequest.request_id set, a retry that reaches another
 * replica while the first attempt runs is ALREADY_EXISTS, never a second run.
 */
export const retryServiceConfig = {
  loadBalancingConfig: [{ round_robin: {} }],
  methodConfig: [
    {
      name: [{ service: "aurea.sandbox.v1.SandboxService" }],
      retryPolicy: {
        maxAttempts: 5,
        initialBackoff: "0.1s",
        maxBackoff: "2s",
        backoffMultiplier: 2,
        retryableStatusCodes: ["UNAVAILABLE"],
      },
    },
  ],
};
