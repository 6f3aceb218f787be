// The failures a hostile user found (daemon SIGKILLs mid-start, a full filesystem, a log
// flood, a low descriptor limit), each reproduced with real processes, and what the daemon
// must do instead.
import { test, before, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { once } from "node:events";
import { join } from "node:path";
import { createControlClient } from "../../src/cli/client.js";
import { errorMessage } from "../../src/shared/errors.js";
import { buildGoProgram } from "../helpers/go-build.js";
import { repoRoot } from "../helpers/paths.js";
import { daemonFleet, getPlugin, httpGet, refusedDaemon, waitFor, type DaemonHandle, type PluginJson } from "../helpers/daemon.js";
import { tempDir } from "../helpers/temp.js";
import { groupsByInstance, pluginProcesses } from "../helpers/procs.js";
import { fillFilesystem, smallFilesystem } from "../helpers/tmpfs.js";

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

/** Daemons taking turns on a state dir in a 16 MiB tmpfs of its own; undefined where none can be mounted. */
function onSmallFilesystem(t: TestContext): { fs: string; next: ReturnType<typeof daemonFleet> } | undefined {
  const fs = smallFilesystem(t, "16m");
  return fs ? { fs, next: daemonFleet(t, { stateDir: join(fs, "state") }) } : undefined;
}

async function startGoGreeters(d: DaemonHandle, names: string[]): Promise<void> {
  for (const name of names) {
    const r = await d.cli(["start", name, "--", goGreeter]);
    assert.equal(r.code, 0, r.stderr);
  }
}

interface SavedState {
  instances: Array<{ spec: { name: string }; process?: { pid: number }; reattach?: { pid: number } }>;
}

function savedState(stateDir: string): SavedState {
  return JSON.parse(readFileSync(join(stateDir, "instances.json"), "utf8")) as SavedState;
}

/** Every live plugin process belongs to a process instances.json names: none runs unknown. */
function assertNothingUnknownRuns(stateDir: string): void {
  const known = new Set(savedState(stateDir).instances.flatMap((i) => [i.process?.pid, i.reattach?.pid].filter((p): p is number => p !== undefined)));
  for (const p of pluginProcesses(stateDir)) {
    assert.ok(known.has(p.pgid), `process ${p.pid} of "${p.instance}" (group ${p.pgid}) runs, but instances.json does not know it`);
  }
}

/** No instance runs twice, and nothing runs for an instance the daemon does not list. */
async function assertOneCopyEach(d: DaemonHandle): Promise<void> {
  const listed = new Map((JSON.parse((await d.cli(["list", "--json"])).stdout) as PluginJson[]).map((p) => [p.name, p]));
  for (const [name, groups] of groupsByInstance(d.stateDir)) {
    assert.ok(listed.has(name), `processes of "${name}" run, but the daemon does not list it`);
    assert.equal(groups.size, 1, `"${name}" runs as ${groups.size} process groups`);
  }
}

test("a full filesystem: kill, restart and start fail naming ENOSPC, a lost handshake says so, and nothing runs that instances.json does not know", async (t) => {
  const full = onSmallFilesystem(t);
  if (!full) return t.skip("cannot mount a tmpfs here (needs root)");
  const { fs, next } = full;
  const d = await next();
  await startGoGreeters(d, ["a", "b"]);

  // The disk fills after the process was saved but before it printed its handshake.
  const late = d.cli(["start", "late", "--start-timeout", "5s", "--", "sh", "-c", `sleep 1; exec ${goGreeter}`]);
  await waitFor("late's process saved", () => savedState(d.stateDir).instances.some((i) => i.spec.name === "late" && i.process));
  const filler = fillFilesystem(fs);
  const lateResult = await late;
  assert.equal(lateResult.code, 1);
  assert.match(lateResult.stderr, /handshake.*ENOSPC|ENOSPC.*handshake/);

  // Each failure frees what the failed instance wrote: fill again before every operation.
  fillFilesystem(fs);
  const killed = await d.cli(["kill", "a"]);
  assert.equal(killed.code, 1, "a kill that could not be saved is not a success");
  assert.match(killed.stderr, /^plugprom: plugin "a" was killed, but .*cannot save instances\.json: ENOSPC \(no space left on device\)\n$/);
  fillFilesystem(fs);
  const restarted = await d.cli(["restart", "b"]);
  assert.equal(restarted.code, 1);
  assert.match(restarted.stderr, /^plugprom: [^\n]*ENOSPC[^\n]*\n$/);
  assert.equal((await getPlugin(d, "b")).pid, null, "the restarted copy the file does not know is not left running");

  fillFilesystem(fs);
  const began = Date.now();
  const started = await d.cli(["start", "c", "--", goGreeter]);
  assert.equal(started.code, 1);
  assert.match(started.stderr, /ENOSPC/);
  assert.ok(Date.now() - began < 10_000, `a start on a full disk fails at once, not at the start timeout (${Date.now() - began} ms)`);
  assertNothingUnknownRuns(d.stateDir);
  assert.match(d.log(), /cannot save instances\.json .*error="ENOSPC \(no space left on device\)"/);

  // Space again, then a crash: what restarts is what the file says, once each.
  await rm(filler);
  d.proc.kill("SIGKILL");
  const again = await next();
  await again.waitForLog("instances restored", 30_000);
  await assertOneCopyEach(again);
  assertNothingUnknownRuns(again.stateDir);
  assert.equal(await again.stop(), 0);
  assert.deepEqual(pluginProcesses(again.stateDir), []);
});

/** The names instances.json holds and the names the daemon lists are the same: the file is complete. */
async function assertFileMatchesDaemon(d: DaemonHandle): Promise<void> {
  const listed = (JSON.parse((await d.cli(["list", "--json"])).stdout) as PluginJson[]).map((p) => p.name).sort();
  assert.deepEqual(savedState(d.stateDir).instances.map((i) => i.spec.name).sort(), listed, "instances.json holds what the daemon lists");
}

test("a full filesystem: stop and apply that could not be saved fail naming ENOSPC, and once space is back the next operation succeeds and instances.json is complete", async (t) => {
  const full = onSmallFilesystem(t);
  if (!full) return t.skip("cannot mount a tmpfs here (needs root)");
  const { fs, next } = full;
  const d = await next();
  await startGoGreeters(d, ["a", "b", "c"]);
  // The plugins file lives elsewhere: only the state dir's filesystem is full.
  const set = join(tempDir(t), "plugins.yaml");
  writeFileSync(set, `instances:\n  g1: { command: ${goGreeter} }\n`);
  assert.equal((await d.cli(["apply", "-f", set])).code, 0);

  fillFilesystem(fs);
  const stopped = await d.cli(["stop", "a"]);
  assert.equal(stopped.code, 1, "a stop that could not be saved is not a success");
  assert.match(stopped.stderr, /^plugprom: plugin "a" was stopped, but a daemon started on this state dir would start it again: cannot save instances\.json: ENOSPC \(no space left on device\)\n$/);
  assertNothingUnknownRuns(d.stateDir);

  // Every kind of change an apply makes: an update (new label), a creation, and two deletions.
  writeFileSync(set, `instances:\n  g1: { command: ${goGreeter}, labels: { team: x } }\n  g2: { command: ${goGreeter} }\n`);
  fillFilesystem(fs);
  const applied = await d.cli(["apply", "-f", set, "--prune"]);
  assert.equal(applied.code, 1, applied.stdout + applied.stderr);
  const failed = applied.stdout.split("\n").filter((l) => l.startsWith("failed "));
  assert.deepEqual(failed.map((l) => l.split(":")[0]).sort(), ["failed b", "failed c", "failed g1", "failed g2"], applied.stdout);
  for (const line of failed) assert.match(line, /ENOSPC/);
  assert.match(applied.stderr, /^plugprom: 4 of 4 instances failed: /);
  assertNothingUnknownRuns(d.stateDir);

  // Space again: the same daemon carries on, and its next save writes the whole truth.
  await rm(join(fs, "filler"));
  assert.equal((await d.cli(["start", "z", "--", goGreeter])).code, 0);
  await assertFileMatchesDaemon(d);
  const again = await d.cli(["apply", "-f", set, "--prune"]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  await assertFileMatchesDaemon(d);
  assertNothingUnknownRuns(d.stateDir);

  d.proc.kill("SIGKILL");
  const after = await next();
  await after.waitForLog("instances restored", 30_000);
  assert.deepEqual((JSON.parse((await after.cli(["list", "--json"])).stdout) as PluginJson[]).map((p) => p.name).sort(), ["g1", "g2"]);
  await assertOneCopyEach(after);
  assertNothingUnknownRuns(after.stateDir);
});

test("a full filesystem when the daemon starts: it fails at once naming ENOSPC, changes nothing, and starts once space is back", async (t) => {
  const full = onSmallFilesystem(t);
  if (!full) return t.skip("cannot mount a tmpfs here (needs root)");
  const { fs, next } = full;
  const first = await next();
  assert.equal((await first.cli(["start", "a", "--", goGreeter])).code, 0);
  assert.equal(await first.stop(), 0);
  const saved = readFileSync(join(first.stateDir, "instances.json"), "utf8");

  const filler = fillFilesystem(fs);
  const r = await refusedDaemon(first.stateDir);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /^plugprom: cannot use the state dir \S+: ENOSPC \(no space left on device\)\n$/);
  assert.equal(readFileSync(join(first.stateDir, "instances.json"), "utf8"), saved, "instances.json untouched");
  assert.deepEqual(readdirSync(first.stateDir).filter((f) => f.startsWith("daemon.")), [], "no lock or temp file left");

  await rm(filler);
  const d = await next();
  await d.waitForLog("instances restored", 30_000);
  await waitFor("a RUNNING again", async () => (await getPlugin(d, "a")).state === "RUNNING", 20_000);
});

test("a full filesystem at shutdown: SIGTERM still stops every plugin, the daemon exits 1 saying what was not saved, and the next daemon restores the instances", async (t) => {
  const full = onSmallFilesystem(t);
  if (!full) return t.skip("cannot mount a tmpfs here (needs root)");
  const { fs, next } = full;
  const d = await next();
  await startGoGreeters(d, ["a", "b"]);
  const filler = fillFilesystem(fs);
  assert.equal(await d.stop(), 1);
  const line = d.log().split("\n").find((l) => l.startsWith("plugprom: "));
  assert.match(line ?? "", /^plugprom: the daemon stopped its plugins, but the last changes to instances\.json were not saved .*: ENOSPC \(no space left on device\)$/, d.log());
  assert.doesNotMatch(d.log(), /^\s+at /m, "no stack trace");
  assert.deepEqual(pluginProcesses(d.stateDir), [], "every plugin stopped");

  await rm(filler);
  const again = await next();
  await again.waitForLog("instances restored", 30_000);
  for (const name of ["a", "b"]) await waitFor(`${name} RUNNING`, async () => (await getPlugin(again, name)).state === "RUNNING", 20_000);
  await assertOneCopyEach(again);
});

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Files the process holds open that were deleted meanwhile. */
function deletedFilesOpen(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      return target.endsWith(" (deleted)") ? [target] : [];
    } catch {
      return [];
    }
  });
}

