// The supervisor's state machine against a fake runner and a fake clock: every transition,
// which timers each state holds, and that stopping ends them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PluginState } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { silentLogger } from "../../../../src/daemon/log.js";
import type { InstanceSpec, RestartPolicy } from "../../../../src/daemon/spec.js";
import { Supervisor } from "../../../../src/daemon/supervision/supervisor.js";
import { CRASH_LOOP_COUNT, MAX_CONSECUTIVE_FAILURES, STABLE_RUN_MS } from "../../../../src/daemon/supervision/restart-policy.js";
import { FakeClock, settle } from "../../../helpers/fake-clock.js";
import { FakeRunner } from "../../../helpers/fake-runner.js";

const BACKOFF = { initialMs: 1_000, maxMs: 8_000 };
const HEALTH_MS = 5_000;

function spec(restartPolicy: RestartPolicy = "on-failure"): InstanceSpec {
  return {
    name: "abc",
    source: "",
    command: "/bin/true",
    args: [],
    env: {},
    labels: {},
    magicCookieKey: "K",
    magicCookieValue: "V",
    protocolVersions: [1],
    metricsTransport: "unix",
    workingDir: "/",
    startTimeoutMs: 10_000,
    autoMtls: false,
    greetAfterStart: false,
    sha256: "",
    restartPolicy,
  };
}

function setup(policy?: RestartPolicy, o: { livenessFailures?: number; spec?: Partial<InstanceSpec> } = {}) {
  const clock = new FakeClock();
  const runner = new FakeRunner(clock);
  const states: string[] = [];
  const events = { started: 0, restarted: 0, changes: 0, livenessRestarts: 0 };
  const sup = new Supervisor({ ...spec(policy), ...o.spec }, {
    log: silentLogger,
    runner,
    supervision: { healthIntervalMs: HEALTH_MS, livenessFailures: o.livenessFailures ?? 0 },
    stopGraceMs: 1_000,
    backoff: BACKOFF,
    clock,
    random: () => 0.5, // no jitter
    onStateChange: (s) => {
      events.changes++;
      const name = PluginState[s.state];
      if (states.at(-1) !== name) states.push(name);
    },
    onStarted: () => events.started++,
    onRestart: () => events.restarted++,
    onLivenessRestart: () => events.livenessRestarts++,
  });
  return { clock, runner, sup, states, events };
}

test("start: STARTING, then RUNNING and healthy once the plugin serves; advertised; one health timer", async () => {
  const { sup, runner, clock, states, events } = setup();
  assert.equal(sup.advertised, false);
  await sup.start();
  assert.deepEqual(states, ["STARTING", "RUNNING"]);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(sup.healthy, true);
  assert.equal(sup.pid, runner.last.pid);
  assert.equal(sup.advertised, true);
  assert.equal(events.started, 1);
  assert.deepEqual(clock.pending(), [HEALTH_MS], "RUNNING holds the health check timer, nothing else");
});

test("a failed health check makes it unhealthy, a good one healthy again, and each flip is reported", async () => {
  const { sup, runner, clock, events } = setup();
  await sup.start();
  const before = events.changes;
  await clock.advance(HEALTH_MS);
  assert.equal(events.changes, before, "a check that changes nothing is not reported");
  runner.last.healthy = false;
  await clock.advance(HEALTH_MS);
  assert.equal(sup.healthy, false);
  assert.equal(events.changes, before + 1);
  runner.last.healthy = true;
  await clock.advance(HEALTH_MS);
  assert.equal(sup.healthy, true);
  assert.equal(events.changes, before + 2);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.deepEqual(clock.pending(), [HEALTH_MS], "one check at a time");
});

test("crash → CRASHED → BACKOFF (still advertised, restart time shown) → restarted after the backoff, restarts +1", async () => {
  const { sup, runner, clock, states, events } = setup();
  await sup.start();
  const first = runner.last;
  first.exit(1);
  await settle();
  assert.equal(sup.state, PluginState.BACKOFF);
  assert.deepEqual(states, ["STARTING", "RUNNING", "CRASHED", "BACKOFF"]);
  assert.equal(sup.advertised, true);
  assert.equal(sup.lastExitCode, 1);
  assert.match(sup.lastError, /exited unexpectedly \(exit 1\)\. Last stderr: fake plugin \d+ started/);
  assert.equal(sup.nextRestartAt?.getTime(), clock.now() + BACKOFF.initialMs);
  assert.deepEqual(clock.pending(), [BACKOFF.initialMs], "BACKOFF holds only the restart timer: the health check ended with RUNNING");
  assert.equal(first.afterExitCalls, 1, "what the process left behind is cleaned up");

  await clock.advance(BACKOFF.initialMs - 1);
  assert.equal(runner.runs.length, 1, "not before the backoff is over");
  await clock.advance(1);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(runner.runs.length, 2);
  assert.equal(sup.restarts, 1);
  assert.equal(events.restarted, 1);
  assert.equal(events.started, 2);
  assert.equal(sup.nextRestartAt, undefined);
  assert.equal(sup.lastExitCode, undefined, "a new process has no exit yet");
});

