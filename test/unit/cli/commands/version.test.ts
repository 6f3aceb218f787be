// plugprom version: the CLI's own version, never the daemon's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newVersionCommand, runVersion, type VersionOptions } from "../../../../src/cli/commands/version.js";
import { VERSION } from "../../../../src/shared/version.js";
import { parseCommand, recorder, runCli, testIO } from "../fakes.js";

test("version takes --json", async () => {
  assert.deepEqual((await parseCommand<VersionOptions>(newVersionCommand, ["version"])).options, { json: false });
  assert.deepEqual((await parseCommand<VersionOptions>(newVersionCommand, ["--json", "version"])).options, { json: true });
});

test("version prints the CLI version, as a line or one object", async () => {
  const line = recorder();
  await runVersion({ json: false }, testIO(line));
  assert.equal(line.stdout, `plugprom ${VERSION}\n`);
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
  const json = recorder();
  await runVersion({ json: true }, testIO(json));
  assert.deepEqual(JSON.parse(json.stdout), { version: VERSION });
});

test("version asks the daemon nothing, and works with a bad --addr", async () => {
  const r = await runCli({}, ["--addr", "nowhere", "version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `plugprom ${VERSION}\n`);
  assert.deepEqual(r.calls, []);
});