test("a plugin flooding stdout and stderr cannot fill the disk or pin the daemon, and stop lets go at once", async (t) => {
  const fs = smallFilesystem(t, "1g");
  const next = daemonFleet(t, fs ? { stateDir: join(fs, "state") } : {});
  const d = await next(["--log-level", "info"]);
  const used = () =>
    fs ? (({ blocks, bfree, bsize }) => (blocks - bfree) * bsize)(statfsSync(fs)) : readdirSync(join(d.stateDir, "logs")).reduce((n, f) => n + statSync(join(d.stateDir, "logs", f)).size, 0);
  // stderr floods from the start; stdout once start has answered (a `yes` started with the
  // plugin could write before its handshake, and then the first line is not a handshake: a
  // failed start, not this test; a flood right after the handshake is the next test's). The
  // test tells the plugin by creating a file.
  const floodStdout = join(d.stateDir, "flood-stdout-now");
  const script = `(until [ -e '${floodStdout}' ]; do sleep 0.05; done; exec yes out-flood-line) & yes err-flood-line >&2 & exec ${goGreeter}`;
  const r = await d.cli(["start", "flood", "--", "sh", "-c", script]);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(floodStdout, "");
  const cpuBefore = cpuSeconds(d.proc.pid!);
  const began = Date.now();
  let maxUsed = 0;
  while (Date.now() - began < 6_000) {
    maxUsed = Math.max(maxUsed, used());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const cpuShare = (cpuSeconds(d.proc.pid!) - cpuBefore) / ((Date.now() - began) / 1000);
  const MiB = 1024 * 1024;
  t.diagnostic(`peak plugin output on disk ${(maxUsed / MiB).toFixed(0)} MiB, daemon CPU ${(cpuShare * 100).toFixed(0)}% of a core`);
  // Two streams of 8 MiB plus their .1 copies, plus what a writer at memory speed (GB/s on this
  // tmpfs) adds between two checks of a daemon that shares two cores with it. Unbounded, this
  // is the whole filesystem within a second.
  assert.ok(maxUsed < 256 * MiB, `plugin output took ${(maxUsed / MiB).toFixed(0)} MiB on disk`);
  assert.ok(cpuShare < 0.6, `the daemon used ${(cpuShare * 100).toFixed(0)}% of a core following the flood`);
  const relogged = d.log().split("\n").filter((l) => / plugin=flood /.test(l) && /flood-line/.test(l)).length;
  assert.ok(relogged < 3_000, `${relogged} plugin lines re-logged into the daemon's log in 6 s`);
  assert.match(d.log(), /suppressed \d+ lines of plugin output plugin=flood/);
  assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_plugin_output_dropped_bytes_total\{plugin="flood",stream="stderr"\} [1-9]/m);
  assert.equal((await httpGet(`${d.httpBase}/plugins/flood/metrics`)).status, 200, "still scraped");

  const stopBegan = Date.now();
  assert.equal((await d.cli(["stop", "flood", "--grace", "1s"])).code, 0);
  assert.ok(Date.now() - stopBegan < 10_000, "stop returns promptly");
  await waitFor("no deleted file held open", () => deletedFilesOpen(d.proc.pid!).length === 0, 5_000);
  const idleFrom = cpuSeconds(d.proc.pid!);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.ok(cpuSeconds(d.proc.pid!) - idleFrom < 0.2, "the daemon is idle once the plugin is stopped");
  assert.deepEqual(pluginProcesses(d.stateDir), []);
});