test("a crashed instance says why at once, before its last output is read, and completes it after", async () => {
  const { sup, runner } = setup();
  await sup.start();
  const first = runner.last;
  let outputRead!: () => void;
  first.outputPending = new Promise((resolve) => (outputRead = resolve));
  first.exit(null, "SIGKILL");
  await settle();
  assert.equal(sup.state, PluginState.CRASHED);
  assert.match(sup.lastError, /^exited unexpectedly \(signal SIGKILL\)\. Last stderr: /, "no CRASHED instance without a reason");
  outputRead();
  await settle();
  assert.equal(sup.state, PluginState.BACKOFF);
  assert.match(sup.lastError, /^exited unexpectedly \(signal SIGKILL\)/);
});

test(`a plugin that keeps crashing backs off doubling, is CRASHLOOP from the ${CRASH_LOOP_COUNT}th failure, and FAILED after ${MAX_CONSECUTIVE_FAILURES} restarts`, async () => {
  const { sup, runner, clock, states } = setup("always");
  await sup.start();
  const waits: number[] = [];
  const seen: PluginState[] = [];
  for (let i = 0; i <= MAX_CONSECUTIVE_FAILURES; i++) {
    runner.last.exit(2);
    await settle();
    seen.push(sup.state);
    if (sup.state === PluginState.FAILED) break;
    waits.push(sup.nextRestartAt!.getTime() - clock.now());
    await clock.advance(waits.at(-1)!);
    assert.equal(sup.state, PluginState.RUNNING);
  }
  assert.deepEqual(waits, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000, 8_000, 8_000, 8_000]);
  assert.deepEqual(seen.slice(0, CRASH_LOOP_COUNT), [...Array(CRASH_LOOP_COUNT - 1).fill(PluginState.BACKOFF), PluginState.CRASHLOOP]);
  assert.equal(seen.at(-1), PluginState.FAILED);
  assert.ok(states.includes("CRASHLOOP"));
  assert.equal(sup.restarts, MAX_CONSECUTIVE_FAILURES);
  assert.match(sup.lastError, /^gave up after 10 restarts without a stable run; "plugprom restart abc" tries again\. Last: exited unexpectedly \(exit 2\)/);
  assert.deepEqual(clock.pending(), [], "FAILED holds no timer");
  assert.equal(sup.advertised, false);
});

test("a failed automatic start counts as a failure and backs off again", async () => {
  const { sup, runner, clock } = setup();
  await sup.start();
  runner.next.push({ fail: "plugin exited before its handshake (exit 1)" });
  runner.last.exit(1);
  await settle();
  await clock.advance(BACKOFF.initialMs);
  assert.equal(sup.state, PluginState.BACKOFF);
  assert.equal(sup.lastError, "plugin exited before its handshake (exit 1)");
  assert.deepEqual(runner.last.received, ["SIGKILL"], "the failed attempt's process group is reaped");
  assert.deepEqual(clock.pending(), [2 * BACKOFF.initialMs]);
  await clock.advance(2 * BACKOFF.initialMs);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(sup.restarts, 2);
});

test(`a run of ${STABLE_RUN_MS} ms resets the backoff to its first wait`, async () => {
  const { sup, runner, clock } = setup();
  await sup.start();
  for (let i = 0; i < 3; i++) {
    runner.last.exit(1);
    await settle();
    await clock.advance(sup.nextRestartAt!.getTime() - clock.now());
  }
  runner.last.exit(1);
  await settle();
  assert.equal(sup.nextRestartAt!.getTime() - clock.now(), 8_000, "four failures in a row");
  await clock.advance(8_000);
  await clock.advance(STABLE_RUN_MS);
  runner.last.exit(1);
  await settle();
  assert.equal(sup.state, PluginState.BACKOFF);
  assert.equal(sup.nextRestartAt!.getTime() - clock.now(), BACKOFF.initialMs);
});

