// plugprom get <name>: flags -> options, and options -> key: value lines or one JSON object.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newGetCommand, runGet, type GetOptions } from "../../../../src/cli/commands/get.js";
import { abc, crashed, parseCommand, PLUGIN_KEYS, testSeams } from "../fakes.js";

test("get takes one instance name, and --json", async () => {
  assert.deepEqual((await parseCommand<GetOptions>(newGetCommand, ["get", "abc"])).options, { name: "abc", json: false });
  assert.deepEqual((await parseCommand<GetOptions>(newGetCommand, ["get", "abc", "--json"])).options, { name: "abc", json: true });
  const none = await parseCommand<GetOptions>(newGetCommand, ["get"]);
  assert.equal(none.code, 2);
  assert.equal(none.stderr, `plugprom: missing required argument 'name' (see "plugprom get --help")\n`);
  const two = await parseCommand<GetOptions>(newGetCommand, ["get", "a", "b"]);
  assert.equal(two.code, 2);
  assert.equal(two.options, undefined);
});

test("get prints key: value lines", async () => {
  const { seams, rec } = testSeams({ get: () => ({ plugin: crashed }) });
  await runGet({ name: "longer-name", json: false }, seams);
  assert.deepEqual(rec.calls[0].slice(0, 2), ["get", { name: "longer-name" }]);
  assert.match(rec.stdout, /^name: +longer-name$/m);
  assert.match(rec.stdout, /^state: +CRASHED$/m);
  assert.match(rec.stdout, /^last exit: +signal SIGSEGV$/m);
  assert.match(rec.stdout, /^last error: +exited unexpectedly$/m);
  assert.match(rec.stdout, /^healthy: +no \(2 failed checks in a row\)$/m);
  assert.match(rec.stdout, /^liveness: +replaced after 2 failed checks in a row, checked every 200ms; replaced 1 time$/m);
});

test("get shows the liveness rule in effect; 0 is off", async () => {
  const off = testSeams({ get: () => ({ plugin: { ...abc, livenessFailures: 0 } }) });
  await runGet({ name: "abc", json: false }, off.seams);
  assert.match(off.rec.stdout, /^liveness: +off, checked every 10s$/m);
  assert.match(off.rec.stdout, /^healthy: +yes$/m);
  const json = testSeams({ get: () => ({ plugin: crashed }) });
  await runGet({ name: "longer-name", json: true }, json.seams);
  const j = JSON.parse(json.rec.stdout);
  assert.deepEqual([j.livenessFailures, j.healthInterval, j.failedHealthChecks, j.livenessRestarts], [2, "200ms", 2, 1]);
});

test("get shows the memory limit, how it is enforced and the group's resident memory; the pids limit when there is one", async () => {
  const MiB = 1024n * 1024n;
  const limited = { ...abc, memoryLimitBytes: 96n * MiB, memoryEnforcement: "cgroup v1 + sampled", maxPids: 64, groupRssBytes: 41n * MiB };
  const { seams, rec } = testSeams({ get: () => ({ plugin: limited }) });
  await runGet({ name: "abc", json: false }, seams);
  assert.match(rec.stdout, /^memory limit: +96 MiB \(cgroup v1 \+ sampled\), group resident 41 MiB$/m);
  assert.match(rec.stdout, /^pids limit: +64$/m);
  const json = testSeams({ get: () => ({ plugin: limited }) });
  await runGet({ name: "abc", json: true }, json.seams);
  const j = JSON.parse(json.rec.stdout) as Record<string, unknown>;
  assert.deepEqual([j.memoryLimitBytes, j.memoryEnforcement, j.maxPids, j.groupRssBytes], [96 * 2 ** 20, "cgroup v1 + sampled", 64, 41 * 2 ** 20]);
  const plain = testSeams({ get: () => ({ plugin: abc }) });
  await runGet({ name: "abc", json: false }, plain.seams);
  assert.match(plain.rec.stdout, /^memory limit: +none$/m);
  assert.doesNotMatch(plain.rec.stdout, /pids limit/);
});

test("get --json prints one plugin object", async () => {
  const { seams, rec } = testSeams({ get: () => ({ plugin: abc }) });
  await runGet({ name: "abc", json: true }, seams);
  assert.deepEqual(Object.keys(JSON.parse(rec.stdout)).sort(), PLUGIN_KEYS);
  assert.deepEqual(rec.calls[0].slice(0, 2), ["get", { name: "abc" }]);
});