test("a plugin that floods stdout right after its handshake starts: the handshake line is read before the flood is skipped or truncated", async (t) => {
  const d = await daemonFleet(t)(["--log-level", "info"]);
  const r = await d.cli(["start", "flood", "--env", "FLOOD_STDOUT=1", "--env", "FLOOD_BYTES=65536", "--", join(repoRoot, "test", "fixtures", "plugins", "flood-plugin.mjs")]);
  assert.equal(r.code, 0, `start failed: ${r.stderr}`);
  assert.equal((await getPlugin(d, "flood")).state, "RUNNING");
  // The flood itself is bounded as ever: skipped or truncated, and counted.
  await waitFor("stdout output dropped", async () =>
    /^plugprom_plugin_output_dropped_bytes_total\{plugin="flood",stream="stdout"\} [1-9]/m.test((await httpGet(`${d.httpBase}/metrics`)).body),
  );
  assert.equal((await httpGet(`${d.httpBase}/plugins/flood/metrics`)).status, 200, "scraped");
  assert.equal((await d.cli(["stop", "flood", "--grace", "1s"])).code, 0);
  assert.deepEqual(pluginProcesses(d.stateDir), [], "the flood went with its plugin");
});

/** The soft and hard open-files limits of a process, from /proc. */
function fdLimits(pid: number): [number, number] {
  const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))!;
  return [Number(m[1]), Number(m[2])];
}