test("stopping during the backoff clears the restart timer: STOPPED, and nothing starts later", async () => {
  const { sup, runner, clock, states } = setup();
  await sup.start();
  runner.last.exit(1);
  await settle();
  assert.equal(sup.state, PluginState.BACKOFF);
  await sup.stop(1_000);
  assert.equal(sup.state, PluginState.STOPPED);
  assert.equal(states.at(-1), "STOPPED");
  assert.deepEqual(clock.pending(), []);
  await clock.advance(60_000);
  assert.equal(runner.runs.length, 1);
  assert.equal(sup.restarts, 0);
});

test("stop is graceful (Shutdown first) and idempotent: one shutdown, one STOPPED, the same promise", async () => {
  const { sup, runner, clock, states } = setup();
  await sup.start();
  const a = sup.stop(1_000);
  const b = sup.stop(1_000);
  assert.equal(a, b);
  await a;
  assert.deepEqual(runner.last.received, ["Shutdown"]);
  assert.equal(sup.state, PluginState.STOPPED);
  assert.deepEqual(states, ["STARTING", "RUNNING", "STOPPING", "STOPPED"]);
  await sup.stop(1_000);
  assert.deepEqual(runner.last.received, ["Shutdown"], "a second stop sends nothing");
  assert.deepEqual(clock.pending(), []);
  assert.equal(sup.pid, undefined);
  assert.equal(sup.healthy, false);
});

test("a plugin that ignores Shutdown and SIGTERM gets SIGKILL, each a grace period apart", async () => {
  const { sup, runner, clock } = setup();
  await sup.start();
  runner.last.ignores.add("Shutdown").add("SIGTERM");
  const stopping = sup.stop(2_000);
  await settle();
  assert.deepEqual(runner.last.received, ["Shutdown"]);
  assert.equal(sup.state, PluginState.STOPPING);
  assert.equal(sup.advertised, false);
  await clock.advance(2_000);
  assert.deepEqual(runner.last.received, ["Shutdown", "SIGTERM"]);
  await clock.advance(2_000);
  await stopping;
  assert.deepEqual(runner.last.received, ["Shutdown", "SIGTERM", "SIGKILL"]);
  assert.equal(sup.state, PluginState.STOPPED);
  assert.deepEqual(clock.pending(), []);
});

test("stopping while starting aborts the start: STOPPED, and start() reports it", async () => {
  const { sup, runner, clock } = setup();
  runner.next.push("hang");
  const starting = sup.start();
  await settle();
  assert.equal(sup.state, PluginState.STARTING);
  assert.equal(sup.advertised, false, "never ran: not a target yet");
  await sup.stop(1_000);
  assert.equal(runner.last.readySignal?.aborted, true);
  await assert.rejects(starting, /stopped while starting/);
  assert.equal(sup.state, PluginState.STOPPED);
  assert.deepEqual(clock.pending(), []);
});

test("kill sends SIGKILL at once, no Shutdown and no grace; STOPPED", async () => {
  const { sup, runner } = setup();
  await sup.start();
  await sup.kill();
  assert.deepEqual(runner.last.received, ["SIGKILL"]);
  assert.equal(sup.state, PluginState.STOPPED);
});

test("a first start that fails is FAILED with the reason, its process reaped, and nothing retried", async () => {
  const { sup, runner, clock } = setup("always");
  runner.next.push({ fail: "plugin did not print its handshake within 10000 ms" });
  await assert.rejects(sup.start(), /did not print its handshake/);
  assert.equal(sup.state, PluginState.FAILED);
  assert.equal(sup.lastError, "plugin did not print its handshake within 10000 ms");
  assert.deepEqual(runner.last.received, ["SIGKILL"]);
  assert.deepEqual(clock.pending(), []);
});

test("a spawn that fails before any process exists is FAILED with the runner's reason", async () => {
  const { sup, runner } = setup();
  runner.spawnError = new Error("plugin command /nope does not exist");
  await assert.rejects(sup.start(), /does not exist/);
  assert.equal(sup.state, PluginState.FAILED);
  assert.equal(sup.pid, undefined);
});

