import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../../../src/daemon/log.js";
import { failureReason, UpstreamFailures } from "../../../../src/daemon/http/upstream-failures.js";

test("failures are counted each time and logged once per plugin and reason every 10 s, with how many were not", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "info", format: "text", write: (l) => lines.push(l.trim()), now: () => new Date(0) });
  const counted: string[] = [];
  let now = 0;
  const f = new UpstreamFailures(log, { upstreamFailed: (p, r) => void counted.push(`${p}/${r}`) }, () => now);
  for (let i = 0; i < 5; i++) f.record("a", "EMFILE", "connect EMFILE");
  f.record("a", "timeout", "timed out");
  f.record("b", "EMFILE", "connect EMFILE");
  now += 10_000;
  f.record("a", "EMFILE", "connect EMFILE");
  assert.equal(counted.length, 8);
  assert.equal(lines.length, 4);
  assert.match(lines[0], /scrape of a plugin's metrics endpoint failed plugin=a reason=EMFILE error="connect EMFILE"$/);
  assert.match(lines[3], /plugin=a reason=EMFILE error="connect EMFILE" notLoggedSince=4$/);
});

test("the reason is the error code, a timeout, or 'other' for codes a label must not take", () => {
  assert.equal(failureReason(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), false), "ECONNREFUSED");
  assert.equal(failureReason(new Error("x"), true), "timeout");
  assert.equal(failureReason(Object.assign(new Error("x"), { code: "EWHATEVER" }), false), "other");
});
