// plugprom list (ls): flags -> options, and options -> the table or JSON array it prints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newListCommand, runList, type ListOptions } from "../../../../src/cli/commands/list.js";
import { abc, crashed, parseCommand, PLUGIN_KEYS, testSeams } from "../fakes.js";

test("list and ls take --json before or after the command, and nothing else", async () => {
  for (const [args, json] of [[["list"], false], [["ls"], false], [["list", "--json"], true], [["--json", "ls"], true]] as const) {
    const r = await parseCommand<ListOptions>(newListCommand, [...args]);
    assert.deepEqual(r.options, { json }, args.join(" "));
  }
  const extra = await parseCommand<ListOptions>(newListCommand, ["list", "abc"]);
  assert.equal(extra.code, 2);
  assert.equal(extra.stderr, `plugprom: too many arguments for 'list'. Expected 0 arguments but got 1. (see "plugprom list --help")\n`);
  assert.equal(extra.options, undefined);
});

test("list prints an aligned table: NAME STATE PID RESTARTS UPTIME LABELS", async () => {
  const { seams, rec } = testSeams({ list: () => ({ plugins: [abc, crashed] }) });
  await runList({ json: false }, seams);
  assert.equal(
    rec.stdout,
    "NAME         STATE    PID   RESTARTS  UPTIME  LABELS\n" +
      "abc          RUNNING  4242  2         1m30s   team=core\n" +
      "longer-name  CRASHED  -     0         -       -\n",
  );
  assert.deepEqual(rec.calls, [["list", {}, { timeoutMs: 60_000 }]], "one List call with the deadline");
});

test("an empty daemon says so", async () => {
  const { seams, rec } = testSeams({ list: () => ({ plugins: [] }) });
  await runList({ json: false }, seams);
  assert.equal(rec.stdout, "no plugins\n");
});

test("list --json prints an array of plugin objects with exactly the documented keys", async () => {
  const { seams, rec } = testSeams({ list: () => ({ plugins: [abc, crashed] }) });
  await runList({ json: true }, seams);
  const [running, dead] = JSON.parse(rec.stdout) as Array<Record<string, unknown>>;
  assert.deepEqual(Object.keys(running).sort(), PLUGIN_KEYS);
  assert.deepEqual(Object.keys(dead).sort(), PLUGIN_KEYS);
  assert.deepEqual(running, {
    name: "abc",
    state: "RUNNING",
    pid: 4242,
    restarts: 2,
    labels: { team: "core" },
    metricsEndpoint: "unix:/state/sockets/abc.metrics.sock",
    command: "/usr/bin/node",
    args: ["greeter.js"],
    startedAt: "2026-01-01T00:00:00.000Z",
    stoppedAt: null,
    lastError: null,
    lastExitCode: null,
    lastExitSignal: null,
    protocolVersion: 1,
    rpcAddress: "unix:/state/sockets/plugin1",
    rpcProtocol: "grpc",
    healthy: true,
    plugin: "",
    workingDir: "/home/me",
    scrapeInterval: null,
    scrapeTimeout: null,
    restartPolicy: "on-failure",
    nextRestartAt: null,
    livenessFailures: 3,
    healthInterval: "10s",
    failedHealthChecks: 0,
    livenessRestarts: 0,
    memoryLimitBytes: null,
    memoryEnforcement: null,
    maxPids: null,
    groupRssBytes: null,
  });
  // Absent values are null, but a real exit code 0 is kept.
  assert.equal(dead.pid, null);
  assert.equal(dead.protocolVersion, null);
  assert.equal(dead.lastExitCode, 0);
  assert.equal(dead.lastExitSignal, "SIGSEGV");
  assert.equal(dead.stoppedAt, "2026-01-01T00:01:00.000Z");
});

test("states are coloured when colour is on, without breaking the alignment", async () => {
  const coloured = testSeams({ list: () => ({ plugins: [abc, crashed] }) }, { color: true });
  await runList({ json: false }, coloured.seams);
  assert.match(coloured.rec.stdout, /\x1b\[32mRUNNING\x1b\[39m  4242/);
  assert.match(coloured.rec.stdout, /\x1b\[31mCRASHED\x1b\[39m  -     0/);
  const plain = testSeams({ list: () => ({ plugins: [abc, crashed] }) });
  await runList({ json: false }, plain.seams);
  assert.equal(coloured.rec.stdout.replace(/\x1b\[[0-9;]*m/g, ""), plain.rec.stdout);
});
