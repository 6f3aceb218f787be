import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { acquireStateDirLock, LOCK_FILE, StateDirLockedError } from "../../../../src/daemon/state/lock.js";
import { readProcStatSync } from "../../../../src/daemon/proc.js";
import { tempDir } from "../../../helpers/temp.js";

test("a state dir held by a live process cannot be locked again", async (t) => {
  const dir = tempDir(t);
  const child = spawn("sleep", ["30"]);
  t.after(() => void child.kill("SIGKILL"));
  await once(child, "spawn");
  const startTicks = readProcStatSync(child.pid!)!.startTicks;
  await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: child.pid, startTicks }));
  await assert.rejects(acquireStateDirLock(dir), (e: unknown) => e instanceof StateDirLockedError && e.ownerPid === child.pid && /another plugprom daemon/.test(e.message));
});

test("a stale lock (dead owner, or a recycled pid) is taken over", async (t) => {
  const dir = tempDir(t);
  const stales = [
    JSON.stringify({ pid: 2 ** 22 + 7, startTicks: "1" }), // no such process
    JSON.stringify({ pid: process.ppid, startTicks: "-1" }), // alive, but not the process that locked
    "garbage",
  ];
  for (const stale of stales) {
    await writeFile(join(dir, LOCK_FILE), stale);
    const release = await acquireStateDirLock(dir);
    assert.equal(JSON.parse(await readFile(join(dir, LOCK_FILE), "utf8")).pid, process.pid);
    await release();
  }
});

test("release removes the lock so the next daemon can start", async (t) => {
  const dir = tempDir(t);
  const release = await acquireStateDirLock(dir);
  await release();
  await (await acquireStateDirLock(dir))();
});
