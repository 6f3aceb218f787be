// The comparison apply and diff rest on (stable under key order, defaults and equivalent
// durations; field by field in the file's terms), and converge() on a registry with a fake runner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { StartRequestSchema } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { silentLogger } from "../../../../src/daemon/log.js";
import type { InstanceSpec } from "../../../../src/daemon/spec.js";
import type { PersistedInstance } from "../../../../src/daemon/state/instances-file.js";
import { converge, specChanges } from "../../../../src/daemon/supervision/converge.js";
import { Registry } from "../../../../src/daemon/supervision/registry.js";
import { FakeClock } from "../../../helpers/fake-clock.js";
import { FakeRunner } from "../../../helpers/fake-runner.js";

const base: InstanceSpec = {
  name: "g2",
  source: "/opt/gp",
  command: "/opt/gp",
  args: ["-v"],
  env: { MODE: "fast", LEVEL: "info" },
  labels: { team: "core" },
  magicCookieKey: "BASIC_PLUGIN",
  magicCookieValue: "hello",
  protocolVersions: [1],
  metricsTransport: "unix",
  workingDir: "/etc/pp",
  startTimeoutMs: 30_000,
  autoMtls: true,
  greetAfterStart: false,
  sha256: "",
  scrapeIntervalMs: 30_000,
  restartPolicy: "on-failure",
};

test("the same spec in another key order, with defaults spelled out or left out, is unchanged", () => {
  const reordered = Object.fromEntries(Object.entries(base).reverse()) as unknown as InstanceSpec;
  reordered.env = { LEVEL: "info", MODE: "fast" };
  assert.deepEqual(specChanges(base, reordered), []);
  assert.deepEqual(specChanges(base, { ...base, inheritEnv: false, noMetrics: false, scrapeTimeoutMs: undefined, livenessFailures: undefined, healthIntervalMs: undefined }), []);
  assert.deepEqual(specChanges({ ...base, healthIntervalMs: 60_000 }, { ...base, healthIntervalMs: 60_000 }), []);
  // What instances.json gives back after a restart: JSON drops undefined fields.
  assert.deepEqual(specChanges(JSON.parse(JSON.stringify({ ...base, scrapeTimeoutMs: undefined })) as InstanceSpec, base), []);
});

test("each differing field is one line, in the file's names, durations in Prometheus syntax", () => {
  const changed: InstanceSpec = {
    ...base,
    env: { MODE: "slow", LEVEL: "info", NEW: "x" },
    labels: {},
    args: ["-v", "-x"],
    restartPolicy: "always",
    scrapeIntervalMs: 90_000,
    magicCookieValue: "bye",
    inheritEnv: true,
    livenessFailures: 0,
    healthIntervalMs: 2_000,
  };
  assert.deepEqual(specChanges(base, changed), [
    'args ["-v"] -> ["-v","-x"]',
    "env.MODE fast -> slow",
    "env.NEW (none) -> x",
    "handshake.magicCookieValue hello -> bye",
    "healthInterval (none) -> 2s",
    "inheritEnv false -> true",
    "labels.team core -> (none)",
    "livenessFailures (none) -> 0",
    "restart on-failure -> always",
    "scrapeInterval 30s -> 1m30s",
  ]);
});

test("fields this comparison has no name for (added to the spec later) still count", () => {
  const later = { ...base, maxMemory: 1024 } as InstanceSpec;
  assert.deepEqual(specChanges(base, later), ["maxMemory (none) -> 1024"]);
});

// converge() against a registry with a fake runner: what it does to each instance, origins,
// and the restart count an update keeps.
test("converge creates, updates, leaves alone and prunes its own file's instances; an update keeps the restart count plus one", async () => {
  const clock = new FakeClock();
  let persisted: PersistedInstance[] = [];
  const registry = new Registry({
    log: silentLogger,
    catalog: new Map(),
    supervisor: { runner: new FakeRunner(clock), supervision: { healthIntervalMs: 5_000, livenessFailures: 3 }, backoff: { initialMs: 1_000, maxMs: 8_000 }, clock, random: () => 0.5 },
    defaults: { stopGraceMs: 1_000, startTimeoutMs: 10_000 },
    events: { pluginStarted: () => undefined, pluginStopped: () => undefined, pluginRestarted: () => undefined, pluginLivenessRestarted: () => undefined, pluginMemoryRestarted: () => undefined },
    persist: (snapshot) => (persisted = snapshot()),
  });
  const spec = (name: string, env: Record<string, string> = {}) => registry.resolve(create(StartRequestSchema, { name, command: ["/opt/p"], env, workingDir: "/etc" }));
  const origin = "/etc/plugins.yaml";
  await registry.start(create(StartRequestSchema, { name: "manual", command: ["/opt/p"] }));

  const first = await converge(registry, new Map([["a", spec("a")], ["b", spec("b")]]), { origin, prune: "origin", dryRun: false });
  assert.deepEqual(first.map((o) => [o.name, o.action]), [["a", "created"], ["b", "created"]]);
  assert.deepEqual(persisted.map((p) => [p.spec.name, p.origin]), [["a", origin], ["b", origin], ["manual", undefined]]);
  const pidB = registry.get("b")!.pid;

  const dry = await converge(registry, new Map([["a", spec("a", { MODE: "slow" })]]), { origin, prune: "origin", dryRun: true });
  assert.deepEqual(dry.map((o) => [o.name, o.action, o.changes]), [["a", "updated", ["env.MODE (none) -> slow"]], ["b", "deleted", []]]);
  assert.equal(registry.get("b")!.pid, pidB, "a dry run changes nothing");

  const second = await converge(registry, new Map([["a", spec("a", { MODE: "slow" })]]), { origin, prune: "origin", dryRun: false });
  assert.deepEqual(second.map((o) => [o.name, o.action]), [["a", "updated"], ["b", "deleted"]]);
  assert.deepEqual(registry.list().map((s) => s.name), ["a", "manual"], "the hand-started instance is not the file's to prune");
  assert.equal(registry.get("a")!.restarts, 1);
  assert.equal(registry.get("a")!.spec.env.MODE, "slow");
  assert.equal(persisted.find((p) => p.spec.name === "a")!.origin, origin);
});

test("memory and pids limits compare as the file says them: left out is unchanged, 0 (none) differs from left out", () => {
  assert.deepEqual(specChanges(base, { ...base, maxMemoryBytes: undefined, maxPids: undefined }), []);
  assert.deepEqual(specChanges(base, { ...base, maxMemoryBytes: 96 * 2 ** 20, maxPids: 64 }), ["maxMemory (none) -> 96 MiB", "maxPids (none) -> 64"]);
  assert.deepEqual(specChanges({ ...base, maxMemoryBytes: 96 * 2 ** 20 }, { ...base, maxMemoryBytes: 0 }), ["maxMemory 96 MiB -> 0"]);
});
