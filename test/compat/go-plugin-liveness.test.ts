// The liveness rule against a real go-plugin plugin (Go, plugin.Serve): a SIGSTOPped process
// fails its health checks (gRPC, or net/rpc's connect plus its state) and is replaced (SIGKILL to its group, reaped, restarted under
// its policy); a healthy one under the same settings is left alone; 0 turns the rule off.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { daemon, daemonFleet, getPlugin, httpGet, isAlive, waitFor, type DaemonHandle, type PluginJson } from "../helpers/daemon.js";
import { buildGoProgram } from "../helpers/go-build.js";
import { groupsByInstance, pluginProcesses } from "../helpers/procs.js";

let greeter: string;
before(async () => {
  greeter = await buildGoProgram("goplugin-greeter");
});

// Short enough for a quick test, long enough that a healthy plugin on a loaded 2-core machine
// answers within it (a check waits at most one interval): 200 ms replaced healthy plugins when
// the machine was saturated.
const INTERVAL_MS = 500;
const FAILURES = 2;

/** The Go greeter behind a shell that leaves a child in its process group (exec keeps the pid). */
async function startWithChild(d: DaemonHandle, name: string, flags: string[]): Promise<number> {
  const r = await d.cli(["start", name, "--json", ...flags, "--", "/bin/sh", "-c", `sleep 600 & exec ${greeter}`]);
  assert.equal(r.code, 0, r.stderr);
  const { pid } = JSON.parse(r.stdout) as { pid: number };
  await waitFor("the child in its group", () => pluginProcesses(d.stateDir).some((p) => p.pgid === pid && p.pid !== pid));
  return pid;
}

/**
 * Waits until another process of `name` runs. The rule allows n × interval plus a check's
 * timeout, the kill and a restart; the deadline is generous for a loaded machine, and the
 * timing itself is not asserted tighter than that.
 */
async function replaced(d: DaemonHandle, name: string, old: number): Promise<PluginJson> {
  await waitFor(`a new RUNNING process of ${name}`, async () => {
    const p = await getPlugin(d, name);
    return p.state === "RUNNING" && p.pid !== null && p.pid !== old;
  }, 60_000);
  return getPlugin(d, name);
}

const rule = ["--health-interval", `${INTERVAL_MS}ms`, "--liveness-failures", String(FAILURES)];

test("a SIGSTOPped Go plugin fails its health checks and is replaced: new pid, RUNNING, restarts +1, lastError says why, counted; nothing of the old group is left", async (t) => {
  const d = await daemon(t);
  const old = await startWithChild(d, "frozen", rule);
  const before = await getPlugin(d, "frozen");
  assert.deepEqual([before.livenessFailures, before.healthInterval, before.restarts], [FAILURES, "500ms", 0]);
  assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_plugin_liveness_restarts_total\{plugin="frozen"\} 0$/m, "present at 0 from the start");

  process.kill(old, "SIGSTOP");
  const after = await replaced(d, "frozen", old);
  assert.equal(after.restarts, 1);
  assert.equal(after.livenessRestarts, 1);
  assert.match(after.lastError ?? "", new RegExp(`^failed ${FAILURES} health checks in a row \\(last: .+\\); ended with SIGKILL`));
  assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_plugin_liveness_restarts_total\{plugin="frozen"\} 1$/m);
  assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_plugin_restarts_total\{plugin="frozen"\} 1$/m);
  assert.match(d.log(), /replacing plugin plugin=frozen .*failed 2 health checks in a row/);

  // The stopped process was killed and reaped (the daemon is its parent), and its child with it.
  await waitFor("the stopped process reaped", () => !existsSync(`/proc/${old}`));
  assert.equal(isAlive(old), false);
  assert.deepEqual(pluginProcesses(d.stateDir).filter((p) => p.pgid === old), [], "nothing of the old process group lives on");
  assert.equal(groupsByInstance(d.stateDir).get("frozen")?.size, 1, "one copy of the instance");
  assert.equal((await httpGet(`${d.httpBase}/plugins/frozen/metrics`)).status, 200, "its successor is scraped");
});

