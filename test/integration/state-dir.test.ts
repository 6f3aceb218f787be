// A damaged state directory met by a real daemon: which instances.json it moves aside and
// starts without (stopping the plugins that file named), which state files make it refuse to
// start (exit 7, one line, nothing touched, plugins left running), and signals during start-up.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { daemon, daemonFleet, getPlugin, PLUGPROM, refusedDaemon, testEnv, waitFor, type DaemonHandle } from "../helpers/daemon.js";
import { pluginProcesses } from "../helpers/procs.js";
import { tempDir } from "../helpers/temp.js";
import type { StatusJson } from "../../src/cli/output.js";

const EXIT_STATE = 7;

/** A daemon SIGKILLed with the bundled greeter `name` running: what a crash leaves on disk. */
async function crashWithPlugin(d: DaemonHandle, name: string): Promise<number> {
  const r = await d.cli(["start", name]);
  assert.equal(r.code, 0, r.stderr);
  const { pid } = await getPlugin(d, name);
  d.proc.kill("SIGKILL");
  await once(d.proc, "exit");
  return pid!;
}

const instancesFile = (stateDir: string) => join(stateDir, "instances.json");
const setAsideFiles = (stateDir: string) => readdirSync(stateDir).filter((f) => f.startsWith("instances.json.corrupt-")).sort();

test("an instances.json that cannot be parsed (empty, truncated, garbage) is kept aside, said in one log line and in status, and the plugins it named are stopped", async (t) => {
  const next = daemonFleet(t);
  const damages: Array<[string, (text: string) => string, RegExp]> = [
    ["empty, as a crash during a plain copy leaves it", () => "", /problem="is empty"/],
    ["truncated mid-JSON", (text) => text.slice(0, Math.floor(text.length / 2)), /problem="is truncated \(it ends mid-JSON\)"/],
    ["garbage bytes", () => "\x00\x7fELF\x02\x01\x01 not a state file", /problem="is not text \(garbage bytes\)"/],
  ];
  const kept: string[] = [];
  for (const [what, damage, problem] of damages) {
    const before = await next();
    const orphan = await crashWithPlugin(before, "left");
    const file = instancesFile(before.stateDir);
    const damaged = damage(readFileSync(file, "latin1"));
    writeFileSync(file, damaged, "latin1");

    const d = await next();
    const line = d.log().split("\n").filter((l) => l.includes("instances.json could not be parsed"));
    assert.equal(line.length, 1, `${what}: one line says so`);
    assert.match(line[0], /ERROR instances\.json could not be parsed: starting with no instances; it is kept aside, and plugins it named are stopped /);
    assert.match(line[0], problem);
    const keptAs = /keptAs=(\S+)/.exec(line[0])![1];
    assert.match(keptAs, new RegExp(`^${file.replace(/\./g, "\\.")}\\.corrupt-\\d{8}T\\d{6}Z(-\\d+)?$`));
    assert.equal(readFileSync(keptAs, "latin1"), damaged, `${what}: kept byte for byte`);
    kept.push(keptAs);

    // The file named a live plugin: nothing owns it now, and it must not run on unseen.
    await waitFor(`${what}: the plugin the file named stopped`, () => !pluginProcesses(d.stateDir).some((p) => p.pid === orphan), 20_000);
    // The daemon's log reaches the test through a pipe: it may arrive after the process is seen gone.
    await d.waitForLog(new RegExp(`stopping a plugin process no instance owns pid=${orphan} instance=left`), 20_000);
    assert.deepEqual(JSON.parse((await d.cli(["list", "--json"])).stdout), []);
    const status = JSON.parse((await d.cli(["status", "--json"])).stdout) as StatusJson;
    assert.equal(status.instancesSetAside?.file, keptAs);
    assert.match((await d.cli(["status"])).stdout, /^state: +instances\.json (is empty|is truncated \(it ends mid-JSON\)|is not text \(garbage bytes\)): started with no instances; kept as \S+$/m);

    // The new daemon's own saves never touch the copy.
    assert.equal((await d.cli(["start", "fresh"])).code, 0);
    assert.equal((await d.cli(["stop", "fresh"])).code, 0);
    assert.equal(await d.stop(), 0);
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")).instances, []);
  }
  const stateDir = kept[0].slice(0, kept[0].lastIndexOf("/"));
  assert.deepEqual(setAsideFiles(stateDir), kept.map((k) => k.slice(stateDir.length + 1)).sort(), "each damaged file kept, none over another");
});

