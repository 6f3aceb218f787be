// The sampled memory limit: two samples over the limit in a row, never one, with a fake
// clock and a fake sample; and what the supervisor does when the watch fires.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PluginState } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { silentLogger } from "../../../../src/daemon/log.js";
import type { InstanceSpec } from "../../../../src/daemon/spec.js";
import { MEMORY_SAMPLE_MS, MemoryWatch, overLimitReason } from "../../../../src/daemon/supervision/memory-watch.js";
import { instanceDefaults } from "../../../../src/daemon/supervision/spec-resolution.js";
import { Supervisor } from "../../../../src/daemon/supervision/supervisor.js";
import { FakeClock, settle } from "../../../helpers/fake-clock.js";
import { FakeRunner } from "../../../helpers/fake-runner.js";

const MiB = 1024 ** 2;

/** A watch over a scripted series of samples; `fired` holds what onOver got. */
function watch(samples: Array<number | undefined>, limitBytes = 100 * MiB) {
  const clock = new FakeClock();
  const fired: number[] = [];
  let i = 0;
  const w = new MemoryWatch({ limitBytes, clock, sample: async () => samples[i++], onOver: (b) => fired.push(b) });
  w.start();
  return { clock, fired, w, taken: () => i };
}

test("memory watch: one sample over the limit is a spike and is forgiven; two in a row fire once, with the second sample", async () => {
  const { clock, fired, taken } = watch([150 * MiB, 90 * MiB, 101 * MiB, 90 * MiB, 120 * MiB, 130 * MiB, 140 * MiB]);
  await clock.advance(4 * MEMORY_SAMPLE_MS);
  assert.deepEqual(fired, [], "over, under, over, under: never two in a row");
  await clock.advance(2 * MEMORY_SAMPLE_MS);
  assert.deepEqual(fired, [130 * MiB]);
  await clock.advance(5 * MEMORY_SAMPLE_MS);
  assert.equal(taken(), 6, "it stops sampling once it fired");
  assert.deepEqual(clock.pending(), []);
});

test("memory watch: exactly at the limit is not over it", async () => {
  const { clock, fired } = watch([100 * MiB, 100 * MiB, 100 * MiB]);
  await clock.advance(3 * MEMORY_SAMPLE_MS);
  assert.deepEqual(fired, []);
});

test("memory watch: an unreadable sample neither counts nor breaks a run of overs; stop() ends sampling", async () => {
  const { clock, fired, w, taken } = watch([150 * MiB, undefined, 150 * MiB, 150 * MiB]);
  await clock.advance(2 * MEMORY_SAMPLE_MS);
  assert.deepEqual(fired, []);
  assert.equal(w.lastBytes, 150 * MiB, "the last readable sample");
  await clock.advance(MEMORY_SAMPLE_MS);
  assert.deepEqual(fired, [150 * MiB]);
  const again = watch([150 * MiB, 150 * MiB]);
  again.w.stop();
  await again.clock.advance(3 * MEMORY_SAMPLE_MS);
  assert.equal(again.taken(), 0);
  assert.deepEqual(again.clock.pending(), []);
  assert.ok(taken() <= 4);
});

test("memory watch: samples at least every 2 s, and a slow sample delays the next instead of overlapping it", async () => {
  assert.ok(MEMORY_SAMPLE_MS <= 2_000);
  const clock = new FakeClock();
  let inFlight = 0;
  let most = 0;
  let release: (() => void) | undefined;
  const w = new MemoryWatch({
    limitBytes: MiB,
    clock,
    sample: () => {
      most = Math.max(most, ++inFlight);
      return new Promise((resolve) => (release = () => (inFlight--, resolve(0))));
    },
    onOver: () => undefined,
  });
  w.start();
  await clock.advance(5 * MEMORY_SAMPLE_MS);
  assert.equal(most, 1);
  assert.deepEqual(clock.pending(), [], "no timer while a sample is in flight");
  release!();
  await settle();
  assert.deepEqual(clock.pending(), [MEMORY_SAMPLE_MS]);
  w.stop();
});

test("the reason names the resident memory and the limit as the user wrote it", () => {
  assert.equal(overLimitReason(150 * MiB, 96 * MiB), "resident memory 150 MiB over --max-memory 96 MiB");
});

function limitedSpec(maxMemoryBytes?: number): InstanceSpec {
  return { ...instanceDefaults(), name: "leaky", source: "", command: "/bin/true", args: [], env: {}, labels: {}, workingDir: "/", startTimeoutMs: 10_000, maxMemoryBytes };
}

function supervised(o: { spec?: number; daemon?: number; resident: () => number | undefined }) {
  const clock = new FakeClock();
  const runner = new FakeRunner(clock);
  const counted = { memory: 0, restarts: 0 };
  const sampled: number[] = [];
  const sup = new Supervisor(limitedSpec(o.spec), {
    log: silentLogger,
    runner,
    supervision: { healthIntervalMs: 60_000, livenessFailures: 0 },
    backoff: { initialMs: 1_000, maxMs: 8_000 },
    clock,
    random: () => 0.5,
    limits: { memoryBytes: o.daemon ?? 0, pids: 0 },
    stopGraceMs: 2_000,
    groupResidentBytes: async (pgrp) => (sampled.push(pgrp), o.resident()),
    onMemoryRestart: () => counted.memory++,
    onRestart: () => counted.restarts++,
  });
  return { clock, runner, sup, counted, sampled };
}

