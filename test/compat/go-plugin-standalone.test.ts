// A go-plugin plugin run by hand (no host, so no magic cookie) refuses to start: go-plugin
// prints its own explanation and exits 1. plugprom must pass that message on to the operator,
// and plugprom's own plugins should behave the same way.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { parseHandshake } from "../../src/goplugin/handshake.js";
import { GREETER } from "../helpers/daemon.js";
import { buildGoProgram } from "../helpers/go-build.js";

const execFileP = promisify(execFile);

const GO_PLUGIN_REFUSAL =
  "This binary is a plugin. These are not meant to be executed directly.\n" +
  "Please execute the program that consumes these plugins, which will\n" +
  "load any plugins automatically\n";

let goGreeter: string;
before(async () => {
  goGreeter = await buildGoProgram("goplugin-greeter");
});

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion with exactly the given environment (plus PATH). */
async function runBare(file: string, args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  try {
    const { stdout, stderr } = await execFileP(file, args, { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 30_000, killSignal: "SIGKILL" });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

const refusals: Array<[string, Record<string, string>]> = [
  ["without the magic cookie", {}],
  ["with the wrong cookie value", { PLUGPROM_PLUGIN: "not-plugprom" }],
];
for (const [what, env] of refusals) {
  test(`a go-plugin plugin run by hand ${what} exits 1 with go-plugin's own message and nothing on stdout`, async () => {
    const r = await runBare(goGreeter, [], env);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(GO_PLUGIN_REFUSAL), `go-plugin's refusal on stderr:\n${r.stderr}`);
    assert.equal(r.stdout, "", "stdout is the handshake channel and stays empty");
  });
}

// The cookie can be changed by flag or by environment; then only the new cookie unlocks it.
const overrides: Array<[string, string[], Record<string, string>]> = [
  ["flags", ["-cookie-key", "OTHER_HOST", "-cookie-value", "other"], {}],
  ["environment", [], { GREETER_COOKIE_KEY: "OTHER_HOST", GREETER_COOKIE_VALUE: "other" }],
];
for (const [how, args, env] of overrides) {
  test(`with its cookie overridden by ${how}, the Go greeter refuses plugprom's cookie and serves under the new one`, async (t) => {
    const refused = await runBare(goGreeter, args, { ...env, PLUGPROM_PLUGIN: "plugprom" });
    assert.equal(refused.code, 1, refused.stderr);
    assert.ok(refused.stderr.includes(GO_PLUGIN_REFUSAL));

    // go-plugin 1.0.1 creates its unix socket in TMPDIR; keep it in a directory we remove.
    const dir = await mkdtemp(join(tmpdir(), "plugprom-standalone-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const child = spawn(goGreeter, args, {
      env: { PATH: process.env.PATH ?? "", TMPDIR: dir, ...env, OTHER_HOST: "other" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = once(child, "exit");
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));

    const firstLine = once(createInterface({ input: child.stdout }), "line").then(([l]) => l as string);
    const line = await Promise.race([
      firstLine,
      exited.then(([code]) => assert.fail(`the greeter exited (${code}) before its handshake:\n${stderr}`)),
    ]);
    const handshake = parseHandshake(line, [1]);
    assert.equal(handshake.protocol, "grpc");
    assert.equal(handshake.network, "unix");
    assert.ok(handshake.address.startsWith(dir), `socket ${handshake.address} is under TMPDIR`);
    assert.deepEqual(await readdir(dir), [handshake.address.slice(dir.length + 1)]);
  });
}

test("the Go greeter rejects bad settings with exit 2 before any handshake", async () => {
  for (const args of [["-versions=2,x"], ["-mode=bogus"], ["-start-delay=soon"], ["-protocol=http"]]) {
    const r = await runBare(goGreeter, args, { PLUGPROM_PLUGIN: "plugprom" });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
  }
});

test("plugprom's TypeScript greeter run by hand refuses like a go-plugin plugin: exit 1, explanation on stderr, stdout empty", async () => {
  const envs: Array<Record<string, string>> = [{}, { PLUGPROM_PLUGIN: "not-plugprom" }];
  for (const env of envs) {
    const r = await runBare(GREETER, [], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /plugin/i);
    assert.match(r.stderr, /PLUGPROM_PLUGIN/, "it names the cookie it expected");
    assert.equal(r.stdout, "");
  }
});
