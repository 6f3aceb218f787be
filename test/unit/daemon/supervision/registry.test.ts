// The registry against a fake runner: names, the instances it keeps and forgets, what it
// persists, and that one instance takes one lifecycle request at a time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { PluginState, StartRequestSchema } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { DaemonError } from "../../../../src/daemon/errors.js";
import { silentLogger } from "../../../../src/daemon/log.js";
import type { PersistedInstance } from "../../../../src/daemon/state/instances-file.js";
import { Registry, type RegistryDeps } from "../../../../src/daemon/supervision/registry.js";
import { FakeClock, settle } from "../../../helpers/fake-clock.js";
import { FakeRunner } from "../../../helpers/fake-runner.js";

function setup(deps: Partial<RegistryDeps> = {}) {
  const clock = new FakeClock();
  const runner = new FakeRunner(clock);
  const events: string[] = [];
  let persisted: PersistedInstance[] = [];
  const registry = new Registry({
    log: silentLogger,
    catalog: new Map(),
    supervisor: { runner, supervision: { healthIntervalMs: 5_000, livenessFailures: 3 }, backoff: { initialMs: 1_000, maxMs: 8_000 }, clock, random: () => 0.5 },
    defaults: { stopGraceMs: 1_000, startTimeoutMs: 10_000 },
    events: {
      pluginStarted: (n) => events.push(`started ${n}`),
      pluginStopped: (n) => events.push(`stopped ${n}`),
      pluginRestarted: (n) => events.push(`restarted ${n}`),
      pluginLivenessRestarted: (n) => events.push(`liveness-restarted ${n}`),
      pluginMemoryRestarted: (n) => events.push(`memory-restarted ${n}`),
    },
    persist: (snapshot) => (persisted = snapshot()),
    ...deps,
  });
  return { clock, runner, registry, events, persisted: () => persisted };
}

const start = (name: string) => create(StartRequestSchema, { name, command: ["/bin/true"] });

function reason(r: string) {
  return (err: unknown) => err instanceof DaemonError && err.reason === r;
}

test("start keeps the instance, running, and persists it with how to adopt its process", async () => {
  const { registry, runner, events, persisted } = setup();
  const sup = await registry.start(start("abc"));
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(registry.get("abc"), sup);
  assert.deepEqual(events, ["started abc"]);
  assert.equal(persisted()[0]?.reattach?.pid, runner.last.pid);
});

test("a second start of the same name is refused as existing; a bad name as invalid", async () => {
  const { registry } = setup();
  await registry.start(start("abc"));
  await assert.rejects(registry.start(start("abc")), reason("exists"));
  await assert.rejects(registry.start(start("Bad Name")), reason("invalid"));
  await assert.rejects(registry.stop("nope"), reason("not-found"));
});

test("a start that fails leaves nothing behind: the name is free, its files removed, nothing persisted", async () => {
  const { registry, runner, persisted } = setup();
  runner.next.push({ fail: "plugin exited before its handshake (exit 1)" });
  await assert.rejects(registry.start(start("abc")), /exited before its handshake/);
  assert.equal(registry.get("abc"), undefined);
  assert.equal(runner.removed, 1);
  assert.deepEqual(persisted(), []);
  await registry.start(start("abc"));
});

test("stop forgets the instance and counts it stopped; restart keeps it and counts a restart", async () => {
  const { registry, events } = setup();
  await registry.start(start("a"));
  await registry.start(start("b"));
  const restarted = await registry.restart("b");
  assert.equal(restarted.restarts, 1);
  const stopped = await registry.stop("a");
  assert.equal(stopped.state, PluginState.STOPPED);
  assert.deepEqual(registry.list().map((s) => s.name), ["b"]);
  assert.deepEqual(events, ["started a", "started b", "restarted b", "started b", "stopped a"]);
});

test("one lifecycle request at a time per instance: a stop during a stop is a conflict", async () => {
  const { registry, runner } = setup();
  await registry.start(start("slow"));
  runner.last.ignores.add("Shutdown");
  const first = registry.stop("slow");
  await settle();
  await assert.rejects(registry.stop("slow"), (e: unknown) => reason("conflict")(e) && /is stopping; try again/.test((e as Error).message));
  await assert.rejects(registry.kill("slow"), reason("conflict"), "a kill is refused too while it stops");
  runner.last.exit(0);
  await first;
});

