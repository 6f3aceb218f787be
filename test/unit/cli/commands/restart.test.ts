// plugprom restart <name> [--grace]: flags -> options, and options -> the Restart call and output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { newRestartCommand, runRestart, type RestartOptions } from "../../../../src/cli/commands/restart.js";
import { abc, parseCommand, PLUGIN_KEYS, testSeams } from "../fakes.js";

test("restart takes a name and --grace as a duration", async () => {
  assert.deepEqual((await parseCommand<RestartOptions>(newRestartCommand, ["restart", "abc", "--grace", "500ms", "--json"])).options, {
    name: "abc",
    graceMs: 500,
    json: true,
  });
  assert.deepEqual((await parseCommand<RestartOptions>(newRestartCommand, ["restart", "abc"])).options, { name: "abc", graceMs: undefined, json: false });
  assert.equal((await parseCommand<RestartOptions>(newRestartCommand, ["restart", "abc", "--grace", "soon"])).code, 2);
});

test("restart sends the grace and prints the instance as it came back", async () => {
  const { seams, rec } = testSeams({ restart: () => ({ plugin: abc }) });
  await runRestart({ name: "abc", graceMs: 500, json: false }, seams);
  assert.equal(rec.calls[0][1].name, "abc");
  assert.equal(durationMs(rec.calls[0][1].grace), 500);
  assert.match(rec.stdout, /^name: +abc$/m);
  assert.match(rec.stdout, /^restarts: +2 \(policy on-failure\)$/m);
});

test("restart --json prints one plugin object", async () => {
  const { seams, rec } = testSeams({ restart: () => ({ plugin: abc }) });
  await runRestart({ name: "abc", graceMs: undefined, json: true }, seams);
  assert.equal(rec.calls[0][1].grace, undefined);
  assert.deepEqual(Object.keys(JSON.parse(rec.stdout)).sort(), PLUGIN_KEYS);
});
