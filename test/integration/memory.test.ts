// Memory limits with real plugins: a leaking plugin is restarted gracefully before it reaches
// twice its --max-memory; one under its limit is never touched; on this machine's writable
// cgroup v1 hierarchy each limited instance runs in a cgroup of its own with the hard limit
// and the pids limit, removed when its process is gone; an OOM kill in it is reported; and
// without a writable hierarchy the limit is sampled only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { daemon, daemonFleet, type DaemonHandle, getPlugin, httpGet, type PluginJson, waitFor } from "../helpers/daemon.js";
import { fixturesDir } from "../helpers/paths.js";
import { tempDir } from "../helpers/temp.js";

const MiB = 1024 ** 2;
const LEAK = join(fixturesDir, "plugins", "leak-plugin.mjs");
const CGROUP_ROOT = "/sys/fs/cgroup";

/** This machine's memory cgroup of the test process, if the v1 hierarchy is there and writable. */
function ownMemoryCgroup(): string | undefined {
  const line = readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => /^\d+:memory:/.test(l));
  if (!line) return undefined;
  const dir = join(CGROUP_ROOT, "memory", line.split(":")[2]);
  const probe = join(dir, `pp-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    readFileSync(join(probe, "memory.limit_in_bytes"));
    return dir;
  } catch {
    return undefined;
  } finally {
    try {
      rmdirSync(probe);
    } catch {
      // never made
    }
  }
}

const v1 = ownMemoryCgroup() === undefined ? "no writable cgroup v1 memory hierarchy here" : false;

/** A cgroup root where nothing can be created: the memory hierarchy's place holds a file. */
function unwritableCgroupRoot(t: Parameters<typeof tempDir>[0]): string {
  const root = tempDir(t, "pp-nocg-");
  writeFileSync(join(root, "memory"), "not a hierarchy");
  writeFileSync(join(root, "pids"), "not a hierarchy");
  return root;
}

/** The cgroup path of `pid` in one v1 hierarchy ("memory", "pids"). */
function cgroupOf(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.split(":")[1]?.split(",").includes(controller));
  assert.ok(line, `no ${controller} line for ${pid}`);
  return line.split(":")[2];
}

/** A process's own resident bytes (field 24 of /proc/<pid>/stat, in pages), undefined once it is gone. */
function residentOf(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[21]) * 4096;
  } catch {
    return undefined;
  }
}

async function startLeak(d: DaemonHandle, name: string, mibPerSecond: number, flags: string[]): Promise<PluginJson> {
  const r = await d.cli(["start", name, "--no-auto-mtls", "--env", `LEAK_MIB_PER_S=${mibPerSecond}`, ...flags, "--", LEAK]);
  assert.equal(r.code, 0, r.stderr);
  return getPlugin(d, name);
}

function metric(body: string, line: RegExp): number {
  const m = line.exec(body);
  assert.ok(m, `${line} not in /metrics`);
  return Number(m[1]);
}

test("a leaking plugin under --max-memory is restarted gracefully before it reaches twice the limit; restarts +1, lastError says why (sampled only: no writable cgroup)", async (t) => {
  const d = await daemon(t, [], { env: { PLUGPROM_CGROUP_ROOT: unwritableCgroupRoot(t) } });
  await d.waitForLog(/memory limits: sampling only, no writable memory cgroup why=.*ENOTDIR/);
  const limit = 120;
  const first = await startLeak(d, "leaky", 10, ["--max-memory", `${limit}MiB`]);
  assert.equal(first.memoryEnforcement, "sampled");
  assert.equal(first.memoryLimitBytes, limit * MiB);
  assert.equal(cgroupOf(first.pid!, "memory"), cgroupOf(d.proc.pid!, "memory"), "left in the daemon's own cgroup");

  let now = first;
  await waitFor("the restart for its memory", async () => (now = await getPlugin(d, "leaky")).restarts === 1 && now.state === "RUNNING", 60_000);
  assert.notEqual(now.pid, first.pid);
  const m = /^resident memory (\d+(?:\.\d)?) MiB over --max-memory 120 MiB; ended with a graceful stop\. Last stderr: /.exec(now.lastError ?? "");
  assert.ok(m, `lastError: ${now.lastError}`);
  const peak = Number(m[1]);
  assert.ok(peak > limit && peak < 2 * limit, `restarted at ${peak} MiB`);
  assert.match(d.log(), /replacing plugin plugin=leaky reason="resident memory \d+(\.\d)? MiB over --max-memory 120 MiB" how=graceful/);
  const body = (await httpGet(`${d.httpBase}/metrics`)).body;
  assert.equal(metric(body, /^plugprom_plugin_memory_restarts_total\{plugin="leaky"\} (\d+)$/m), 1);
  assert.equal(metric(body, /^plugprom_plugin_restarts_total\{plugin="leaky"\} (\d+)$/m), 1);
  assert.equal(metric(body, /^plugprom_plugin_memory_limit_bytes\{plugin="leaky"\} (\d+)$/m), limit * MiB);
});

test("the limit holds the whole process group: a plugin whose child leaks is restarted though its own process stays under the limit", async (t) => {
  const d = await daemon(t);
  const r = await d.cli(["start", "parent", "--no-auto-mtls", "--env", "LEAK_IN_CHILD=1", "--env", "LEAK_MIB_PER_S=10", "--max-memory", "150MiB", "--", LEAK]);
  assert.equal(r.code, 0, r.stderr);
  const first = await getPlugin(d, "parent");
  let leaderPeak = 0;
  let now = first;
  await waitFor("the restart for its group's memory", async () => {
    leaderPeak = Math.max(leaderPeak, residentOf(first.pid!) ?? 0);
    now = await getPlugin(d, "parent");
    return now.restarts === 1 && now.state === "RUNNING";
  }, 90_000);
  assert.ok(leaderPeak > 0 && leaderPeak < 150 * MiB, `the plugin's own process peaked at ${leaderPeak / MiB} MiB`);
  assert.match(now.lastError ?? "", /^resident memory \d+(\.\d)? MiB over --max-memory 150 MiB; ended with a graceful stop/);
  assert.equal(await d.stop(), 0);
});

