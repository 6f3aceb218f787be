// A plugin process found again after a daemon restart, against a real process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readProcStatSync } from "../../../../src/daemon/proc.js";
import { attachPlugin } from "../../../../src/daemon/supervision/plugin-process.js";
import { waitFor } from "../../../helpers/daemon.js";

test("an adopted process's exit is reported as soon as alive() sees it gone, not at the next poll", async (t) => {
  const child = spawn("sleep", ["60"], { detached: true, stdio: "ignore" });
  t.after(() => child.kill("SIGKILL"));
  await once(child, "spawn");
  // A poll that does not come during the test: only alive() can notice the exit.
  const proc = attachPlugin(child.pid!, readProcStatSync(child.pid!)!.startTicks, 600_000);
  t.after(() => proc.detach());
  let exited = false;
  void proc.exited.then(() => (exited = true));
  assert.ok(proc.alive());
  proc.signalGroup("SIGKILL");
  await waitFor("the process gone", () => !proc.alive());
  await null;
  assert.ok(exited, "exited has resolved once alive() says false: a stop that waited for alive() does not get the exit's clean-up after it");
});
