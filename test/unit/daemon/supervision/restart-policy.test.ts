import { test } from "node:test";
import assert from "node:assert/strict";
import {
  afterRun,
  backoffMs,
  CRASH_LOOP_COUNT,
  CRASH_LOOP_WINDOW_MS,
  exitOutcome,
  MAX_CONSECUTIVE_FAILURES,
  nextAttempt,
  NO_FAILURES,
  STABLE_RUN_MS,
  type Attempt,
  type FailureHistory,
} from "../../../../src/daemon/supervision/restart-policy.js";
import type { RestartPolicy } from "../../../../src/daemon/spec.js";

const backoff = { initialMs: 100, maxMs: 1_000 };
const middle = () => 0.5; // no jitter: the wait is the base backoff

function retry(a: Attempt): Extract<Attempt, { kind: "retry" }> {
  assert.equal(a.kind, "retry", `expected a retry, got ${a.kind}`);
  return a as Extract<Attempt, { kind: "retry" }>;
}

/** `n` failures one second apart from t=0, under policy on-failure. */
function failures(n: number, policy: RestartPolicy = "on-failure"): { history: FailureHistory; attempts: Attempt[] } {
  let history = NO_FAILURES;
  const attempts: Attempt[] = [];
  for (let i = 0; i < n; i++) {
    const a = nextAttempt(history, i * 1_000, { policy, backoff, random: middle });
    attempts.push(a);
    if (a.kind !== "never") history = a.history;
  }
  return { history, attempts };
}

test("which exits restart: always restarts every exit, on-failure only failures, never none", () => {
  const table: [RestartPolicy, boolean, string][] = [
    ["always", false, "restart"],
    ["always", true, "restart"],
    ["on-failure", true, "restart"],
    ["on-failure", false, "stopped"],
    ["never", true, "crashed"],
    ["never", false, "stopped"],
  ];
  for (const [policy, failed, outcome] of table) assert.equal(exitOutcome(policy, failed), outcome, `${policy}, failed=${failed}`);
});

test("the backoff doubles per failure in a row from the initial wait, capped at the maximum", () => {
  const waits = failures(6).attempts.map((a) => retry(a).waitMs);
  assert.deepEqual(waits, [100, 200, 400, 800, 1_000, 1_000]);
});

test("jitter spreads each wait over ±20 % of the backoff, from the random source given", () => {
  assert.equal(backoffMs(1, backoff, () => 0), 80);
  assert.equal(backoffMs(1, backoff, () => 0.999999), 120);
  assert.equal(backoffMs(3, backoff, () => 0.25), 360);
  // Two plugins that died together with different draws do not restart in lockstep.
  assert.notEqual(backoffMs(2, backoff, () => 0.1), backoffMs(2, backoff, () => 0.9));
});

test(`${CRASH_LOOP_COUNT} failures within the window are a crash loop; fewer are a plain backoff`, () => {
  const { attempts } = failures(CRASH_LOOP_COUNT);
  assert.deepEqual(
    attempts.map((a) => retry(a).crashLoop),
    [...Array(CRASH_LOOP_COUNT - 1).fill(false), true],
  );
});

test("failures older than the crash-loop window are forgotten for the loop, not for the backoff", () => {
  const { history } = failures(CRASH_LOOP_COUNT - 1); // at t = 0 .. 3 s
  const late = retry(nextAttempt(history, 3_000 + CRASH_LOOP_WINDOW_MS, { policy: "always", backoff, random: middle }));
  assert.equal(late.crashLoop, false);
  assert.deepEqual(late.history.recent, [3_000 + CRASH_LOOP_WINDOW_MS]);
  assert.equal(late.history.consecutive, CRASH_LOOP_COUNT);
  assert.equal(late.waitMs, 1_000); // still backing off: the failures were in a row
});

test(`the policy gives up after ${MAX_CONSECUTIVE_FAILURES} restarts without a stable run`, () => {
  const { attempts } = failures(MAX_CONSECUTIVE_FAILURES + 1, "always");
  assert.ok(attempts.slice(0, MAX_CONSECUTIVE_FAILURES).every((a) => a.kind === "retry"));
  const last = attempts[MAX_CONSECUTIVE_FAILURES]!;
  assert.equal(last.kind, "give-up");
  assert.equal(last.kind === "give-up" && last.history.consecutive, MAX_CONSECUTIVE_FAILURES + 1);
});

test("policy never does not retry a failure at all", () => {
  assert.deepEqual(nextAttempt(NO_FAILURES, 0, { policy: "never", backoff, random: middle }), { kind: "never" });
});

test(`a run of ${STABLE_RUN_MS} ms resets the history: the next failure starts the backoff over`, () => {
  const { history } = failures(4);
  assert.equal(afterRun(history, STABLE_RUN_MS - 1), history);
  const reset = afterRun(history, STABLE_RUN_MS);
  assert.deepEqual(reset, NO_FAILURES);
  const next = retry(nextAttempt(reset, 100_000, { policy: "on-failure", backoff, random: middle }));
  assert.equal(next.waitMs, backoff.initialMs);
  assert.equal(next.crashLoop, false);
});

test("deciding never changes the history it was given", () => {
  const { history } = failures(3);
  const before = JSON.stringify(history);
  nextAttempt(history, 10_000, { policy: "always", backoff, random: middle });
  assert.equal(JSON.stringify(history), before);
});