test("restart policies: never leaves a crash CRASHED, on-failure a clean exit STOPPED, always restarts a clean exit", async () => {
  const never = setup("never");
  await never.sup.start();
  never.runner.last.exit(3);
  await settle();
  assert.equal(never.sup.state, PluginState.CRASHED);
  assert.deepEqual(never.clock.pending(), []);

  const onFailure = setup("on-failure");
  await onFailure.sup.start();
  onFailure.runner.last.exit(0);
  await settle();
  assert.equal(onFailure.sup.state, PluginState.STOPPED);
  assert.match(onFailure.sup.lastError, /exited on its own \(exit 0\)/);

  const always = setup("always");
  await always.sup.start();
  always.runner.last.exit(0);
  await settle();
  assert.equal(always.sup.state, PluginState.BACKOFF);
});

test("restart is stop then start, counted once; refused while starting", async () => {
  const { sup, runner, events } = setup();
  await sup.start();
  await sup.restart(1_000);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(sup.restarts, 1);
  assert.equal(events.restarted, 1);
  assert.equal(runner.runs.length, 2);
  assert.deepEqual(runner.runs[0]!.received, ["Shutdown"]);

  const other = setup();
  other.runner.next.push("hang");
  void other.sup.start().catch(() => undefined);
  await settle();
  await assert.rejects(other.sup.restart(1_000), /is still starting/);
  await other.sup.kill();
});

test("restore adopts a live process without counting a start; a gone one is started again", async () => {
  const { sup, runner, events } = setup();
  runner.alivePids.add(4242);
  const saved = { pid: 4242, startTicks: "1", startedAt: new Date(0).toISOString(), appVersion: 3, network: "unix" as const, address: "/s", protocol: "grpc" as const, metricsEndpoint: "", args: [], stdoutLog: "", stderrLog: "" };
  await sup.restore(saved);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(sup.pid, 4242);
  assert.equal(sup.handshake?.appVersion, 3);
  assert.equal(events.started, 0);
  assert.equal(sup.persisted().reattach?.pid, 4242, "still adoptable by the next daemon");

  const gone = setup();
  await gone.sup.restore({ ...saved, pid: 1 });
  assert.equal(gone.sup.state, PluginState.RUNNING);
  assert.equal(gone.runner.runs.length, 1);
});

test("detach leaves the process running and the state as it was, but ends every timer", async () => {
  const { sup, runner, clock } = setup();
  await sup.start();
  await sup.detach();
  assert.equal(runner.last.detached, true);
  assert.deepEqual(runner.last.received, []);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.deepEqual(clock.pending(), []);
});

test("persisted: the spec and restarts always; reattach information only while a process runs", async () => {
  const { sup, runner } = setup();
  assert.deepEqual(sup.persisted(), { spec: sup.spec, restarts: 0 });
  await sup.start();
  assert.equal(sup.persisted().reattach?.pid, runner.last.pid);
  await sup.stop(1_000);
  assert.equal(sup.persisted().reattach, undefined);
});

// ---- liveness: n failed health checks in a row replace the process -------------------------

test("n failed health checks in a row: SIGKILL to the group at once, CRASHED with the reason, then restarted as after a crash", async () => {
  const { sup, runner, clock, states, events } = setup("on-failure", { livenessFailures: 3 });
  await sup.start();
  const first = runner.last;
  first.healthy = false;
  await clock.advance(2 * HEALTH_MS);
  assert.equal(sup.state, PluginState.RUNNING, "two failures of three: still RUNNING");
  assert.equal(sup.failedHealthChecks, 2);
  assert.equal(sup.healthy, false);
  await clock.advance(HEALTH_MS);
  assert.deepEqual(first.received, ["SIGKILL"], "no Shutdown and no SIGTERM: a stopped process ignores them");
  assert.equal(sup.livenessRestarts, 1);
  assert.equal(events.livenessRestarts, 1);
  assert.equal(sup.state, PluginState.BACKOFF);
  assert.deepEqual(states.slice(-2), ["CRASHED", "BACKOFF"]);
  assert.match(sup.lastError, /^failed 3 health checks in a row \(last: fake: NOT_SERVING\); ended with SIGKILL\. Last stderr: fake plugin \d+ started/);
  assert.equal(first.afterExitCalls, 1, "what it left in its group is killed too");
  assert.deepEqual(clock.pending(), [BACKOFF.initialMs], "the health check ended with RUNNING");

  await clock.advance(BACKOFF.initialMs);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(runner.runs.length, 2);
  assert.equal(sup.restarts, 1);
  assert.equal(events.restarted, 1);
  assert.equal(sup.failedHealthChecks, 0, "the new process starts with a clean count");
  assert.equal(sup.livenessRestarts, 1);
  assert.match(sup.lastError, /^failed 3 health checks in a row/, "why its predecessor went stays on show");
  await sup.restart(1_000);
  assert.equal(sup.lastError, "", "a restart asked for clears it");
});

