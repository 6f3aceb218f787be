// The failures a hostile user found (daemon SIGKILLs mid-start, a full filesystem, a log
// flood, a low descriptor limit), each reproduced with real processes, and what the daemon
// must do instead.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { buildGoProgram } from "../helpers/go-build.js";
import { daemonFleet, getPlugin, waitFor, type PluginJson } from "../helpers/daemon.js";
import { groupsByInstance, pluginProcesses } from "../helpers/procs.js";

let goGreeter: string;
before(async () => {
  goGreeter = await buildGoProgram("goplugin-greeter");
});

test("a start cut off by a daemon SIGKILL leaves no orphan: the next daemon stops it and runs one copy, which stop removes", async (t) => {
  const next = daemonFleet(t);
  const first = await next();
  // Takes 2 s to print its handshake: the daemon dies in the middle of the start.
  const starting = first.cli(["start", "slow", "--", "sh", "-c", `sleep 2; exec ${goGreeter}`]);
  await waitFor("the plugin's process", () => pluginProcesses(first.stateDir).some((p) => p.instance === "slow"));
  first.proc.kill("SIGKILL");
  const cut = await starting;
  assert.notEqual(cut.code, 0);
  assert.doesNotMatch(cut.stderr, /not a plugprom control API/, "a call cut off by the daemon's death says so");
  assert.match(cut.stderr, /daemon .*(went away|closed the connection)/);

  const second = await next();
  await second.waitForLog("instances restored", 30_000);
  const list = JSON.parse((await second.cli(["list", "--json"])).stdout) as PluginJson[];
  // The start was in flight: it may have been kept or not, but never twice.
  const groups = groupsByInstance(second.stateDir);
  assert.ok((groups.get("slow")?.size ?? 0) <= 1, `one copy at most, found process groups ${[...(groups.get("slow") ?? [])]}`);
  if (list.some((p) => p.name === "slow")) {
    await waitFor("RUNNING", async () => (await getPlugin(second, "slow")).state === "RUNNING", 20_000);
    const info = await getPlugin(second, "slow");
    assert.deepEqual([...(groupsByInstance(second.stateDir).get("slow") ?? [])], [info.pid], "the running copy is the one the daemon knows");
    assert.equal((await second.cli(["stop", "slow"])).code, 0);
  } else {
    assert.equal(groups.get("slow")?.size ?? 0, 0, "nothing runs for an instance the daemon does not list");
  }
  assert.deepEqual(pluginProcesses(second.stateDir), [], "stop leaves nothing behind");
});
