// plugprom kill <name>: flags -> options, and options -> the Kill call and its output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { PluginInfoSchema, PluginState } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { newKillCommand, runKill, type KillOptions } from "../../../../src/cli/commands/kill.js";
import { parseCommand, testSeams } from "../fakes.js";

const stopped = create(PluginInfoSchema, { name: "abc", state: PluginState.STOPPED });

test("kill takes a name and --json", async () => {
  assert.deepEqual((await parseCommand<KillOptions>(newKillCommand, ["kill", "abc", "--json"])).options, { name: "abc", json: true });
});

test("kill takes no --grace", async () => {
  const r = await parseCommand<KillOptions>(newKillCommand, ["kill", "abc", "--grace", "1s"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `plugprom: unknown option '--grace' (see "plugprom kill --help")\n`);
});

test("kill asks for exactly the name, and says what it killed", async () => {
  const { seams, rec } = testSeams({ kill: () => ({ plugin: stopped }) });
  await runKill({ name: "abc", json: false }, seams);
  assert.deepEqual(rec.calls[0].slice(0, 2), ["kill", { name: "abc" }]);
  assert.equal(rec.stdout, "killed abc\n");
});

test("kill --json prints the plugin", async () => {
  const { seams, rec } = testSeams({ kill: () => ({ plugin: stopped }) });
  await runKill({ name: "abc", json: true }, seams);
  assert.equal(JSON.parse(rec.stdout).state, "STOPPED");
});
