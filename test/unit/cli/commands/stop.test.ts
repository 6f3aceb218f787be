// plugprom stop <name> [--grace]: flags -> options, and options -> the Stop call and its output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { PluginInfoSchema, PluginState } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { newStopCommand, runStop, type StopOptions } from "../../../../src/cli/commands/stop.js";
import { parseCommand, testSeams } from "../fakes.js";

const stopped = create(PluginInfoSchema, { name: "abc", state: PluginState.STOPPED });

test("stop takes a name and --grace as a duration; no --grace leaves the daemon's", async () => {
  assert.deepEqual((await parseCommand<StopOptions>(newStopCommand, ["stop", "abc", "--grace", "2s"])).options, { name: "abc", graceMs: 2_000, json: false });
  assert.deepEqual((await parseCommand<StopOptions>(newStopCommand, ["--json", "stop", "abc"])).options, { name: "abc", graceMs: undefined, json: true });
});

test("a bare number as --grace exits 2 before any call", async () => {
  const r = await parseCommand<StopOptions>(newStopCommand, ["stop", "a", "--grace", "5"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^plugprom: --grace: invalid duration "5"/);
  assert.equal(r.options, undefined);
});

test("stop sends the grace and says what it stopped", async () => {
  const { seams, rec } = testSeams({ stop: () => ({ plugin: stopped }) });
  await runStop({ name: "abc", graceMs: 2_000, json: false }, seams);
  assert.equal(rec.calls[0][1].name, "abc");
  assert.equal(durationMs(rec.calls[0][1].grace), 2_000);
  assert.equal(rec.stdout, "stopped abc\n");
});

test("stop without a grace sends none: the daemon's --stop-grace applies", async () => {
  const { seams, rec } = testSeams({ stop: () => ({ plugin: stopped }) });
  await runStop({ name: "abc", graceMs: undefined, json: false }, seams);
  assert.equal(rec.calls[0][1].grace, undefined);
});

test("stop --json prints the stopped plugin", async () => {
  const { seams, rec } = testSeams({ stop: () => ({ plugin: stopped }) });
  await runStop({ name: "abc", graceMs: undefined, json: true }, seams);
  assert.equal(JSON.parse(rec.stdout).state, "STOPPED");
});
