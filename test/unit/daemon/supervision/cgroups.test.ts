// Finding a writable cgroup hierarchy and laying out instance cgroups, against directories
// that stand in for /sys/fs/cgroup (the real v1 hierarchy is exercised by the memory
// integration test): v1 per controller, v2 with its no-internal-processes rule, the
// fallback, stale cgroups, and the limit files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Cleanup } from "../../../helpers/daemon.js";
import { tempDir } from "../../../helpers/temp.js";
import { createLogger } from "../../../../src/daemon/log.js";
import { Cgroups, hardMemoryLimit, parseProcCgroup } from "../../../../src/daemon/supervision/cgroups.js";

const MiB = 1024 ** 2;

const fakeRoot = async (t: Cleanup) => tempDir(t, "pp-cg-");

/** A directory that passes for a v1 cgroup (the kernel would make its files). */
async function fakeV1Cgroup(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "cgroup.procs"), "");
}

/** A v2 root whose cgroup `name` has memory and pids available and holds `procs`. */
async function fakeV2(t: Cleanup, name: string, procs: number[]) {
  const root = await fakeRoot(t);
  const own = join(root, name);
  await mkdir(own, { recursive: true });
  await writeFile(join(root, "cgroup.controllers"), "cpu io memory pids\n");
  await writeFile(join(own, "cgroup.controllers"), "memory pids\n");
  await writeFile(join(own, "cgroup.procs"), procs.map((p) => `${p}\n`).join(""));
  await writeFile(join(own, "cgroup.subtree_control"), "\n");
  return { root, own };
}

function capture() {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: "info", format: "text", write: (l) => void lines.push(l) }) };
}

/** The one state dir's directory (plugprom-<hash>) in `dir`. */
const baseIn = async (dir: string) => {
  const bases = (await readdir(dir)).filter((e) => e.startsWith("plugprom-"));
  assert.equal(bases.length, 1, bases.join());
  return join(dir, bases[0]);
};

test("/proc/self/cgroup: v1 lines by controller (combined ones split), the v2 line under ''", () => {
  const m = parseProcCgroup("9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/\n");
  assert.equal(m.get("memory"), "/process_api/abc");
  assert.equal(m.get("pids"), "/");
  assert.equal(m.get("cpuacct"), "/x");
  assert.equal(m.get(""), "/");
});

test("the hard limit sits 25% above --max-memory, in whole pages", () => {
  assert.equal(hardMemoryLimit(96 * MiB), 120 * MiB);
  assert.equal(hardMemoryLimit(1_000_001) % 4096, 0);
  assert.ok(hardMemoryLimit(1_000_001) >= 1_250_001);
});