test("a low descriptor limit: the soft limit is raised to the hard one, starts past what fits are refused clearly, and every plugin started is scraped", async (t) => {
  // Soft 64, hard 128: the daemon runs with 128, and says so.
  const next = daemonFleet(t);
  const d = await next(["--log-level", "info"], { wrapper: ["prlimit", "--nofile=64:128", "--"] });
  assert.deepEqual(fdLimits(d.proc.pid!), [128, 128], "the soft limit raised to the hard one");
  assert.match(d.log(), /open files limit soft=128 hard=128/);

  const started: string[] = [];
  let refused: { code: number | null; stderr: string } | undefined;
  for (let i = 0; i < 40 && !refused; i++) {
    const r = await d.cli(["start", `p${i}`, "--", goGreeter]);
    if (r.code === 0) started.push(`p${i}`);
    else refused = r;
  }
  assert.ok(refused, "a start that would run the daemon out of descriptors is refused");
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^plugprom: plugin "p\d+" was not started: the daemon's open files limit is 128 \(ulimit -n\), enough for about \d+ plugins/);
  assert.ok(started.length >= 5, `only ${started.length} plugins fit in 128 descriptors`);
  t.diagnostic(`${started.length} plugins started under a limit of 128 descriptors`);

  // Everything that was started works, scraped one by one and all at once.
  for (const name of started) assert.equal((await httpGet(`${d.httpBase}/plugins/${name}/metrics`)).status, 200, name);
  const federate = (await httpGet(`${d.httpBase}/federate`)).body;
  for (const name of started) assert.match(federate, new RegExp(`^plugprom_federate_plugin_up\\{plugin="${name}"\\} 1$`, "m"));
  assert.doesNotMatch(d.log(), /EMFILE/);
});