test("a plugin under its limit (the daemon's --max-memory default) is never touched, and get shows its group's resident memory", async (t) => {
  const d = await daemon(t, ["--max-memory", "512MiB"]);
  const steady = await startLeak(d, "steady", 0, []);
  assert.equal(steady.memoryLimitBytes, 512 * MiB, "the daemon's default");
  let now = steady;
  await waitFor("a memory sample", async () => ((now = await getPlugin(d, "steady")).groupRssBytes ?? 0) > 0);
  assert.ok(now.groupRssBytes! > 10 * MiB && now.groupRssBytes! < 512 * MiB, String(now.groupRssBytes));
  // The absence of a restart: watched over several samples (one a second).
  const until = Date.now() + 6_000;
  await waitFor("six seconds of samples", async () => {
    now = await getPlugin(d, "steady");
    assert.equal(now.state, "RUNNING");
    assert.equal(now.pid, steady.pid);
    return Date.now() > until;
  }, 30_000);
  assert.equal(now.restarts, 0);
  assert.equal(now.lastError, null);
  const body = (await httpGet(`${d.httpBase}/metrics`)).body;
  assert.equal(metric(body, /^plugprom_plugin_memory_restarts_total\{plugin="steady"\} (\d+)$/m), 0, "present at 0 from the first start");

  const free = await startLeak(d, "free", 0, ["--max-memory", "0"]);
  assert.equal(free.memoryLimitBytes, null, "0 opts out of the daemon's default");
  assert.equal(free.memoryEnforcement, null);
  assert.equal(await d.stop(), 0);
});

test("cgroup v1: a limited instance runs in its own cgroup under the daemon's, with the hard limit and the pids limit; the cgroup goes with the process", { skip: v1 }, async (t) => {
  const d = await daemon(t);
  await d.waitForLog("memory limits: cgroups and sampling");
  const p = await startLeak(d, "boxed", 0, ["--max-memory", "200MiB", "--max-pids", "50"]);
  assert.equal(p.memoryEnforcement, "cgroup v1 + sampled");
  assert.equal(p.maxPids, 50);
  const own = cgroupOf(d.proc.pid!, "memory");
  const memory = cgroupOf(p.pid!, "memory");
  assert.match(memory, new RegExp(`^${own === "/" ? "" : own}/plugprom-[0-9a-f]{12}/boxed$`), "nested under the daemon's own cgroup");
  const memoryDir = join(CGROUP_ROOT, "memory", memory);
  assert.equal(Number(readFileSync(join(memoryDir, "memory.limit_in_bytes"), "utf8")), 250 * MiB, "--max-memory × 1.25");
  const pidsDir = join(CGROUP_ROOT, "pids", cgroupOf(p.pid!, "pids"));
  assert.match(pidsDir, /\/plugprom-[0-9a-f]{12}\/boxed$/);
  assert.equal(readFileSync(join(pidsDir, "pids.max"), "utf8").trim(), "50");
  assert.deepEqual(readFileSync(join(memoryDir, "cgroup.procs"), "utf8").trim().split("\n"), [String(p.pid)]);

  assert.equal((await d.cli(["stop", "boxed"])).code, 0);
  await waitFor("its cgroups removed", () => !existsSync(memoryDir) && !existsSync(pidsDir));
  assert.equal(await d.stop(), 0);
  assert.equal(existsSync(dirname(memoryDir)), false, "a daemon that exits removes its state dir's directory");
});