test("a SIGSTOPped net/rpc plugin is replaced too: its connect check would pass (the kernel accepts for it), its stopped state does not", async (t) => {
  const d = await daemon(t);
  const r = await d.cli(["start", "legacy", "--json", ...rule, "--env", "GREETER_PROTOCOL=netrpc", "--", greeter]);
  assert.equal(r.code, 0, r.stderr);
  const { pid: old } = JSON.parse(r.stdout) as { pid: number };
  process.kill(old, "SIGSTOP");
  const after = await replaced(d, "legacy", old);
  assert.equal(after.rpcProtocol, "netrpc");
  assert.match(after.lastError ?? "", /^failed 2 health checks in a row \(last: the process is stopped \(state T in \/proc\/\d+\/stat/);
  await waitFor("the stopped process reaped", () => !existsSync(`/proc/${old}`));
});

test("a plugin a restarted daemon reattached lives by the same rule: SIGSTOPped, it is replaced, and the stopped process does not live on", async (t) => {
  const next = daemonFleet(t);
  const first = await next(["--keep-plugins"]);
  const r = await first.cli(["start", "adopted", "--json", ...rule, "--", greeter]);
  assert.equal(r.code, 0, r.stderr);
  const { pid: old } = JSON.parse(r.stdout) as { pid: number };
  assert.equal(await first.stop(), 0);
  assert.ok(isAlive(old), "--keep-plugins left it running");

  const second = await next();
  await second.waitForLog("instances restored");
  const adopted = await getPlugin(second, "adopted");
  assert.deepEqual([adopted.pid, adopted.livenessFailures, adopted.healthInterval], [old, FAILURES, "500ms"], "the same process, with its instance's rule");
  process.kill(old, "SIGSTOP");
  const after = await replaced(second, "adopted", old);
  assert.equal(after.livenessRestarts, 1);
  assert.match(after.lastError ?? "", /^failed 2 health checks in a row \(last: the process is stopped/);
  // Not this daemon's child: once killed it is reaped by whoever adopted it (init), or is a zombie.
  await waitFor("the stopped process gone", () => !isAlive(old));
  assert.equal(groupsByInstance(second.stateDir).get("adopted")?.size, 1, "one copy of the instance");
});

test("a healthy Go plugin under the same settings is never replaced", async (t) => {
  const d = await daemon(t);
  const pid = await startWithChild(d, "steady", rule);
  // Absence can only be watched for a while: 12 intervals, each a chance to be replaced.
  const until = Date.now() + 12 * INTERVAL_MS;
  while (Date.now() < until) {
    const p = await getPlugin(d, "steady");
    assert.deepEqual([p.state, p.pid, p.restarts, p.livenessRestarts], ["RUNNING", pid, 0, 0]);
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
  }
  assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_plugin_liveness_restarts_total\{plugin="steady"\} 0$/m);
});

test("--liveness-failures 0 turns the rule off: a SIGSTOPped plugin stays, unhealthy, and is healthy again when it resumes", async (t) => {
  // The daemon's default is 0 here; the instance leaves it out, so the daemon's applies.
  const d = await daemon(t, ["--health-interval", `${INTERVAL_MS}ms`, "--liveness-failures", "0"]);
  const r = await d.cli(["start", "paused", "--json", "--", greeter]);
  assert.equal(r.code, 0, r.stderr);
  const { pid } = JSON.parse(r.stdout) as { pid: number };
  process.kill(pid, "SIGSTOP");
  try {
    await waitFor("many failed checks in a row", async () => (await getPlugin(d, "paused")).failedHealthChecks >= 3 * FAILURES, 60_000);
    const p = await getPlugin(d, "paused");
    assert.deepEqual([p.state, p.pid, p.restarts, p.healthy, p.livenessFailures], ["RUNNING", pid, 0, false, 0]);
    assert.match((await d.cli(["get", "paused"])).stdout, /^liveness: +off, checked every 500ms$/m);
  } finally {
    process.kill(pid, "SIGCONT");
  }
  await waitFor("healthy again", async () => (await getPlugin(d, "paused")).healthy);
  assert.equal((await getPlugin(d, "paused")).failedHealthChecks, 0, "one good answer resets the count");
});