test("a scrape that fails is logged with its error code, rate-limited, and counted by reason", async (t) => {
  const next = daemonFleet(t);
  const d = await next(["--log-level", "info"]);
  assert.equal((await d.cli(["start", "gone", "--", goGreeter])).code, 0);
  // The plugin's metrics socket disappears under it: every scrape now fails with ENOENT.
  const info = await getPlugin(d, "gone");
  await rm(info.metricsEndpoint.replace(/^unix:/, ""));
  for (let i = 0; i < 5; i++) assert.equal((await httpGet(`${d.httpBase}/plugins/gone/metrics`)).status, 502);
  const lines = d.log().split("\n").filter((l) => l.includes("scrape of a plugin's metrics endpoint failed"));
  assert.equal(lines.length, 1, "once per 10 s, not once per scrape");
  assert.match(lines[0], /plugin=gone reason=ENOENT error=/);
  assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_proxy_upstream_errors_total\{plugin="gone",reason="ENOENT"\} 5$/m);
});

test("a start racing a kill of the same name ends with one line that says so, never a raw ENOENT, and leaves nothing running", async (t) => {
  const next = daemonFleet(t);
  const d = await next(["--log-level", "info"]);
  const client = createControlClient(d.grpcAddr);
  for (let i = 0; i < 12; i++) {
    const name = `race${i}`;
    const starting = client.start({ name, command: ["sh", "-c", `sleep 0.3; exec ${goGreeter}`], workingDir: "/" }).then(
      () => "started",
      (err: unknown) => errorMessage(err),
    );
    await new Promise((resolve) => setTimeout(resolve, (i % 6) * 15));
    const killed = await client.kill({ name }).then(
      () => "killed",
      (err: unknown) => errorMessage(err),
    );
    const outcome = await starting;
    assert.doesNotMatch(outcome, /ENOENT|no such file/, `start of ${name}: ${outcome}`);
    assert.doesNotMatch(outcome, /\n/);
    if (killed === "killed") assert.notEqual(outcome, "started", "a killed start does not report success");
    if (outcome === "started") await client.kill({ name }).catch(() => undefined);
  }
  await waitFor("nothing left running", () => pluginProcesses(d.stateDir).length === 0, 10_000);
  assert.doesNotMatch(d.log(), /Closing file descriptor \d+ on garbage collection/);
});

test("a saved plugin that cannot be reattached (its output files are gone) is stopped before it is started again: one copy, the one the daemon knows", async (t) => {
  const next = daemonFleet(t);
  const first = await next(["--log-level", "info"]);
  assert.equal((await first.cli(["start", "lost", "--", goGreeter])).code, 0);
  const before = await getPlugin(first, "lost");
  first.proc.kill("SIGKILL");
  // logrotate, or an operator cleaning up: the daemon can no longer follow what it writes.
  for (const stream of ["stdout", "stderr"]) await rm(join(first.stateDir, "logs", `lost.${stream}.log`));

  const second = await next(["--log-level", "info"]);
  await second.waitForLog("instances restored", 30_000);
  assert.match(second.log(), /could not reattach; starting it again plugin=lost/);
  const now = await getPlugin(second, "lost");
  assert.equal(now.state, "RUNNING");
  assert.notEqual(now.pid, before.pid);
  assert.deepEqual([...(groupsByInstance(second.stateDir).get("lost") ?? [])], [now.pid], "the process it could not adopt is gone");
  assert.equal((await httpGet(`${second.httpBase}/plugins/lost/metrics`)).status, 200);
});

test("an adopted plugin that exits leaves nothing of its process group behind: what it started goes with it", async (t) => {
  const next = daemonFleet(t);
  const first = await next();
  // A command that does not exec its last step: the sleep stays in the plugin's group.
  assert.equal((await first.cli(["start", "kids", "--", "sh", "-c", `sleep 600 & exec '${goGreeter}'`])).code, 0);
  const leader = (await getPlugin(first, "kids")).pid!;
  first.proc.kill("SIGKILL"); // the daemon dies; its plugin runs on, to be adopted
  await once(first.proc, "exit");
  const second = await next(["--log-level", "info"]);
  await second.waitForLog("instances restored", 30_000);
  assert.equal((await getPlugin(second, "kids")).pid, leader, "adopted, not started again");
  const child = pluginProcesses(second.stateDir).find((p) => p.pgid === leader && p.pid !== leader);
  assert.ok(child, "the plugin's child runs in its group");

  process.kill(leader, "SIGKILL"); // the adopted plugin crashes
  await waitFor("restarted after the crash", async () => {
    const p = await getPlugin(second, "kids");
    return p.state === "RUNNING" && p.pid !== leader;
  }, 30_000);
  await waitFor("its child gone with it", () => !pluginProcesses(second.stateDir).some((p) => p.pgid === leader), 10_000);
});