test("an instances.json of a newer format version is refused (exit 7, one line) and left as it is, and its plugins keep running until a version that reads it adopts them", async (t) => {
  const next = daemonFleet(t);
  const first = await next();
  const pid = await crashWithPlugin(first, "kept");
  const file = instancesFile(first.stateDir);
  const original = readFileSync(file, "utf8");
  const newer = original.replace(/"version": 1/, '"version": 2');
  writeFileSync(file, newer);

  const r = await refusedDaemon(first.stateDir);
  assert.equal(r.code, EXIT_STATE, r.output);
  assert.match(
    r.output,
    /^plugprom: \S+\/instances\.json has format version 2, newer than this plugprom reads \(1\); the daemon did not start and left it as it is: run the plugprom version that wrote it \(or a newer one\); state is never downgraded\n$/,
  );
  assert.equal(readFileSync(file, "utf8"), newer, "not rewritten, not downgraded");
  assert.deepEqual(setAsideFiles(first.stateDir), []);
  assert.ok(pluginProcesses(first.stateDir).some((p) => p.pid === pid), "its plugin still runs");

  writeFileSync(file, original);
  const d = await next();
  await d.waitForLog("instances restored");
  assert.equal((await getPlugin(d, "kept")).pid, pid, "adopted, never restarted");
});

test("state files the daemon cannot read or will not touch make it refuse to start: exit 7, one line naming the file, nothing changed", async (t) => {
  const spec = { name: "web", source: "", command: "/bin/true", args: [], env: {}, labels: {}, magicCookieKey: "K", magicCookieValue: "V" };
  const cases: Array<[string, string, (path: string) => void, RegExp]> = [
    ["instances.json is a directory", "instances.json", (p) => mkdirSync(p), /instances\.json cannot be read: it is a directory; the daemon did not start and left it as it is: fix it or move it aside to start with no instances$/],
    ["instances.json is a FIFO", "instances.json", (p) => spawnSyncOk("mkfifo", [p]), /instances\.json cannot be read: it is not a regular file;/],
    [
      "a hand edit's trailing comma",
      "instances.json",
      (p) => writeFileSync(p, '{\n  "version": 1,\n  "instances": [],\n}\n'),
      /instances\.json is not valid JSON: Expected double-quoted property name at line 4, column 1; the daemon did not start and left it as it is: fix it or move it aside to start with no instances$/,
    ],
    ["an older format version", "instances.json", (p) => writeFileSync(p, '{"version":0,"instances":[]}'), /instances\.json has format version 0, which this plugprom does not read \(only 1\);/],
    ["instances not an array", "instances.json", (p) => writeFileSync(p, '{"version":1,"instances":{"web":{}}}'), /instances\.json is not what plugprom writes: "instances" must be an array;/],
    ["an instance without a spec", "instances.json", (p) => writeFileSync(p, '{"version":1,"instances":[{"restarts":0}]}'), /instances\.json is not what plugprom writes: instances\[0\]\.spec is missing;/],
    [
      "a spec of the wrong types",
      "instances.json",
      (p) => writeFileSync(p, JSON.stringify({ version: 1, instances: [{ spec: { ...spec, args: "--port 1" }, restarts: 0 }] })),
      /instances\.json is not what plugprom writes: instances\[0\] \("web"\)\.spec\.args must be an array of strings;/,
    ],
    ["daemon.lock is a directory", "daemon.lock", (p) => mkdirSync(p), /daemon\.lock is a directory, not a plugprom lock; remove it if no daemon uses this state dir$/],
    ["daemon.json is a directory", "daemon.json", (p) => mkdirSync(p), /daemon\.json is a directory, not the daemon's address file; remove it if no daemon uses this state dir$/],
  ];
  for (const [what, name, make, message] of cases) {
    const stateDir = tempDir(t);
    const path = join(stateDir, name);
    make(path);
    const before = snapshot(path);
    const r = await refusedDaemon(stateDir);
    assert.equal(r.code, EXIT_STATE, `${what}: ${r.output}`);
    assert.equal(r.output.split("\n").length, 2, `${what}: one line: ${r.output}`);
    assert.match(r.output.trimEnd(), new RegExp(`^plugprom: ${stateDir}/${message.source}`), what);
    assert.equal(snapshot(path), before, `${what}: left as it was`);
    for (const left of ["daemon.lock", "daemon.json", "instances.json"].filter((f) => f !== name)) {
      assert.ok(!existsSync(join(stateDir, left)), `${what}: ${left} not left behind`);
    }
    assert.deepEqual(setAsideFiles(stateDir), [], what);
  }
});

test("an instances.json the daemon's user may not read is refused (exit 7) and left as it is, not taken for a missing file", async (t) => {
  // Root reads any file, so the daemon runs as nobody here, on a state dir of nobody's that
  // holds a file root wrote: what an operator's `sudo cp` leaves.
  if (process.getuid?.() !== 0) return t.skip("needs root to run the daemon as another user");
  const stateDir = tempDir(t);
  chownSync(stateDir, 65534, 65534);
  const file = instancesFile(stateDir);
  writeFileSync(file, '{"version":1,"instances":[]}\n', { mode: 0o600 });
  const r = await refusedDaemon(stateDir, { wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] });
  assert.equal(r.code, EXIT_STATE, r.output);
  assert.match(
    r.output,
    /^plugprom: \S+\/instances\.json cannot be read: EACCES \(permission denied\); the daemon did not start and left it as it is: make it readable by the daemon's user \(it runs as uid 65534\)\n$/,
  );
  assert.equal(readFileSync(file, "utf8"), '{"version":1,"instances":[]}\n');
  assert.deepEqual(setAsideFiles(stateDir), []);
});

