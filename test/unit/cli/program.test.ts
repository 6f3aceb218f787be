// The program (program.ts): global flags reach every command the same way, before or after
// its name: --addr and the token choose the client, --timeout the deadline of each call.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlClient } from "../../../src/cli/client.js";
import { COMMANDS } from "../../../src/cli/program.js";
import { fakeClient, recorder, runCli } from "./fakes.js";

test("every call carries the --timeout deadline; --timeout 0 and logs -f have none", async () => {
  const r = await runCli({ list: () => ({ plugins: [] }) }, ["--timeout", "1m30s", "list"]);
  assert.deepEqual(r.calls[0][2], { timeoutMs: 90_000 });
  const dflt = await runCli({ list: () => ({ plugins: [] }) }, ["list"]);
  assert.deepEqual(dflt.calls[0][2], { timeoutMs: 60_000 });
  const after = await runCli({ list: () => ({ plugins: [] }) }, ["list", "--timeout", "2s"]);
  assert.deepEqual(after.calls[0][2], { timeoutMs: 2_000 }, "a global flag after the command");
  const none = await runCli({ list: () => ({ plugins: [] }) }, ["--timeout", "0", "list"]);
  assert.deepEqual(none.calls[0][2], {}, "--timeout 0 means no deadline");
  const follow = await runCli({ logs: async function* () {} }, ["--timeout", "5s", "logs", "abc", "-f"]);
  assert.equal(follow.calls[0][2].timeoutMs, undefined);
  const once = await runCli({ logs: async function* () {} }, ["--timeout", "5s", "logs", "abc"]);
  assert.equal(once.calls[0][2].timeoutMs, 5_000);
});

test("--addr (or PLUGPROM_ADDR) and the token (--token-file, else PLUGPROM_TOKEN) choose the client", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "pp-cli-"));
  const saved = { addr: process.env.PLUGPROM_ADDR, token: process.env.PLUGPROM_TOKEN };
  t.after(async () => {
    for (const [k, v] of [["PLUGPROM_ADDR", saved.addr], ["PLUGPROM_TOKEN", saved.token]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await rm(dir, { recursive: true, force: true });
  });
  const tokenFile = join(dir, "control.token");
  await writeFile(tokenFile, "from-file\n");
  const clients: Array<[string, string | undefined]> = [];
  const createClient = (addr: string, token: string | undefined): ControlClient => {
    clients.push([addr, token]);
    return fakeClient({ list: () => ({ plugins: [] }) }, recorder());
  };
  delete process.env.PLUGPROM_ADDR;
  delete process.env.PLUGPROM_TOKEN;
  await runCli({}, ["list"], { createClient });
  process.env.PLUGPROM_ADDR = "unix:/run/plugprom.sock";
  process.env.PLUGPROM_TOKEN = "from-env";
  await runCli({}, ["list"], { createClient });
  await runCli({}, ["--addr", "127.0.0.1:9", "list", "--token-file", tokenFile], { createClient });
  assert.deepEqual(clients, [
    ["127.0.0.1:50051", undefined],
    ["unix:/run/plugprom.sock", "from-env"],
    ["127.0.0.1:9", "from-file"],
  ]);
  const missing = await runCli({}, ["--token-file", join(dir, "none"), "list"], { createClient });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^plugprom: --token-file/);
  assert.equal(clients.length, 3, "no client without a token it was told to use");
});

test("every command has a description, and its usage errors name its own help", async () => {
  for (const newCommand of COMMANDS) {
    const name = newCommand({ globals: () => assert.fail(), seams: () => assert.fail(), io: () => assert.fail(), cwd: () => "/" }).name();
    if (name.startsWith("__")) continue;
    const r = await runCli({}, [name, "--no-such-flag"]);
    assert.equal(r.code, 2, name);
    assert.equal(r.stderr, `plugprom: unknown option '--no-such-flag' (see "plugprom ${name} --help")\n`);
    const help = await runCli({}, [name, "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: plugprom ${name}[ |].*\\n\\n\\S`), `${name} --help has a usage line and a description`);
  }
});
