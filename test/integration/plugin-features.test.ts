// Host-side go-plugin features through the real daemon and CLI: integrity checks, logs,
// health metrics, the TypeScript SDK's refusals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { daemon, GREETER, httpGet, PLUGPROM, testEnv, waitFor } from "../helpers/daemon.js";

test("--sha256 runs a binary whose checksum matches and refuses one that differs", async (t) => {
  const d = await daemon(t);
  const sh = "/bin/sh";
  const good = createHash("sha256").update(readFileSync(sh)).digest("hex");
  const bad = "0".repeat(64);
  const refused = await d.cli(["start", "tampered", "--sha256", bad, "--", sh, "-c", "exit 0"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refusing to run \/bin\/sh: its SHA-256 is [0-9a-f]{64}, expected 0{64}/);
  // The checksum passes; the shell is no plugin, so it fails later, at the handshake.
  const passed = await d.cli(["start", "checked", "--sha256", good, "--", sh, "-c", "exit 0"]);
  assert.match(passed.stderr, /exited before its handshake/);
  assert.equal((await d.cli(["start", "x", "--sha256", "abc"])).code, 2, "a malformed checksum is a usage error");
});

test("plugprom logs shows a plugin's recent lines, and -f follows new ones", async (t) => {
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "talker"])).code, 0);
  await waitFor("the greeting to be logged", async () => /greeted/.test((await d.cli(["logs", "talker"])).stdout));
  const recent = await d.cli(["logs", "talker", "-n", "50", "--json"]);
  const lines = recent.stdout.trim().split("\n").map((l) => JSON.parse(l) as { stream: string; text: string });
  assert.ok(lines.some((l) => l.stream === "stderr" && /"@message":"greeter started"/.test(l.text)));
  assert.equal((await d.cli(["logs", "talker", "-n", "1"])).stdout.trim().split("\n").length, 1);

  const follower = spawn(PLUGPROM, ["--addr", d.grpcAddr, "logs", "talker", "-n", "1", "-f"], { env: testEnv() });
  t.after(() => void follower.kill("SIGKILL"));
  let followed = "";
  follower.stdout.on("data", (c: Buffer) => (followed += c));
  // The one backlog line shows the follower is attached; a restart then makes the greeter
  // log "greeter started" again, which only following can show.
  await waitFor("the follower to attach", () => followed.includes("\n"));
  const attachedAt = followed.length;
  assert.equal((await d.cli(["restart", "talker"])).code, 0);
  await waitFor("followed lines from the restarted plugin", () => /greeter started/.test(followed.slice(attachedAt)));
  assert.equal((await d.cli(["logs", "nope"])).code, 4);
});

test("health is exported per plugin as plugprom_plugin_healthy", async (t) => {
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "fine"])).code, 0);
  assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_plugin_healthy\{plugin="fine"\} 1$/m);
});

test("the TypeScript greeter run by hand refuses with guidance, and with no common version says so", () => {
  const byHand = spawnSync(GREETER, [], { encoding: "utf8", env: { PATH: process.env.PATH } });
  assert.equal(byHand.status, 1);
  assert.match(byHand.stderr, /This program is a plugin\. It is not meant to be run by hand/);
  assert.equal(byHand.stdout, "", "nothing on stdout: a host would take it for a handshake");

  const noOverlap = spawnSync(GREETER, [], { encoding: "utf8", env: { PATH: process.env.PATH, PLUGPROM_PLUGIN: "plugprom", PLUGIN_PROTOCOL_VERSIONS: "2,3" } });
  assert.equal(noOverlap.status, 1);
  assert.match(noOverlap.stderr, /serves protocol versions 1, host offered 2,3: no version in common/);
  assert.equal(noOverlap.stdout, "");
});

test("a plugin that sends its output over GRPCStdio (go-plugin >= 1.4) is logged like stderr lines", async (t) => {
  const { join } = await import("node:path");
  const { repoRoot } = await import("../helpers/paths.js");
  const d = await daemon(t);
  const r = await d.cli(["start", "chatty", "--no-auto-mtls", "--", join(repoRoot, "test", "fixtures", "plugins", "stdio-plugin.mjs")]);
  assert.equal(r.code, 0, r.stderr);
  await waitFor("the stdio lines", async () => /hello over stdio/.test((await d.cli(["logs", "chatty"])).stdout));
  const logs = (await d.cli(["logs", "chatty", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as { stream: string; text: string });
  assert.deepEqual(
    logs.map((l) => [l.stream, l.text]),
    [["stderr", "hello over stdio"], ["stderr", "second line"], ["stdout", "an stdout line"]],
    "chunks are joined into lines, per channel",
  );
  assert.match(d.log(), /hello over stdio plugin=chatty stream=stderr/);
});