/** What a path is and holds, to compare before and after. */
function snapshot(path: string): string {
  const st = statSync(path);
  return st.isFile() ? `file ${readFileSync(path, "latin1")}` : `${st.isDirectory() ? "directory" : "other"} ${st.ino}`;
}

function spawnSyncOk(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args);
  assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
}

test("a garbage or empty daemon.json is rewritten, a garbage or empty lock taken over, and temp files of a write a crash cut off removed: none holds state", async (t) => {
  for (const content of ["", "garbage\n"]) {
    const stateDir = tempDir(t);
    writeFileSync(join(stateDir, "daemon.json"), content);
    writeFileSync(join(stateDir, "daemon.lock"), content);
    for (const temp of ["instances.json.4242.tmp", "daemon.json.4243.tmp"]) writeFileSync(join(stateDir, temp), '{"version": 1, "inst');
    writeFileSync(join(stateDir, "instances.json.bak"), "an operator's copy");
    const d = await daemon(t, [], { stateDir, keepStateDir: true });
    assert.equal((JSON.parse(readFileSync(join(stateDir, "daemon.json"), "utf8")) as { pid: number }).pid, d.proc.pid);
    assert.equal((JSON.parse(readFileSync(join(stateDir, "daemon.lock"), "utf8")) as { pid: number }).pid, d.proc.pid);
    assert.deepEqual(readdirSync(stateDir).filter((f) => f.endsWith(".tmp")), [], "the cut-off writes' temp files are gone");
    assert.equal(readFileSync(join(stateDir, "instances.json.bak"), "utf8"), "an operator's copy", "anything else is left alone");
    assert.equal(await d.stop(), 0);
  }
});

test("SIGTERM during start-up, before the daemon is ready, is a clean shutdown: exit 0, no lock or daemon.json left", async (t) => {
  for (let i = 0; i < 3; i++) {
    const stateDir = tempDir(t);
    const proc = spawn(PLUGPROM, ["daemon", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--state-dir", stateDir, "--log-level", "debug"], {
      env: testEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const closed = once(proc, "close") as Promise<[number | null, NodeJS.Signals | null]>;
    t.after(() => void proc.kill("SIGKILL"));
    let output = "";
    let signalled = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      // The first line of start-up: the state dir, the lock and the servers are still to come.
      if (!signalled && output.includes("DEBUG starting")) {
        signalled = true;
        proc.kill("SIGTERM");
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    const [code, signal] = await closed;
    assert.deepEqual([code, signal], [0, null], output);
    assert.match(output, /plugprom daemon stopped/);
    assert.deepEqual(readdirSync(stateDir).filter((f) => f.startsWith("daemon.")), [], "no lock, no daemon.json");
  }
});
