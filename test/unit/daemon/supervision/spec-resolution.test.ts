import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { StartRequestSchema } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { parseCatalog } from "../../../../src/daemon/supervision/catalog.js";
import { effectiveLimits, effectiveSupervision, instanceDefaults, resolveSpec } from "../../../../src/daemon/supervision/spec-resolution.js";

const catalog = parseCatalog(
  {
    plugins: {
      bare: { command: "/opt/bare" },
      tuned: { command: "/opt/tuned", args: ["-v"], restart: "always", metricsTransport: "tcp", autoMtls: false, handshake: { magicCookieKey: "K", magicCookieValue: "V" } },
      quiet: { command: "/opt/quiet", noMetrics: true, startTimeout: "2m" },
      tight: { command: "/opt/tight", livenessFailures: 1, healthInterval: "1s" },
      capped: { command: "/opt/capped", maxMemory: "96MiB", maxPids: 32 },
    },
  },
  "/etc/plugprom",
);
const resolve = (req: Parameters<typeof create<typeof StartRequestSchema>>[1]) =>
  resolveSpec(create(StartRequestSchema, req), { catalog, startTimeoutMs: 30_000 });

test("a command and a bare catalog entry get the same documented defaults", () => {
  const fromCommand = resolve({ name: "a", command: ["/opt/x"] });
  const fromEntry = resolve({ name: "b", plugin: "bare" });
  for (const [key, value] of Object.entries(instanceDefaults())) {
    assert.deepEqual(fromCommand[key as keyof typeof fromCommand], value, `command: ${key}`);
    assert.deepEqual(fromEntry[key as keyof typeof fromEntry], value, `catalog entry: ${key}`);
  }
  assert.equal(fromCommand.startTimeoutMs, 30_000);
  assert.equal(fromEntry.workingDir, "/etc/plugprom");
});

test("what a catalog entry sets wins over the defaults; the request's arguments are appended", () => {
  const spec = resolve({ name: "t", plugin: "tuned", command: ["--extra"] });
  assert.equal(spec.restartPolicy, "always");
  assert.equal(spec.metricsTransport, "tcp");
  assert.equal(spec.autoMtls, false);
  assert.equal(spec.magicCookieKey, "K");
  assert.deepEqual(spec.args, ["-v", "--extra"]);
  assert.equal(spec.source, "tuned");
});

test("the bundled greeter runs with this Node.js and is greeted once it runs", () => {
  const spec = resolve({ name: "g" });
  assert.equal(spec.command, process.execPath);
  assert.equal(spec.greetAfterStart, true);
});

test("an unknown catalog entry is not found, naming the known ones", () => {
  assert.throws(() => resolve({ name: "x", plugin: "nope" }), /no plugin "nope" in the catalog \(known: bare, tuned, quiet, tight, capped\)/);
});

test("a catalog entry's noMetrics and startTimeout (as a plugins file has them) apply; a request's start timeout still wins", () => {
  const spec = resolve({ name: "q", plugin: "quiet" });
  assert.equal(spec.noMetrics, true);
  assert.equal(spec.startTimeoutMs, 120_000);
  assert.equal(resolve({ name: "q", plugin: "quiet", startTimeout: { seconds: 5n, nanos: 0 } }).startTimeoutMs, 5_000);
});

test("the liveness settings: left out they stay unset (the daemon's default, resolved in one place); the entry's, then the request's win", () => {
  const daemon = { healthIntervalMs: 10_000, livenessFailures: 3 };
  const plain = resolve({ name: "p", command: ["/opt/x"] });
  assert.equal("livenessFailures" in plain, false, "an unset field is not written into the spec (instances.json)");
  assert.equal("healthIntervalMs" in plain, false);
  assert.deepEqual(effectiveSupervision(plain, daemon), daemon);
  assert.deepEqual(effectiveSupervision(plain, { healthIntervalMs: 1_000, livenessFailures: 0 }), { healthIntervalMs: 1_000, livenessFailures: 0 }, "a daemon restarted with new defaults applies them");
  const entry = resolve({ name: "t", plugin: "tight" });
  assert.deepEqual(effectiveSupervision(entry, daemon), { healthIntervalMs: 1_000, livenessFailures: 1 });
  const request = resolve({ name: "t", plugin: "tight", livenessFailures: 0, healthInterval: { seconds: 2n, nanos: 0 } });
  assert.deepEqual(effectiveSupervision(request, daemon), { healthIntervalMs: 2_000, livenessFailures: 0 }, "0 is off, not unset");
});

test("a request's liveness settings out of range are invalid", () => {
  assert.throws(() => resolve({ name: "x", livenessFailures: 1001 }), /livenessFailures must be an integer from 0 \(never\) to 1000/);
  assert.throws(() => resolve({ name: "x", healthInterval: { seconds: 0n, nanos: 50_000_000 } }), /healthInterval must be between 100ms and 1h/);
});

test("memory and pids limits: the request's over the catalog entry's; unset is left unset (the daemon's default, resolved when asked)", () => {
  const MiB = 1024 ** 2;
  const daemon = { memoryBytes: 64 * MiB, pids: 100 };
  const entry = resolve({ name: "a", plugin: "capped" });
  assert.equal(entry.maxMemoryBytes, 96 * MiB);
  assert.equal(entry.maxPids, 32);
  assert.deepEqual(effectiveLimits(entry, daemon), { memoryBytes: 96 * MiB, pids: 32 });
  const overridden = resolve({ name: "b", plugin: "capped", maxMemoryBytes: 0n, maxPids: 0 });
  assert.deepEqual(effectiveLimits(overridden, daemon), { memoryBytes: 0, pids: 0 }, "0 is none, not the daemon's");
  const plain = resolve({ name: "c", command: ["/opt/x"] });
  assert.equal("maxMemoryBytes" in plain, false, "an instances.json of instances without limits stays as it was");
  assert.deepEqual(effectiveLimits(plain, daemon), daemon);
  assert.throws(() => resolve({ name: "d", command: ["/opt/x"], maxMemoryBytes: 1000n }), /memory limit must be 0 \(none\) or at least 1MiB/);
  assert.throws(() => resolve({ name: "d", command: ["/opt/x"], maxPids: 5_000_000 }), /pids limit must be an integer from 0/);
});