test("cgroup v1: nested under the daemon's own cgroup of each controller; limits written; the process joins both; OOM kills read", async (t) => {
  const root = await fakeRoot(t);
  await fakeV1Cgroup(join(root, "memory", "process_api", "abc"));
  await fakeV1Cgroup(join(root, "pids"));
  const { log, lines } = capture();
  const cgroups = await Cgroups.open({ root, stateDir: "/var/lib/pp", log, selfCgroup: "8:pids:/\n4:memory:/process_api/abc\n0::/\n" });
  assert.equal(cgroups.description, "cgroup v1");
  assert.deepEqual(lines, [], "said once the daemon is past its reasons to refuse, not on open");
  cgroups.logMode();
  assert.match(lines.join(""), /memory limits: cgroups and sampling/);
  assert.deepEqual(await readdir(join(root, "memory", "process_api", "abc")), ["cgroup.procs"], "nothing is left until an instance needs it");
  const cg = await cgroups.create("leaky", { memoryBytes: 96 * MiB, pids: 32 });
  const memoryBase = await baseIn(join(root, "memory", "process_api", "abc"));
  assert.match(memoryBase, /\/plugprom-[0-9a-f]{12}$/);
  const pidsBase = await baseIn(join(root, "pids"));

  assert.ok(cg);
  assert.equal(cg.version, 1);
  assert.equal(cg.limitsMemory, true);
  assert.equal(await readFile(join(memoryBase, "leaky", "memory.limit_in_bytes"), "utf8"), String(120 * MiB));
  assert.equal(await readFile(join(pidsBase, "leaky", "pids.max"), "utf8"), "32");
  cg.join(4321);
  assert.equal(await readFile(join(memoryBase, "leaky", "cgroup.procs"), "utf8"), "4321");
  assert.equal(await readFile(join(pidsBase, "leaky", "cgroup.procs"), "utf8"), "4321");
  assert.equal(cg.oomKills(), 0);
  await writeFile(join(memoryBase, "leaky", "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  assert.equal(cg.oomKills(), 2);

  const pidsOnly = await cgroups.create("forky", { memoryBytes: 0, pids: 8 });
  assert.equal(pidsOnly?.limitsMemory, false, "no memory limit: only the pids cgroup");
  assert.deepEqual(await readdir(memoryBase), ["leaky"]);
  assert.equal(await cgroups.create("free", { memoryBytes: 0, pids: 0 }), undefined, "no limit, no cgroup");
});

test("cgroup v1: empty cgroups a previous daemon of this state dir left are removed at open; busy ones stay", async (t) => {
  const root = await fakeRoot(t);
  await fakeV1Cgroup(join(root, "memory"));
  const first = await Cgroups.open({ root, stateDir: "/s", log: capture().log, selfCgroup: "4:memory:/\n" });
  assert.ok(await first.create("x", { memoryBytes: 96 * MiB, pids: 0 }));
  const base = await baseIn(join(root, "memory"));
  await rm(join(base, "x"), { recursive: true }); // its process is gone (the kernel's cgroupfs removes the files with the directory)
  await mkdir(join(base, "stale"));
  await mkdir(join(base, "busy"));
  await writeFile(join(base, "busy", "cgroup.procs"), "77"); // rmdir refuses, as the kernel does for a live cgroup
  await Cgroups.open({ root, stateDir: "/s", log: capture().log, selfCgroup: "4:memory:/\n" });
  assert.deepEqual(await readdir(base), ["busy"]);
  const other = await Cgroups.open({ root, stateDir: "/another", log: capture().log, selfCgroup: "4:memory:/\n" });
  await other.create("x", { memoryBytes: 96 * MiB, pids: 0 });
  const bases = (await readdir(join(root, "memory"))).filter((e) => e.startsWith("plugprom-"));
  assert.equal(bases.length, 2, "each state dir has its own directory");
  await rm(join(root, "memory", bases.find((b) => join(root, "memory", b) !== base)!, "x"), { recursive: true });
  await other.close();
  assert.equal(await baseIn(join(root, "memory")), base, "closed: its directory is gone");
});

test("cgroup v2: a daemon alone in its cgroup moves itself into a leaf and delegates memory and pids to its instances", async (t) => {
  const { root, own } = await fakeV2(t, "svc", [process.pid]);
  const cgroups = await Cgroups.open({ root, stateDir: "/s", log: capture().log, selfCgroup: "0::/svc\n" });
  assert.equal(cgroups.description, "cgroup v2");
  assert.equal(await readFile(join(own, "daemon", "cgroup.procs"), "utf8"), String(process.pid));
  assert.equal(await readFile(join(own, "cgroup.subtree_control"), "utf8"), "+memory +pids");
  const cg = await cgroups.create("leaky", { memoryBytes: 96 * MiB, pids: 0 });
  assert.equal(cg?.version, 2);
  const base = await baseIn(own);
  assert.equal(await readFile(join(base, "leaky", "memory.max"), "utf8"), String(120 * MiB));
  assert.equal(await readFile(join(base, "leaky", "pids.max"), "utf8"), "max");
  await writeFile(join(base, "leaky", "memory.events"), "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
  assert.equal(cg?.oomKills(), 1);
});

test("cgroup v2: another process in the daemon's cgroup means sampling only, said once in the log", async (t) => {
  const { root } = await fakeV2(t, "session", [1, process.pid]);
  const { log, lines } = capture();
  const cgroups = await Cgroups.open({ root, stateDir: "/s", log, selfCgroup: "0::/session\n" });
  assert.equal(cgroups.description, undefined);
  cgroups.logMode();
  assert.equal(lines.length, 1);
  assert.match(lines[0], /sampling only.*holds other processes than the daemon.*Delegate=yes/);
  assert.equal(await cgroups.create("x", { memoryBytes: 96 * MiB, pids: 10 }), undefined);
});

test("no writable hierarchy (a file where the memory hierarchy should be): sampling only, with the reason", async (t) => {
  const root = await fakeRoot(t);
  await writeFile(join(root, "memory"), "not a directory");
  const { log, lines } = capture();
  const cgroups = await Cgroups.open({ root, stateDir: "/s", log, selfCgroup: "4:memory:/a\n" });
  assert.equal(cgroups.description, undefined);
  cgroups.logMode();
  assert.match(lines.join(""), /sampling only.*cgroup v1 memory: cannot use .* \(ENOTDIR\)/);
});

test("a plain directory where the daemon's cgroup should be is not taken for one, and nothing is made in it", async (t) => {
  const root = await fakeRoot(t);
  await mkdir(join(root, "memory", "a"), { recursive: true }); // no cgroup.procs: not a cgroup
  const { log, lines } = capture();
  const cgroups = await Cgroups.open({ root, stateDir: "/s", log, selfCgroup: "4:memory:/a\n" });
  assert.equal(cgroups.description, undefined);
  cgroups.logMode();
  assert.match(lines.join(""), /sampling only.*cannot use .* \(ENOENT\)/);
  assert.deepEqual(await readdir(join(root, "memory", "a")), []);
});
