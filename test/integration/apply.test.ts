// Declarative plugin sets against real daemons and real plugins (the bundled TypeScript
// greeter and a Go go-plugin program): apply, diff, --prune, --dry-run, daemon --apply with
// SIGHUP, concurrent applies, and a daemon SIGKILLed in the middle of one.
import { test, before, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GREETER, httpGet, PLUGPROM, startDaemon, testEnv, waitFor, type DaemonHandle, type PluginJson } from "../helpers/daemon.js";
import { buildGoProgram } from "../helpers/go-build.js";
import { processesStartedBy } from "../helpers/procs.js";

let goGreeter: string;
before(async () => {
  goGreeter = await buildGoProgram("goplugin-greeter");
});

async function daemon(t: TestContext, args: string[] = []): Promise<DaemonHandle> {
  const d = await startDaemon({ args });
  t.after(() => d.close());
  return d;
}

/** A plugins file in a directory of its own; `write` replaces its content. */
function pluginsFile(t: TestContext, text: string): { dir: string; file: string; write(text: string): void } {
  const dir = mkdtempSync(join(tmpdir(), "pp-set-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "plugins.yaml");
  writeFileSync(file, text);
  return { dir, file, write: (next) => writeFileSync(file, next) };
}

async function list(d: DaemonHandle): Promise<Map<string, PluginJson>> {
  const r = await d.cli(["list", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return new Map((JSON.parse(r.stdout) as PluginJson[]).map((p) => [p.name, p]));
}

/** plugin_ticker_count of the Go greeter, scraped through the daemon's proxy. */
async function ticks(d: DaemonHandle, name: string): Promise<number> {
  const r = await httpGet(`${d.httpBase}/plugins/${name}/metrics`);
  assert.equal(r.status, 200, r.body);
  return Number(/^plugin_ticker_count (\d+)$/m.exec(r.body)?.[1]);
}

const pids = (m: Map<string, PluginJson>) => Object.fromEntries([...m].map(([n, p]) => [n, p.pid]));

async function apply(d: DaemonHandle, file: string, ...flags: string[]): Promise<{ code: number | null; json: Record<string, unknown>; stderr: string }> {
  const r = await d.cli(["apply", "-f", file, "--json", ...flags]);
  return { code: r.code, json: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : {}, stderr: r.stderr };
}

/** Every process the daemon's plugins run is one a listed instance owns: no orphan, no twin. */
async function assertOneProcessPerInstance(d: DaemonHandle): Promise<void> {
  const listed = [...(await list(d)).values()].map((p) => p.pid).filter((p): p is number => p !== null);
  assert.deepEqual(processesStartedBy(d.stateDir).sort(), listed.sort());
}

const twoPlugins = (go: string, extra = "") => `plugins:
  gop:
    command: ${go}
    env: { GREETER_LEVEL: info }
instances:
  abc: {}
  go1:
    plugin: gop
    labels: { team: core }
    scrapeInterval: 30s${extra}
`;

test("apply creates what the file names; a second apply is a no-op with the same pids and counters", async (t) => {
  const d = await daemon(t);
  const f = pluginsFile(t, twoPlugins(goGreeter));
  const first = await apply(d, f.file);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.json, { created: ["abc", "go1"], updated: [], unchanged: [], deleted: [], failed: [] });
  const before = await list(d);
  assert.equal(before.get("go1")!.state, "RUNNING");
  assert.deepEqual(before.get("go1")!.labels, { team: "core" });
  assert.equal(before.get("go1")!.plugin, "gop");
  assert.equal(before.get("go1")!.scrapeInterval, "30s");
  assert.equal(before.get("abc")!.workingDir, f.dir, "it runs in the file's directory");
  await waitFor("the Go plugin ticking", async () => (await ticks(d, "go1")) > 0);
  const ticked = await ticks(d, "go1");

  // The same file again, with defaults spelled out, keys reordered and 30s written as 30000ms.
  f.write(`instances:
  go1:
    scrapeInterval: 30000ms
    labels: { team: core }
    restart: on-failure
    plugin: gop
  abc: { autoMtls: true, metricsTransport: unix }
plugins:
  gop: { env: { GREETER_LEVEL: info }, command: ${goGreeter} }
`);
  const diff = await d.cli(["diff", "-f", f.file]);
  assert.deepEqual([diff.code, diff.stdout], [0, "no changes\n"], diff.stderr);
  const second = await apply(d, f.file);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(second.json, { created: [], updated: [], unchanged: ["abc", "go1"], deleted: [], failed: [] });
  const after = await list(d);
  assert.deepEqual(pids(after), pids(before));
  assert.deepEqual([after.get("abc")!.restarts, after.get("go1")!.restarts], [0, 0]);
  assert.ok((await ticks(d, "go1")) >= ticked, "the same process: its counter kept counting");
  await assertOneProcessPerInstance(d);
});

test("changing one field of one instance restarts that one only, and diff names the field", async (t) => {
  const d = await daemon(t);
  const f = pluginsFile(t, twoPlugins(goGreeter));
  assert.equal((await apply(d, f.file)).code, 0);
  const before = await list(d);

  f.write(twoPlugins(goGreeter, "\n    env: { GREETER_LEVEL: debug }"));
  const diff = await d.cli(["diff", "-f", f.file]);
  assert.equal(diff.code, 1);
  assert.equal(diff.stdout, "go1: env.GREETER_LEVEL info -> debug\n");
  const dry = await apply(d, f.file, "--dry-run");
  assert.deepEqual(dry.json.updated, ["go1"]);
  assert.deepEqual(pids(await list(d)), pids(before), "diff and --dry-run change nothing");

  const r = await apply(d, f.file);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json, { created: [], updated: ["go1"], unchanged: ["abc"], deleted: [], failed: [] });
  const after = await list(d);
  assert.equal(after.get("abc")!.pid, before.get("abc")!.pid, "the other instance keeps its process");
  assert.notEqual(after.get("go1")!.pid, before.get("go1")!.pid);
  assert.equal(after.get("go1")!.state, "RUNNING");
  assert.equal(after.get("go1")!.restarts, 1, "an update keeps the restart count and adds one");
  const env = await d.cli(["get", "go1", "--json"]);
  assert.equal(env.code, 0);
  assert.equal((await d.cli(["diff", "-f", f.file])).code, 0, "converged");
  await assertOneProcessPerInstance(d);
});

test("the liveness fields: left out is the daemon's rule and unchanged; set, diff names them, apply restarts with them and get shows them", async (t) => {
  const d = await daemon(t, ["--liveness-failures", "4"]);
  const f = pluginsFile(t, "instances:\n  abc: {}\n");
  assert.equal((await apply(d, f.file)).code, 0);
  const before = (await list(d)).get("abc")!;
  assert.deepEqual([before.livenessFailures, before.healthInterval], [4, "10s"], "the daemon's --liveness-failures and --health-interval");

  f.write("instances:\n  abc: { livenessFailures: 0, healthInterval: 500ms }\n");
  const diff = await d.cli(["diff", "-f", f.file]);
  assert.deepEqual([diff.code, diff.stdout], [1, "abc: healthInterval (none) -> 500ms\nabc: livenessFailures (none) -> 0\n"], diff.stderr);
  const r = await apply(d, f.file);
  assert.deepEqual(r.json.updated, ["abc"], r.stderr);
  const after = (await list(d)).get("abc")!;
  assert.deepEqual([after.livenessFailures, after.healthInterval], [0, "500ms"]);
  assert.notEqual(after.pid, before.pid);
  f.write("instances:\n  abc: { healthInterval: 0.5s, livenessFailures: 0 }\n");
  assert.equal((await d.cli(["diff", "-f", f.file])).stdout, "no changes\n", "the same settings, written otherwise");
});

test("--prune stops what the file does not name, hand-started or not; without it they stay", async (t) => {
  const d = await daemon(t);
  const f = pluginsFile(t, "instances:\n  abc: {}\n  def: {}\n");
  assert.equal((await apply(d, f.file)).code, 0);
  assert.equal((await d.cli(["start", "manual", "--", GREETER])).code, 0);

  f.write("instances:\n  abc: {}\n");
  const kept = await apply(d, f.file);
  assert.deepEqual(kept.json, { created: [], updated: [], unchanged: ["abc"], deleted: [], failed: [] });
  assert.deepEqual([...(await list(d)).keys()], ["abc", "def", "manual"]);

  const diff = await d.cli(["diff", "-f", f.file, "--prune"]);
  assert.deepEqual([diff.code, diff.stdout], [1, "def: delete\nmanual: delete\n"]);
  const dry = await d.cli(["apply", "-f", f.file, "--prune", "--dry-run"]);
  assert.equal(dry.stdout, "unchanged abc\ndeleted def\ndeleted manual\n(dry run: nothing was changed)\n");
  assert.deepEqual([...(await list(d)).keys()], ["abc", "def", "manual"], "a dry run changes nothing");

  const pruned = await apply(d, f.file, "--prune");
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.deepEqual(pruned.json, { created: [], updated: [], unchanged: ["abc"], deleted: ["def", "manual"], failed: [] });
  assert.deepEqual([...(await list(d)).keys()], ["abc"]);
  await assertOneProcessPerInstance(d);
});

test("a bad file changes nothing: exit 2, every problem with its path", async (t) => {
  const d = await daemon(t);
  const f = pluginsFile(t, "instances:\n  abc: {}\n");
  assert.equal((await apply(d, f.file)).code, 0);
  const before = pids(await list(d));
  f.write(`instances:
  abc: {}
  g2:
    command: ${goGreeter}
    env: ["MODE=fast", "oops"]
    restart: sometimes
`);
  const r = await d.cli(["apply", "-f", f.file, "--prune"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `plugprom: ${f.file}: instances.g2.env.1: must be a "KEY=VALUE" string\nplugprom: ${f.file}: instances.g2.restart: must be "always", "on-failure" or "never"\n`,
  );
  // What only the daemon can tell (its --config catalog) is refused whole as well.
  f.write("instances:\n  fresh: {}\n  x: { plugin: nowhere }\n");
  const unknown = await d.cli(["apply", "-f", f.file, "--prune"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^plugprom: .*plugins\.yaml: instances\.x\.plugin: no entry "nowhere" under plugins: or in the daemon's --config\n$/);
  assert.deepEqual(pids(await list(d)), before);
});

test("an instance that fails to start is reported and exits 1; the others are applied", async (t) => {
  const d = await daemon(t);
  const f = pluginsFile(t, `instances:\n  abc: {}\n  broken: { command: ${join(process.cwd(), "test/fixtures/plugins/exits-before-handshake.sh")} }\n`);
  const r = await apply(d, f.file);
  assert.equal(r.code, 1);
  assert.deepEqual(r.json.created, ["abc"]);
  assert.deepEqual((r.json.failed as Array<{ name: string }>).map((x) => x.name), ["broken"]);
  assert.match(r.stderr, /1 of 2 instances failed: broken/);
  assert.deepEqual([...(await list(d)).keys()], ["abc"], "a failed instance leaves nothing behind, so the next apply tries again");
});

test("a CLI that gives up on a long apply (--timeout) does not cut it short: the daemon finishes, and status says so", async (t) => {
  const d = await daemon(t);
  const names = ["t1", "t2", "t3", "t4", "t5", "t6"];
  const f = pluginsFile(t, `instances:\n${names.map((n) => `  ${n}: {}\n`).join("")}`);
  const r = await d.cli(["--timeout", "50ms", "apply", "-f", f.file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the Apply call to the daemon at \S+ timed out after \S+ \(--timeout\)/);
  await waitFor("the apply finished", async () => {
    const s = JSON.parse((await d.cli(["status", "--json"])).stdout) as { lastApply: { ok: boolean } | null };
    return s.lastApply?.ok === true;
  }, 60_000);
  const after = await list(d);
  assert.deepEqual([...after.keys()], names);
  for (const p of after.values()) assert.equal(p.state, "RUNNING", p.name);
});

test("daemon --apply converges at start-up and on SIGHUP, prunes only its own file's instances, and status tells", async (t) => {
  const f = pluginsFile(t, "instances:\n  abc: {}\n  def: {}\n");
  const d = await daemon(t, ["--apply", f.file]);
  await d.waitForLog(/plugins file applied .*reason=start-up .*created=2/);
  assert.deepEqual([...(await list(d)).keys()], ["abc", "def"]);
  assert.equal((await d.cli(["start", "manual"])).code, 0);
  const abcPid = (await list(d)).get("abc")!.pid;

  f.write(`instances:\n  abc: {}\n  go1: { command: ${goGreeter} }\n`);
  d.proc.kill("SIGHUP");
  await d.waitForLog(/plugins file applied .*reason=SIGHUP .*created=1 .*deleted=1/);
  const after = await list(d);
  assert.deepEqual([...after.keys()], ["abc", "go1", "manual"], "def (from the file) stopped; manual (by hand) left alone");
  assert.equal(after.get("abc")!.pid, abcPid);
  const status = JSON.parse((await d.cli(["status", "--json"])).stdout) as { applyFile: string; lastApply: { file: string; ok: boolean; time: string } };
  assert.equal(status.applyFile, f.file);
  assert.equal(status.lastApply.file, f.file);
  assert.equal(status.lastApply.ok, true);
  assert.match((await d.cli(["status"])).stdout, /^last apply: +\S+ .*plugins\.yaml: ok$/m);

  // An invalid file at SIGHUP is logged and changes nothing.
  f.write("instances:\n  abc: { restart: sometimes }\n");
  d.proc.kill("SIGHUP");
  await d.waitForLog(/plugins file not applied; nothing changed .*instances\.abc\.restart/);
  assert.deepEqual(pids(await list(d)), pids(after));
  const failed = JSON.parse((await d.cli(["status", "--json"])).stdout) as { lastApply: { ok: boolean; error: string } };
  assert.equal(failed.lastApply.ok, false);
  assert.match(failed.lastApply.error, /instances\.abc\.restart/);
  await assertOneProcessPerInstance(d);
});

test("daemon --apply with an invalid file does not start: exit 2 naming the problem", async (t) => {
  const f = pluginsFile(t, "instances:\n  abc: { lables: {} }\n");
  const stateDir = mkdtempSync(join(tmpdir(), "pp-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(PLUGPROM, ["daemon", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--state-dir", stateDir, "--apply", f.file], { env: testEnv() });
    let stderr = "";
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("close", (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^plugprom: .*plugins\.yaml: instances\.abc\.lables: unknown field/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
});

test("two applies at once and an apply racing start and stop end consistent, one process per instance", async (t) => {
  const d = await daemon(t);
  const names = ["a1", "a2", "a3", "a4", "a5"];
  const a = pluginsFile(t, `instances:\n${names.map((n) => `  ${n}: {}\n`).join("")}`);
  const b = pluginsFile(t, `instances:\n${names.map((n) => `  ${n}: { labels: { side: b } }\n`).join("")}`);
  const results = await Promise.all([
    d.cli(["apply", "-f", a.file]),
    d.cli(["apply", "-f", b.file]),
    d.cli(["start", "a3"]),
    d.cli(["stop", "a2"]),
  ]);
  for (const r of results.slice(0, 2)) assert.equal(r.code, 0, r.stderr);
  const after = await list(d);
  for (const n of names.filter((x) => x !== "a2")) assert.equal(after.get(n)?.state, "RUNNING", `${n} runs`);
  await assertOneProcessPerInstance(d);
  // Whatever the order, one more apply of either file converges and is then a no-op.
  assert.equal((await apply(d, b.file)).code, 0);
  const settled = await apply(d, b.file);
  assert.deepEqual(settled.json, { created: [], updated: [], unchanged: names, deleted: [], failed: [] });
  await assertOneProcessPerInstance(d);
});

test("a daemon SIGKILLed in the middle of an apply converges on the next apply, with no stray process", async (t) => {
  const handles: DaemonHandle[] = [];
  t.after(async () => {
    for (const h of handles.reverse()) await h.close();
  });
  const first = await startDaemon({ keepStateDir: true });
  handles.push(first);
  t.after(() => rm(first.stateDir, { recursive: true, force: true }));
  const names = Array.from({ length: 8 }, (_, i) => `k${i}`);
  const f = pluginsFile(t, `instances:\n${names.map((n) => `  ${n}: {}\n`).join("")}  ts: {}\n`);
  const applying = first.cli(["apply", "-f", f.file]);
  // Killed once some instances run (their reattach data saved) while others are starting.
  const running = () => {
    try {
      const doc = JSON.parse(readFileSync(join(first.stateDir, "instances.json"), "utf8")) as { instances: Array<{ reattach?: unknown }> };
      return doc.instances.filter((i) => i.reattach).length;
    } catch {
      return 0; // not written yet, or caught between two writes
    }
  };
  await waitFor("some instances running", () => running() >= 1, 30_000);
  first.proc.kill("SIGKILL");
  // Processes spawned but not yet saved: the next daemon must not leave them running beside new ones.
  const unsaved = processesStartedBy(first.stateDir).length - running();
  const interrupted = await applying;
  assert.notEqual(interrupted.code, 0, "the interrupted apply did not report success");

  const second = await startDaemon({ stateDir: first.stateDir, keepStateDir: true });
  handles.push(second);
  const r = await apply(second, f.file);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json.failed, []);
  const after = await list(second);
  assert.deepEqual([...after.keys()], [...names, "ts"]);
  for (const p of after.values()) assert.equal(p.state, "RUNNING", p.name);
  await assertOneProcessPerInstance(second);
  if (unsaved > 0) assert.match(second.log(), /stopped plugin processes no instance owned count=/);
  assert.deepEqual((await apply(second, f.file)).json.unchanged, [...names, "ts"]);
});
