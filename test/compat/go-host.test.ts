// Real hashicorp/go-plugin (Debian's 1.0.1) as the host: plugin.NewClient launches plugprom's
// TypeScript greeter, pings it, dispenses it, calls Greet and kills it gracefully.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { GREETER } from "../helpers/daemon.js";
import { buildGoProgram } from "../helpers/go-build.js";

const run = promisify(execFile);

interface Step {
  step: string;
  ok: boolean;
  message?: string;
  protocol?: string;
  negotiatedVersion?: number;
  error?: string;
}

async function hostRun(args: string[]): Promise<Step[]> {
  const host = await buildGoProgram("goplugin-host");
  try {
    const { stdout } = await run(host, args, { timeout: 60_000 });
    return stdout.trim().split("\n").map((l) => JSON.parse(l) as Step);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    throw new Error(`goplugin-host failed (exit ${e.code}):\n${e.stdout}\n${e.stderr?.slice(-3000)}`);
  }
}

for (const mtls of [false, true]) {
  test(`go-plugin's own host runs the TypeScript greeter${mtls ? " with AutoMTLS" : ""}: handshake, ping, greet, graceful kill`, async () => {
    const steps = await hostRun(["-cmd", GREETER, ...(mtls ? ["-auto-mtls"] : [])]);
    assert.deepEqual(steps.map((s) => [s.step, s.ok]), [["handshake", true], ["ping", true], ["dispense", true], ["greet", true], ["kill", true]]);
    assert.equal(steps[0].protocol, "grpc");
    assert.equal(steps[0].negotiatedVersion, 1);
    assert.equal(steps.find((s) => s.step === "greet")!.message, "Hello, compat!");
  });
}

test("baseline: go-plugin's host and a go-plugin Go plugin agree (the harness itself works)", async () => {
  const plugin = await buildGoProgram("goplugin-greeter");
  const steps = await hostRun(["-cmd", plugin, "-auto-mtls"]);
  assert.equal(steps.find((s) => s.step === "greet")!.message, "Hello, compat! (v1)");
});

test("a go-plugin plugin run by hand refuses with go-plugin's own guidance and exit 1", async () => {
  const plugin = await buildGoProgram("goplugin-greeter");
  await assert.rejects(run(plugin, [], { env: { PATH: process.env.PATH } }), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 1);
    assert.match(err.stderr ?? "", /This binary is a plugin/);
    return true;
  });
});
