// Real hashicorp/go-plugin (Debian's 1.0.1) as the host: plugin.NewClient launches plugprom's
// TypeScript greeter, pings it, dispenses it, calls Greet and kills it gracefully. The same
// host against a plugin built with go-plugin itself is the baseline that proves the harness.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { GREETER } from "../helpers/daemon.js";
import { buildGoProgram } from "../helpers/go-build.js";

const execFileP = promisify(execFile);

/** One JSON line goplugin-host prints per step. */
interface Step {
  step: "handshake" | "ping" | "dispense" | "greet" | "kill";
  ok: boolean;
  error?: string;
  protocol?: string;
  negotiatedVersion?: number;
  message?: string;
  exited?: boolean;
  forced?: boolean;
  exitCode?: number;
  signal?: string;
}

interface HostRun {
  code: number;
  steps: Step[];
  stderr: string;
}

let host: string;
let goGreeter: string;
before(async () => {
  [host, goGreeter] = await Promise.all([buildGoProgram("goplugin-host"), buildGoProgram("goplugin-greeter")]);
});

/**
 * Runs goplugin-host to completion. It kills its plugin before exiting, whatever the outcome;
 * execFile's timeout is the backstop that reaps the host itself if it ever hangs.
 */
async function hostRun(args: string[]): Promise<HostRun> {
  let stdout: string;
  let stderr: string;
  let code = 0;
  try {
    ({ stdout, stderr } = await execFileP(host, args, { timeout: 60_000, killSignal: "SIGKILL" }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string };
    if (typeof e.code !== "number") throw err;
    ({ stdout = "", stderr = "" } = e);
    code = e.code;
  }
  const steps = stdout
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Step);
  return { code, steps, stderr };
}

function describe(r: HostRun): string {
  return `goplugin-host exit ${r.code}\n${JSON.stringify(r.steps, null, 1)}\n${r.stderr.slice(-3000)}`;
}

function step(r: HostRun, name: Step["step"]): Step {
  const s = r.steps.find((x) => x.step === name);
  assert.ok(s, `no ${name} step\n${describe(r)}`);
  return s;
}

/** The plugin's pid, from go-plugin's "plugin started" debug line. */
function pluginPid(r: HostRun): number {
  const m = /host: plugin started: path=\S+ pid=(\d+)/.exec(r.stderr);
  assert.ok(m, `no "plugin started" line\n${describe(r)}`);
  return Number(m[1]);
}

function assertGone(pid: number): void {
  assert.throws(() => process.kill(pid, 0), (e: NodeJS.ErrnoException) => e.code === "ESRCH", `plugin process ${pid} is gone`);
}

/** Every step succeeded, and Kill ended the plugin through Shutdown, not SIGKILL. */
function assertCleanRun(r: HostRun): void {
  assert.deepEqual(
    r.steps.map((s) => [s.step, s.ok]),
    [["handshake", true], ["ping", true], ["dispense", true], ["greet", true], ["kill", true]],
    describe(r),
  );
  assert.equal(r.code, 0, describe(r));
  assert.equal(step(r, "handshake").protocol, "grpc");
  const kill = step(r, "kill");
  assert.equal(kill.exited, true);
  assert.equal(kill.forced, false, "go-plugin did not have to fall back to killing the process");
  assert.equal(kill.exitCode, 0);
  assert.equal(kill.signal, undefined);
  assertGone(pluginPid(r));
}

for (const mtls of [false, true]) {
  test(`go-plugin's own host runs the TypeScript greeter (AutoMTLS ${mtls ? "on" : "off"}): handshake, ping, greet, graceful kill`, async () => {
    const r = await hostRun(["-cmd", GREETER, ...(mtls ? ["-auto-mtls"] : [])]);
    assertCleanRun(r);
    assert.equal(step(r, "handshake").negotiatedVersion, 1);
    assert.equal(step(r, "greet").message, "Hello, compat!");
  });
}

test("go-plugin's host passes the Greet argument through to the TypeScript greeter unchanged", async () => {
  const r = await hostRun(["-cmd", GREETER, "-name", "Zoë 🌍"]);
  assertCleanRun(r);
  assert.equal(step(r, "greet").message, "Hello, Zoë 🌍!");
});

test("go-plugin's host refuses the TypeScript greeter when it offers a protocol version the greeter does not speak", async () => {
  const r = await hostRun(["-cmd", GREETER, "-versions", "2"]);
  assert.equal(r.code, 1, describe(r));
  assert.deepEqual(r.steps.map((s) => [s.step, s.ok]), [["handshake", false]]);
  assertGone(pluginPid(r));
});

for (const mtls of [false, true]) {
  test(`baseline: go-plugin's host and a go-plugin Go plugin agree (AutoMTLS ${mtls ? "on" : "off"})`, async () => {
    const r = await hostRun(["-cmd", goGreeter, ...(mtls ? ["-auto-mtls"] : [])]);
    assertCleanRun(r);
    assert.equal(step(r, "greet").message, "Hello, compat! (v1)");
  });
}

test("baseline: VersionedPlugins negotiates the highest version both sides have", async () => {
  const r = await hostRun(["-cmd", goGreeter, "-versions", "3,4", "--", "-versions=2,3"]);
  assertCleanRun(r);
  assert.equal(step(r, "handshake").negotiatedVersion, 3);
  assert.equal(step(r, "greet").message, "Hello, compat! (v3)");

  const none = await hostRun(["-cmd", goGreeter, "-versions", "4", "--", "-versions=2,3"]);
  assert.equal(none.code, 1, describe(none));
  assert.equal(step(none, "handshake").ok, false);
  assert.match(step(none, "handshake").error ?? "", /Incompatible API version/);
});

test("baseline: go-plugin's start timeout gives up on a plugin that is too slow to start, and kills it", async () => {
  const slow = await hostRun(["-cmd", goGreeter, "-start-timeout", "1s", "--", "-start-delay=30s"]);
  assert.equal(slow.code, 1, describe(slow));
  assert.match(step(slow, "handshake").error ?? "", /timeout/i);
  assertGone(pluginPid(slow));

  const late = await hostRun(["-cmd", goGreeter, "-start-timeout", "10s", "--", "-start-delay=500ms"]);
  assertCleanRun(late);
});

test("harness check: the host reports a plugin that outlives Shutdown as a forced kill, not a graceful one", async () => {
  const r = await hostRun(["-cmd", goGreeter, "--", "-mode=hang-on-shutdown"]);
  assert.equal(r.code, 1, describe(r));
  const kill = step(r, "kill");
  assert.equal(kill.ok, false);
  assert.equal(kill.forced, true);
  assert.equal(kill.signal, "killed");
});