test("cgroup v1: a plugin that outgrows the hard limit faster than it is sampled is OOM-killed by the kernel, and lastError says so", { skip: v1 }, async (t) => {
  const d = await daemon(t);
  const p = await startLeak(d, "balloon", 400, ["--max-memory", "100MiB", "--restart", "never"]);
  assert.equal(p.memoryEnforcement, "cgroup v1 + sampled");
  let now = p;
  // CRASHED comes at the exit; lastError once its last output is read, a moment later.
  await waitFor("the OOM kill", async () => (now = await getPlugin(d, "balloon")).state === "CRASHED" && (now.lastError ?? "") !== "", 30_000);
  assert.equal(now.lastExitSignal, "SIGKILL");
  assert.match(now.lastError ?? "", /^killed by the kernel's OOM killer at its cgroup's memory limit of 125 MiB \(--max-memory × 1.25\) \(signal SIGKILL\)/);
  assert.equal(await d.stop(), 0);
});

test("cgroup v1: empty cgroups a previous daemon of the state dir left are removed at start-up", { skip: v1 }, async (t) => {
  const next = daemonFleet(t);
  const first = await next();
  const p = await startLeak(first, "once", 0, ["--max-memory", "64MiB"]);
  const base = dirname(join(CGROUP_ROOT, "memory", cgroupOf(p.pid!, "memory")));
  mkdirSync(join(base, "left-behind"));
  assert.equal(await first.stop(), 0);
  const second = await next();
  await waitFor("the stale cgroup removed", () => !existsSync(join(base, "left-behind")));
  assert.equal(await second.stop(), 0);
});

test("cgroup v1: a plugin left running with --keep-plugins keeps its cgroup; the next daemon adopts it with the process and removes it at stop", { skip: v1 }, async (t) => {
  const next = daemonFleet(t);
  const first = await next(["--keep-plugins"]);
  const p = await startLeak(first, "kept", 0, ["--max-memory", "200MiB"]);
  const memoryDir = join(CGROUP_ROOT, "memory", cgroupOf(p.pid!, "memory"));
  assert.equal(await first.stop(), 0);
  assert.ok(existsSync(memoryDir), "its cgroup stays with the running plugin");
  const second = await next();
  let now = p;
  await waitFor("the reattached plugin", async () => (now = await getPlugin(second, "kept")).state === "RUNNING");
  assert.equal(now.pid, p.pid, "the same process");
  assert.equal(now.memoryEnforcement, "cgroup v1 + sampled");
  assert.equal(cgroupOf(p.pid!, "memory"), memoryDir.slice(join(CGROUP_ROOT, "memory").length));
  assert.equal((await second.cli(["stop", "kept"])).code, 0);
  await waitFor("its cgroup removed", () => !existsSync(memoryDir));
  assert.equal(await second.stop(), 0);
});

test("cgroup v1: a slow leak is restarted by the sampled limit before the kernel's is reached, and the new process gets its cgroup again", { skip: v1 }, async (t) => {
  const d = await daemon(t);
  const first = await startLeak(d, "drip", 4, ["--max-memory", "100MiB"]);
  let now = first;
  await waitFor("the restart for its memory", async () => (now = await getPlugin(d, "drip")).restarts === 1 && now.state === "RUNNING", 90_000);
  assert.match(now.lastError ?? "", /^resident memory \d+(\.\d)? MiB over --max-memory 100 MiB; ended with a graceful stop/, "sampled, not OOM-killed");
  assert.equal(now.memoryEnforcement, "cgroup v1 + sampled");
  const memoryDir = join(CGROUP_ROOT, "memory", cgroupOf(now.pid!, "memory"));
  assert.match(memoryDir, /\/plugprom-[0-9a-f]{12}\/drip$/);
  assert.equal(Number(readFileSync(join(memoryDir, "memory.limit_in_bytes"), "utf8")), 125 * MiB);
  assert.equal(await d.stop(), 0);
});

test("an instance that sets no limit follows the daemon's --max-memory, also after a restart with another; instances.json holds none", async (t) => {
  const next = daemonFleet(t);
  const first = await next(["--max-memory", "512MiB", "--max-pids", "100"]);
  assert.equal((await first.cli(["start", "follower"])).code, 0);
  assert.equal((await getPlugin(first, "follower")).memoryLimitBytes, 512 * MiB);
  const saved = JSON.parse(readFileSync(join(first.stateDir, "instances.json"), "utf8")) as { instances: Array<{ spec: Record<string, unknown> }> };
  assert.equal("maxMemoryBytes" in saved.instances[0].spec, false);
  assert.equal("maxPids" in saved.instances[0].spec, false);
  assert.equal(await first.stop(), 0);
  const second = await next(["--max-memory", "256MiB"]);
  let now = await getPlugin(second, "follower");
  await waitFor("the restored instance", async () => (now = await getPlugin(second, "follower")).state === "RUNNING");
  assert.equal(now.memoryLimitBytes, 256 * MiB);
  assert.equal(now.maxPids, null, "the new daemon has no --max-pids");
  assert.equal(await second.stop(), 0);
});
