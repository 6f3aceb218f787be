// The comparison apply and diff rest on: stable under key order, defaults and equivalent
// durations, and field by field in the plugins file's terms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { specChanges } from "../../../../src/daemon/supervision/converge.js";
import type { InstanceSpec } from "../../../../src/daemon/spec.js";

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
  assert.deepEqual(specChanges(base, { ...base, inheritEnv: false, noMetrics: false, scrapeTimeoutMs: undefined }), []);
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
  };
  assert.deepEqual(specChanges(base, changed), [
    'args ["-v"] -> ["-v","-x"]',
    "env.MODE fast -> slow",
    "env.NEW (none) -> x",
    "handshake.magicCookieValue hello -> bye",
    "inheritEnv false -> true",
    "labels.team core -> (none)",
    "restart on-failure -> always",
    "scrapeInterval 30s -> 1m30s",
  ]);
});

test("fields this comparison has no name for (added to the spec later) still count", () => {
  const later = { ...base, maxMemory: 1024 } as InstanceSpec;
  assert.deepEqual(specChanges(base, later), ["maxMemory (none) -> 1024"]);
});
