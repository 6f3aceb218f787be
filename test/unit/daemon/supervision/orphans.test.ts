// Which processes of a state dir no instance owns (pure), and the sweep against real processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../../../src/daemon/log.js";
import { scanMarkedProcesses, stopOrphans, unownedProcesses, type MarkedProcess } from "../../../../src/daemon/supervision/orphans.js";
import { waitFor } from "../../../helpers/daemon.js";

const p = (pid: number, ppid: number, pgrp: number, instance = "x"): MarkedProcess => ({ pid, ppid, pgrp, startTicks: "1", instance });

test("a process is owned through its group or its ancestry; anything else is an orphan", () => {
  const procs = [
    p(100, 1, 100, "a"), // an owned leader
    p(101, 100, 100, "a"), // its child, same group
    p(102, 101, 102, "a"), // a grandchild in a group of its own
    p(200, 1, 200, "b"), // a cut-off start: nobody owns it
    p(201, 200, 200, "b"),
    p(300, 1, 100, "a"), // reparented to init but still in an owned group
    p(400, 1, 400, "c"), // a second copy of c
  ];
  assert.deepEqual(
    unownedProcesses(procs, new Set([100])).map((q) => q.pid),
    [200, 201, 400],
  );
  assert.deepEqual(unownedProcesses(procs, new Set([100, 200, 400])), []);
});

test("the sweep finds marked processes by their environment and kills their whole group", async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), "pp-orph-"));
  const env = { ...process.env, PLUGPROM_DAEMON_STATE_DIR: stateDir, PLUGPROM_INSTANCE: "lost" };
  // A leader with a child, like `sh -c 'sleep 2; exec plugin'` cut off mid-start.
  const orphan = spawn("sh", ["-c", "sleep 60 & wait"], { env, detached: true, stdio: "ignore" });
  const owned = spawn("sleep", ["60"], { env: { ...env, PLUGPROM_INSTANCE: "kept" }, detached: true, stdio: "ignore" });
  t.after(() => {
    for (const c of [orphan, owned]) {
      try {
        process.kill(-c.pid!, "SIGKILL");
      } catch {
        // gone
      }
    }
  });
  await waitFor("both processes and the child", async () => (await scanMarkedProcesses(stateDir)).length === 3);
  const stopped = await stopOrphans(stateDir, new Set([owned.pid!]), silentLogger);
  assert.deepEqual(new Set(stopped.map((q) => q.instance)), new Set(["lost"]));
  assert.equal(stopped.length, 2, "the leader and its child");
  assert.deepEqual((await scanMarkedProcesses(stateDir)).map((q) => q.pid), [owned.pid]);
});

test("a process with the state dir but no instance name (a shell that exported it) is never taken for a plugin", async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), "pp-orph-"));
  const bystander = spawn("sleep", ["60"], { env: { ...process.env, PLUGPROM_DAEMON_STATE_DIR: stateDir }, detached: true, stdio: "ignore" });
  t.after(() => void bystander.kill("SIGKILL"));
  await waitFor("the bystander to exec", () => readFileSync(`/proc/${bystander.pid}/cmdline`, "utf8").startsWith("sleep"));
  assert.deepEqual(await stopOrphans(stateDir, new Set(), silentLogger), []);
});