test("one good answer resets the count: failures that never reach n in a row never replace the process", async () => {
  const { sup, runner, clock } = setup("on-failure", { livenessFailures: 3 });
  await sup.start();
  for (let i = 0; i < 5; i++) {
    runner.last.healthy = false;
    await clock.advance(2 * HEALTH_MS);
    assert.equal(sup.failedHealthChecks, 2);
    runner.last.healthy = true;
    await clock.advance(HEALTH_MS);
    assert.equal(sup.failedHealthChecks, 0);
  }
  assert.equal(sup.state, PluginState.RUNNING);
  assert.deepEqual(runner.last.received, []);
  assert.equal(runner.runs.length, 1);
});

test("a check that does not answer fails at its timeout (the interval, at most 5 s) and the next starts an interval after it began", async () => {
  const { sup, runner, clock } = setup("on-failure", { livenessFailures: 2, spec: { healthIntervalMs: 2_000 } });
  await sup.start();
  runner.last.hung = true;
  await clock.advance(2_000);
  assert.deepEqual(runner.last.checkTimeouts, [2_000], "the check's own timeout is the interval");
  assert.deepEqual(clock.pending(), [2_000], "only the check's deadline is pending");
  await clock.advance(2_000);
  assert.equal(sup.failedHealthChecks, 1, "reported at the deadline, not waited for");
  assert.equal(runner.last.checkTimeouts.length, 2, "the next check started right away: one interval after the first began");
  await clock.advance(2_000);
  assert.equal(sup.state, PluginState.BACKOFF, "replaced 3 intervals after it hung: n intervals after the first check began");
  assert.match(sup.lastError, /^failed 2 health checks in a row \(last: no answer within 2000 ms\)/);

  const slow = setup("on-failure", { livenessFailures: 2, spec: { healthIntervalMs: 60_000 } });
  await slow.sup.start();
  slow.runner.last.hung = true;
  await slow.clock.advance(60_000);
  assert.deepEqual(slow.runner.last.checkTimeouts, [5_000], "a long interval still waits at most 5 s for an answer");
  await slow.clock.advance(5_000);
  assert.equal(slow.sup.failedHealthChecks, 1);
  assert.deepEqual(slow.clock.pending(), [55_000]);
  await slow.sup.kill();
});

test("a check that failed only because the daemon itself was stalled is not counted; the next one is", async () => {
  const { sup, runner, clock } = setup("on-failure", { livenessFailures: 1, spec: { healthIntervalMs: 2_000 } });
  await sup.start();
  runner.last.hung = true;
  await clock.advance(2_000); // the check starts, and gets no answer
  clock.stall(4_000); // the event loop blocked: the deadline fires 2 s late, past the 1 s allowance
  await clock.advance(0);
  assert.equal(sup.state, PluginState.RUNNING, "a late verdict on a stalled daemon replaces nothing");
  assert.equal(sup.failedHealthChecks, 0);
  assert.equal(runner.last.checkTimeouts.length, 2, "the next check started at once: its interval was over");
  await clock.advance(2_000);
  assert.equal(sup.state, PluginState.BACKOFF, "a failure on time counts");
});