test("restore brings back what a previous daemon had, adopted when alive, with its restart count", async () => {
  const { registry, runner } = setup();
  const old = setup();
  await old.registry.start(start("kept"));
  const saved = old.persisted().map((p) => ({ ...p, restarts: 3 }));
  runner.alivePids.add(saved[0]!.reattach!.pid);
  await registry.restore(saved);
  const sup = registry.get("kept")!;
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(sup.pid, saved[0]!.reattach!.pid);
  assert.equal(sup.restarts, 3);
});

test("the daemon's --liveness-failures applies to an instance that sets none: its replacement is counted, then its restart", async () => {
  const { registry, runner, clock, events, persisted } = setup();
  const sup = await registry.start(start("abc"));
  assert.deepEqual(sup.supervision, { healthIntervalMs: 5_000, livenessFailures: 3 });
  assert.equal(persisted()[0].spec.livenessFailures, undefined, "the daemon's default is not written into instances.json");
  const first = runner.last;
  first.healthy = false;
  await clock.advance(3 * 5_000);
  await clock.advance(1_000);
  assert.deepEqual(events, ["started abc", "liveness-restarted abc", "restarted abc", "started abc"]);
  assert.deepEqual(first.received, ["SIGKILL"]);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(persisted()[0].process?.pid, runner.last.pid, "the new process is what is saved");
});

test("a start that comes in while restore sweeps the orphans waits for the sweep, so its process is never taken for one", async () => {
  let sweepDone!: () => void;
  let sweeping = false;
  const { registry, runner } = setup({
    stopOrphans: () => {
      sweeping = true;
      return new Promise<void>((resolve) => (sweepDone = resolve));
    },
  });
  let restoreCalled!: () => void; // as the daemon holds requests, from before its control API listens
  registry.holdRequests(new Promise<void>((resolve) => (restoreCalled = resolve)));
  const early = registry.start(start("early"));
  await settle();
  assert.equal(runner.runs.length, 0, "nothing spawned before restore began");
  restoreCalled();
  const restoring = registry.restore([]);
  await settle();
  assert.ok(sweeping);
  assert.equal(runner.runs.length, 0, "nothing spawned while the sweep reads /proc");
  sweepDone();
  await restoring;
  assert.equal((await early).state, PluginState.RUNNING);
  assert.equal(runner.runs.length, 1);
});

test("requests that come while restore sweeps for orphans wait for it: a saved name exists, its process is adopted, a new start spawns after the sweep", async () => {
  const old = setup();
  await old.registry.start(start("kept"));
  const saved = old.persisted();
  let endSweep!: () => void;
  const { registry, runner } = setup({ stopOrphans: () => new Promise<void>((resolve) => (endSweep = resolve)) });
  runner.alivePids.add(saved[0]!.reattach!.pid);
  const restoring = registry.restore(saved);
  const again = registry.start(start("kept"));
  const fresh = registry.start(start("fresh"));
  const stopped = registry.stop("kept");
  await settle();
  assert.equal(runner.runs.length, 0, "nothing is spawned while the sweep may take it for an orphan");
  endSweep();
  await restoring;
  await assert.rejects(again, reason("exists"), "a start of a saved instance is not a second copy");
  assert.equal((await fresh).state, PluginState.RUNNING);
  assert.equal((await stopped).pid, undefined, "a stop of a saved instance stops it once it is back, instead of answering not found");
  assert.equal(runner.runs[0]!.pid, saved[0]!.reattach!.pid, "the saved process was adopted");
  assert.deepEqual(runner.runs[0]!.received, ["Shutdown"]);
});

test("a start of a name whose stop or kill is still saving waits for it: the old instance's files go before the new one's are made", async () => {
  let saving: Promise<void> = Promise.resolve();
  const { registry, runner } = setup({ flushPersisted: () => saving });
  const order: string[] = [];
  const spawn = runner.spawn.bind(runner);
  runner.spawn = (...args) => (order.push("spawned"), spawn(...args));
  runner.removeFiles = async () => void order.push("files removed");
  for (const end of ["stop", "kill"] as const) {
    order.length = 0;
    await registry.start(start("a"));
    let saved!: () => void;
    saving = new Promise((resolve) => (saved = resolve));
    const ended = end === "stop" ? registry.stop("a") : registry.kill("a");
    await settle();
    const again = registry.start(start("a"));
    await settle();
    saved();
    await ended;
    assert.equal((await again).state, PluginState.RUNNING);
    assert.deepEqual(order, ["spawned", "files removed", "spawned"], `after ${end}`);
    await registry.kill("a");
  }
});
