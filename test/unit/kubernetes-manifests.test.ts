import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Service } from "kubernetes-models/v1/Service";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "../../src/config/config.js";
import { livenessServiceName } from "../../src/service/grpc-health-service.js";

/**
 * deploy/kubernetes/ checked offline: every object against the Kubernetes schemas
 * (kubernetes-models), then against Aurea's own rules, for the base and the runsc overlay.
 */

const deploy = fileURLToPath(new URL("../../deploy/kubernetes/", import.meta.url));
const read = (path: string) => parse(readFileSync(join(deploy, path), "utf8")) as Record<string, unknown>;

type EnvEntry = {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
};
type Container = { name: string; env?: EnvEntry[]; [key: string]: unknown };
type DaemonSetSpec = {
  metadata: { name: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
};
type PodSpec = {
  containers: Container[];
  volumes?: { name: string; hostPath?: { path: string } }[];
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  [key: string]: unknown;
};

/** The base's objects, by kind. */
function base(): Record<string, Record<string, unknown>> {
  const kustomization = read("base/kustomization.yaml") as { resources: string[] };
  const objects: Record<string, Record<string, unknown>> = {};
  for (const resource of kustomization.resources) {
    const object = read(join("base", resource));
    objects[object.kind as string] = object;
  }
  return objects;
}

/** The runsc overlay applied as kustomize would: its containers' env merged into the base's by name. */
function withRunscOverlay(daemonSet: DaemonSetSpec): DaemonSetSpec {
  const kustomization = read("overlays/runsc/kustomization.yaml") as { resources: string[]; patches: { path: string }[] };
  expect(kustomization.resources).toEqual(["../../base"]);
  const patched = structuredClone(daemonSet);
  for (const { path } of kustomization.patches) {
    const patch = read(join("overlays/runsc", path)) as unknown as DaemonSetSpec;
    for (const container of patch.spec.template.spec.containers) {
      const target = patched.spec.template.spec.containers.find((candidate) => candidate.name === container.name);
      if (!target) throw new Error(`the overlay patches a container the base does not have: ${container.name}`);
      for (const entry of container.env ?? []) {
        target.env = [...(target.env ?? []).filter((existing) => existing.name !== entry.name), entry];
      }
    }
  }
  return patched;
}

/** What the kubelet would give for a value from elsewhere: a pod's fields, a Secret's key. */
const standIns: Record<string, string> = { "spec.nodeName": "node-a", "status.podIP": "10.1.2.3" };
const secretStandIn = "a-secret-from-a-kubernetes-secret";

/** The container's environment as the kubelet makes it: values from fields and Secrets, $(VAR) expanded in order. */
function envOf(daemonSet: DaemonSetSpec): Record<string, string> {
  const [container] = daemonSet.spec.template.spec.containers;
  const env: Record<string, string> = {};
  for (const entry of container?.env ?? []) {
    const field = entry.valueFrom?.fieldRef?.fieldPath;
    if (field !== undefined) env[entry.name] = standIns[field] ?? "";
    else if (entry.valueFrom?.secretKeyRef) env[entry.name] = secretStandIn;
    else env[entry.name] = (entry.value ?? "").replace(/\$\(([A-Z_]+)\)/g, (_, name: string) => env[name] ?? "");
  }
  return env;
}

function checkAureaRules(daemonSet: DaemonSetSpec): void {
  const pod = daemonSet.spec.template.spec;
  const [container] = pod.containers as [Container & Record<string, Record<string, unknown>>];
  // Probes: readiness on the service (engine and images), liveness and startup on the process only.
  expect(container.readinessProbe).toMatchObject({ grpc: { port: 8000, service: "aurea.sandbox.v1.SandboxService" } });
  expect(container.livenessProbe).toMatchObject({ grpc: { port: 8000, service: livenessServiceName } });
  expect(container.startupProbe).toMatchObject({ grpc: { port: 8000, service: livenessServiceName } });
  // The configuration is one the server accepts, and the grace period outlasts the longest run.
  const env = envOf(daemonSet);
  const parsed = parseConfig(env);
  expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
  if (!parsed.ok) return;
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
    parsed.config.maxTimeoutSeconds + parsed.config.shutdownGraceSeconds,
  );
  // Any pod answers any session: its address is its pod IP on the served port, the secret a Secret's.
  expect(parsed.config.advertiseAddress).toBe(`${standIns["status.podIP"]}:${parsed.config.port}`);
  const peerSecret = (container.env ?? []).find((entry) => entry.name === "PEER_SECRET");
  expect(peerSecret?.valueFrom?.secretKeyRef).toMatchObject({ name: expect.any(String), key: expect.any(String) });
  // ListSessions finds the other pods through the headless Service's name.
  expect(parsed.config.peerDns).toBe((base().Service as { metadata: { name: string } }).metadata.name);
  // Nothing privileged but the engine's socket.
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10002 });
  for (const key of ["hostNetwork", "hostPID", "hostIPC"]) expect(pod[key]).toBeFalsy();
  expect(container.securityContext).toEqual({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ["ALL"] },
  });
  // Of the node: the engine's socket, and the snapshot store (data only, the pod's own folder).
  expect((pod.volumes ?? []).filter((volume) => volume.hostPath).map((volume) => volume.hostPath?.path)).toEqual([
    "/var/run/docker.sock",
    "/var/lib/aurea/snapshots",
  ]);
  expect(container.resources).toMatchObject({ requests: { cpu: expect.any(String), memory: expect.any(String) } });
  // A dedicated, tainted pool.
  expect(pod.nodeSelector).toBeDefined();
  expect(pod.tolerations).toEqual(expect.arrayContaining([expect.objectContaining({ effect: "NoSchedule" })]));
}

describe("deploy/kubernetes", () => {
  it("holds objects the Kubernetes schemas accept", () => {
    const objects = base();
    expect(Object.keys(objects).sort()).toEqual(["DaemonSet", "PodDisruptionBudget", "Service"]);
    new DaemonSet(objects.DaemonSet as never).validate();
    new Service(objects.Service as never).validate();
    new PodDisruptionBudget(objects.PodDisruptionBudget as never).validate();
    new DaemonSet(withRunscOverlay(objects.DaemonSet as unknown as DaemonSetSpec) as never).validate();
  });

  it("follows Aurea's rules: probes, a grace period past the longest run, nothing privileged but the socket", () => {
    const daemonSet = base().DaemonSet as unknown as DaemonSetSpec;
    checkAureaRules(daemonSet);
    checkAureaRules(withRunscOverlay(daemonSet));
    expect(envOf(withRunscOverlay(daemonSet))).toMatchObject({ SANDBOX_RUNTIME: "runsc", SANDBOX_ALLOWED_RUNTIMES: "runsc" });
  });

  it("balances over a headless Service and keeps pods through disruptions one at a time", () => {
    const {
      DaemonSet: daemonSet,
      Service: service,
      PodDisruptionBudget: budget,
    } = base() as Record<string, Record<string, never>>;
    const labels = (daemonSet as unknown as DaemonSetSpec).spec.template.metadata.labels;
    expect(service).toMatchObject({ spec: { clusterIP: "None", selector: labels } });
    expect(budget).toMatchObject({ spec: { maxUnavailable: 1, selector: { matchLabels: labels } } });
  });

  it("runs the image's own user", () => {
    const dockerfile = readFileSync(fileURLToPath(new URL("../../Dockerfile", import.meta.url)), "utf8");
    expect(dockerfile).toMatch(/^USER 10002:10002$/m);
  });
});
