import { test } from "node:test";
import assert from "node:assert/strict";
import { isSameProcess, parseProcStat, readProcStatSync } from "../../../src/daemon/proc.js";

test("a stat line whose command contains spaces and parentheses parses", () => {
  const line = "4242 (my (odd) plugin) S 1 4240 4242 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 6 0 123456 987654321 2048 18446744073709551615";
  const st = parseProcStat(line);
  assert.equal(st.pid, 4242);
  assert.equal(st.state, "S");
  assert.equal(st.ppid, 1);
  assert.equal(st.pgrp, 4240);
  assert.equal(st.utimeTicks, 25);
  assert.equal(st.stimeTicks, 7);
  assert.equal(st.threads, 6);
  assert.equal(st.startTicks, "123456");
  assert.equal(st.vsizeBytes, 987654321);
  assert.equal(st.rssPages, 2048);
});

test("this process is itself by its start time, and not with another one", () => {
  const me = readProcStatSync(process.pid)!;
  assert.ok(isSameProcess(process.pid, me.startTicks));
  assert.ok(!isSameProcess(process.pid, String(Number(me.startTicks) + 1)), "a recycled pid has another start time");
  assert.equal(readProcStatSync(2 ** 22 + 1), undefined);
});