test("a check that failed on the daemon's side (out of descriptors) is not counted against the plugin", async () => {
  const { sup, runner, clock } = setup("on-failure", { livenessFailures: 1 });
  await sup.start();
  runner.last.checkAnswer = { ok: false, error: "connect EMFILE /tmp/fake.sock", daemonFault: true };
  await clock.advance(10 * HEALTH_MS);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.equal(sup.failedHealthChecks, 0);
  runner.last.checkAnswer = { ok: false, error: "connect ECONNREFUSED /tmp/fake.sock" };
  await clock.advance(HEALTH_MS);
  assert.equal(sup.state, PluginState.BACKOFF, "the plugin's own failure counts");
  assert.match(sup.lastError, /\(last: connect ECONNREFUSED/);
});

test("livenessFailures 0 (the spec's, over the daemon's) never replaces a failing process; the spec's n overrides the daemon's", async () => {
  const off = setup("on-failure", { livenessFailures: 3, spec: { livenessFailures: 0 } });
  await off.sup.start();
  assert.deepEqual(off.sup.supervision, { healthIntervalMs: HEALTH_MS, livenessFailures: 0 });
  off.runner.last.healthy = false;
  await off.clock.advance(20 * HEALTH_MS);
  assert.equal(off.sup.state, PluginState.RUNNING);
  assert.equal(off.sup.healthy, false);
  assert.equal(off.sup.failedHealthChecks, 20);
  assert.deepEqual(off.runner.last.received, []);

  const one = setup("on-failure", { livenessFailures: 0, spec: { livenessFailures: 1 } });
  await one.sup.start();
  one.runner.last.healthy = false;
  await one.clock.advance(HEALTH_MS);
  assert.equal(one.sup.state, PluginState.BACKOFF);
  assert.match(one.sup.lastError, /^failed 1 health check in a row/);
});

test("a replaced process counts for the restart policy: never leaves it CRASHED, and one that hangs at every start is given up on", async () => {
  const never = setup("never", { livenessFailures: 1 });
  await never.sup.start();
  never.runner.last.healthy = false;
  await never.clock.advance(HEALTH_MS);
  assert.equal(never.sup.state, PluginState.CRASHED);
  assert.match(never.sup.lastError, /^failed 1 health check in a row/);
  assert.deepEqual(never.clock.pending(), []);

  // Each run lasts longer than a stable run, but it never answered: its failures add up.
  const { sup, runner, clock } = setup("always", { livenessFailures: 3 });
  await sup.start();
  const seen: PluginState[] = [];
  for (let i = 0; i <= MAX_CONSECUTIVE_FAILURES; i++) {
    runner.last.healthy = false;
    await clock.advance(3 * HEALTH_MS);
    assert.ok(3 * HEALTH_MS >= STABLE_RUN_MS);
    seen.push(sup.state);
    if (sup.state === PluginState.FAILED) break;
    await clock.advance(sup.nextRestartAt!.getTime() - clock.now());
  }
  assert.equal(seen.length, MAX_CONSECUTIVE_FAILURES + 1);
  assert.equal(seen.at(-1), PluginState.FAILED);
  assert.match(sup.lastError, /^gave up after 10 restarts without a stable run; .* Last: failed 3 health checks in a row/);
  assert.equal(sup.livenessRestarts, MAX_CONSECUTIVE_FAILURES + 1);
});

test("a stop or kill racing the replacement wins: STOPPED, nothing started behind its back; a process that survives SIGKILL is waited for", async () => {
  const { sup, runner, clock } = setup("always", { livenessFailures: 1 });
  await sup.start();
  const stuck = runner.last;
  stuck.ignores.add("SIGKILL").add("SIGTERM").add("Shutdown"); // uninterruptible for now
  stuck.healthy = false;
  await clock.advance(HEALTH_MS);
  assert.equal(sup.state, PluginState.CRASHED);
  await clock.advance(60_000);
  assert.equal(runner.runs.length, 1, "no second copy while the first still lives");
  const stopped = sup.stop(1_000);
  await settle();
  assert.equal(sup.state, PluginState.STOPPING);
  stuck.exit(null, "SIGKILL");
  await stopped;
  await clock.advance(60_000);
  assert.equal(sup.state, PluginState.STOPPED);
  assert.equal(runner.runs.length, 1, "the stop won: nothing restarted");
  assert.deepEqual(clock.pending(), []);

  const killed = setup("always", { livenessFailures: 1 });
  await killed.sup.start();
  killed.runner.last.ignores.add("SIGKILL");
  killed.runner.last.healthy = false;
  await killed.clock.advance(HEALTH_MS);
  const kill = killed.sup.kill();
  killed.runner.last.exit(null, "SIGKILL");
  await kill;
  await killed.clock.advance(60_000);
  assert.equal(killed.sup.state, PluginState.STOPPED);
  assert.equal(killed.runner.runs.length, 1);
});

test("a reattached process lives by the same rule: n failed checks replace it", async () => {
  const { sup, runner, clock, events } = setup("on-failure", { livenessFailures: 2 });
  runner.alivePids.add(4242);
  await sup.restore({ pid: 4242, startTicks: "1", startedAt: new Date(0).toISOString(), appVersion: 1, network: "unix", address: "/s", protocol: "grpc", metricsEndpoint: "", args: [], stdoutLog: "", stderrLog: "" });
  const adopted = runner.last;
  adopted.hung = true;
  await clock.advance(2 * HEALTH_MS + 5_000);
  assert.deepEqual(adopted.received, ["SIGKILL"]);
  assert.equal(events.livenessRestarts, 1);
  await clock.advance(BACKOFF.initialMs);
  assert.equal(sup.state, PluginState.RUNNING);
  assert.notEqual(sup.pid, 4242);
  assert.equal(sup.restarts, 1);
});