test("supervisor: over its memory limit twice in a row, the instance is restarted gracefully (Shutdown first), restarts +1, lastError says why", async () => {
  let resident = 50 * MiB;
  const { clock, runner, sup, counted, sampled } = supervised({ spec: 96 * MiB, resident: () => resident });
  await sup.start();
  const first = runner.last;
  assert.equal(sup.memoryEnforcement, "sampled");
  await clock.advance(3 * MEMORY_SAMPLE_MS);
  assert.equal(sup.groupRssBytes, 50 * MiB);
  assert.ok(sampled.every((p) => p === first.pid), "the plugin's process group is sampled");
  resident = 150 * MiB;
  await clock.advance(2 * MEMORY_SAMPLE_MS);
  assert.deepEqual(first.received, ["Shutdown"], "graceful: Shutdown before any signal");
  assert.equal(counted.memory, 1);
  assert.equal(sup.state, PluginState.BACKOFF, "a failure for the restart policy (its exit 0 after Shutdown does not make it a clean exit)");
  assert.match(sup.lastError, /^resident memory 150 MiB over --max-memory 96 MiB; ended with a graceful stop\. Last stderr: /);
  resident = 50 * MiB;
  await clock.advance(1_000);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.notEqual(runner.last, first);
  assert.equal(sup.restarts, 1);
  assert.equal(counted.restarts, 1);
  assert.match(sup.lastError, /^resident memory 150 MiB over --max-memory 96 MiB/, "kept after the automatic restart: it says why it restarted");
  await sup.stop(1_000);
});

test("supervisor: a process that ignores Shutdown gets SIGTERM, then SIGKILL, each after the stop grace", async () => {
  const { clock, runner, sup } = supervised({ spec: 10 * MiB, resident: () => 20 * MiB });
  await sup.start();
  const run = runner.last;
  run.ignores.add("Shutdown");
  run.ignores.add("SIGTERM");
  await clock.advance(2 * MEMORY_SAMPLE_MS);
  assert.deepEqual(run.received, ["Shutdown"]);
  await clock.advance(2_000);
  assert.deepEqual(run.received, ["Shutdown", "SIGTERM"]);
  await clock.advance(2_000);
  assert.deepEqual(run.received, ["Shutdown", "SIGTERM", "SIGKILL"]);
  assert.equal(sup.state, PluginState.BACKOFF);
  assert.match(sup.lastError, /over --max-memory 10 MiB; ended with a graceful stop/);
  await sup.stop(1_000);
});

test("supervisor: under its limit it is never touched; without a limit nothing is sampled; the daemon's default applies unless the instance says 0", async () => {
  const under = supervised({ spec: 96 * MiB, resident: () => 95 * MiB });
  await under.sup.start();
  await under.clock.advance(30 * MEMORY_SAMPLE_MS);
  assert.deepEqual(under.runner.last.received, []);
  assert.equal(under.sup.state, PluginState.RUNNING);
  assert.equal(under.counted.memory, 0);
  await under.sup.stop(1_000);

  const none = supervised({ resident: () => 1e12 });
  await none.sup.start();
  await none.clock.advance(5 * MEMORY_SAMPLE_MS);
  assert.deepEqual(none.sampled, []);
  assert.equal(none.sup.memoryEnforcement, "");
  assert.equal(none.clock.pending().length, 1, "RUNNING without a limit holds the health check timer only");
  await none.sup.stop(1_000);

  const byDefault = supervised({ daemon: 64 * MiB, resident: () => 1 * MiB });
  assert.deepEqual(byDefault.sup.limits, { memoryBytes: 64 * MiB, pids: 0 });
  const optedOut = supervised({ spec: 0, daemon: 64 * MiB, resident: () => 1e12 });
  assert.deepEqual(optedOut.sup.limits, { memoryBytes: 0, pids: 0 });
});

test("supervisor: a stop while the memory restart is under way wins: STOPPED, not restarted", async () => {
  const { clock, runner, sup } = supervised({ spec: 10 * MiB, resident: () => 20 * MiB });
  await sup.start();
  runner.last.ignores.add("Shutdown");
  await clock.advance(2 * MEMORY_SAMPLE_MS);
  const stopped = sup.stop(1_000);
  await clock.advance(1_000);
  await stopped;
  assert.equal(sup.state, PluginState.STOPPED);
  await clock.advance(60_000);
  assert.equal(runner.runs.length, 1);
  assert.deepEqual(clock.pending(), []);
});

test("supervisor: an OOM kill in its cgroup is reported as such", async () => {
  const { clock, runner, sup } = supervised({ spec: 96 * MiB, resident: () => 50 * MiB });
  await sup.start();
  runner.last.memoryCgroup = 1;
  assert.equal(sup.memoryEnforcement, "cgroup v1 + sampled");
  runner.last.oomKills = 1;
  runner.last.exit(null, "SIGKILL");
  await settle();
  assert.match(sup.lastError, /^killed by the kernel's OOM killer at its cgroup's memory limit of 120 MiB \(--max-memory × 1.25\) \(signal SIGKILL\)/);
  await clock.advance(60_000);
  await sup.stop(1_000);
});
