// What each command asks the daemon and what it prints, through the real commander wiring
// with a fake control client: request building, the documented output shapes, streaming.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  LogLineSchema,
  MetricsTransport,
  PluginInfoSchema,
  PluginState,
  StatusResponseSchema,
  type PluginInfo,
  type StartRequest,
} from "../../src/shared/gen/plugprom/v1/control_pb.js";
import { buildDaemonOptions, type DaemonFlags } from "../../src/cli/commands/daemon.js";
import type { DaemonOptions } from "../../src/daemon/options.js";
import { runCli } from "./cli-fakes.js";

const abc: PluginInfo = create(PluginInfoSchema, {
  name: "abc",
  state: PluginState.RUNNING,
  pid: 4242,
  command: "/usr/bin/node",
  args: ["greeter.js"],
  labels: { team: "core" },
  startedAt: timestampFromDate(new Date("2026-01-01T00:00:00Z")),
  restarts: 2,
  metricsEndpoint: "unix:/state/sockets/abc.metrics.sock",
  protocolVersion: 1,
  rpcAddress: "unix:/state/sockets/plugin1",
  rpcProtocol: "grpc",
  healthy: true,
  workingDir: "/home/me",
  restartPolicy: "on-failure",
});

const crashed: PluginInfo = create(PluginInfoSchema, {
  name: "longer-name",
  state: PluginState.CRASHED,
  lastExitCode: 0,
  lastExitSignal: "SIGSEGV",
  lastError: "exited unexpectedly",
  stoppedAt: timestampFromDate(new Date("2026-01-01T00:01:00Z")),
});

const PLUGIN_KEYS = [
  "args", "command", "healthy", "labels", "lastError", "lastExitCode", "lastExitSignal", "metricsEndpoint", "name",
  "nextRestartAt", "pid", "plugin", "protocolVersion", "restartPolicy", "restarts", "rpcAddress", "rpcProtocol",
  "scrapeInterval", "scrapeTimeout", "startedAt", "state", "stoppedAt", "workingDir",
];

// --- list -----------------------------------------------------------------------------

test("list prints an aligned table: NAME STATE PID RESTARTS UPTIME LABELS", async () => {
  const r = await runCli({ list: () => ({ plugins: [abc, crashed] }) }, ["list"]);
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    "NAME         STATE    PID   RESTARTS  UPTIME  LABELS\n" +
      "abc          RUNNING  4242  2         1m30s   team=core\n" +
      "longer-name  CRASHED  -     0         -       -\n",
  );
});

test("ls is list, and an empty daemon says so", async () => {
  const r = await runCli({ list: () => ({ plugins: [] }) }, ["ls"]);
  assert.equal(r.stdout, "no plugins\n");
});

test("list --json prints an array of plugin objects with exactly the documented keys", async () => {
  const r = await runCli({ list: () => ({ plugins: [abc, crashed] }) }, ["list", "--json"]);
  const [running, dead] = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
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
  });
  // Absent values are null, but a real exit code 0 is kept.
  assert.equal(dead.pid, null);
  assert.equal(dead.protocolVersion, null);
  assert.equal(dead.lastExitCode, 0);
  assert.equal(dead.lastExitSignal, "SIGSEGV");
  assert.equal(dead.stoppedAt, "2026-01-01T00:01:00.000Z");
});

test("states are coloured when colour is on, without breaking the alignment", async () => {
  const r = await runCli({ list: () => ({ plugins: [abc, crashed] }) }, ["list"], { color: true });
  assert.match(r.stdout, /\x1b\[32mRUNNING\x1b\[39m  4242/);
  assert.match(r.stdout, /\x1b\[31mCRASHED\x1b\[39m  -     0/);
  assert.equal(r.stdout.replace(/\x1b\[[0-9;]*m/g, ""), (await runCli({ list: () => ({ plugins: [abc, crashed] }) }, ["list"])).stdout);
});

// --- get, status, targets, version ----------------------------------------------------

test("get prints key: value lines; --json one plugin object", async () => {
  const human = await runCli({ get: () => ({ plugin: crashed }) }, ["get", "longer-name"]);
  assert.match(human.stdout, /^name: +longer-name$/m);
  assert.match(human.stdout, /^state: +CRASHED$/m);
  assert.match(human.stdout, /^last exit: +signal SIGSEGV$/m);
  assert.match(human.stdout, /^last error: +exited unexpectedly$/m);
  const json = await runCli({ get: () => ({ plugin: abc }) }, ["get", "abc", "--json"]);
  assert.deepEqual(Object.keys(JSON.parse(json.stdout)).sort(), PLUGIN_KEYS);
  assert.deepEqual(json.calls[0].slice(0, 2), ["get", { name: "abc" }]);
});

test("status prints the daemon's facts, as lines or as one object", async () => {
  const status = create(StatusResponseSchema, {
    version: "0.1.0",
    pid: 99,
    grpcAddr: "127.0.0.1:50051",
    httpAddr: "0.0.0.0:2112",
    advertiseAddr: "host:2112",
    stateDir: "/state",
    startedAt: timestampFromDate(new Date("2026-01-01T00:00:00Z")),
    plugins: { RUNNING: 2, CRASHED: 1 },
  });
  const human = await runCli({ status: () => status }, ["status"]);
  assert.match(human.stdout, /^version: +0\.1\.0$/m);
  assert.match(human.stdout, /^plugins: +2 running, 1 crashed$/m);
  const json = await runCli({ status: () => status }, ["status", "--json"]);
  assert.deepEqual(JSON.parse(json.stdout), {
    version: "0.1.0",
    pid: 99,
    grpcAddr: "127.0.0.1:50051",
    httpAddr: "0.0.0.0:2112",
    advertiseAddr: "host:2112",
    stateDir: "/state",
    startedAt: "2026-01-01T00:00:00.000Z",
    plugins: { RUNNING: 2, CRASHED: 1 },
    applyFile: null,
    lastApply: null,
  });
});

test("status shows the --apply file and how the last apply went", async () => {
  const status = create(StatusResponseSchema, {
    version: "0.1.0",
    applyFile: "/etc/plugprom/plugins.yaml",
    lastApply: { file: "/etc/plugprom/plugins.yaml", time: timestampFromDate(new Date("2026-01-01T00:00:05Z")), ok: false, error: "g2: exited before its handshake" },
  });
  const human = await runCli({ status: () => status }, ["status"]);
  assert.match(human.stdout, /^apply file: +\/etc\/plugprom\/plugins\.yaml$/m);
  assert.match(human.stdout, /^last apply: +2026-01-01T00:00:05\.000Z \/etc\/plugprom\/plugins\.yaml: failed: g2: exited before its handshake$/m);
  const json = JSON.parse((await runCli({ status: () => status }, ["status", "--json"])).stdout);
  assert.equal(json.applyFile, "/etc/plugprom/plugins.yaml");
  assert.deepEqual(json.lastApply, { file: "/etc/plugprom/plugins.yaml", time: "2026-01-01T00:00:05.000Z", ok: false, error: "g2: exited before its handshake" });
});

test("targets writes the daemon's SD document byte for byte, even with --json", async () => {
  const doc = '[{"targets":["h:2112"],"labels":{"__metrics_path__":"/plugins/abc/metrics","plugin":"abc"}}]\n';
  for (const args of [["targets"], ["--json", "targets"]]) {
    const r = await runCli({ targets: () => ({ json: doc }) }, args);
    assert.equal(r.stdout, doc);
  }
});

test("version prints the CLI version without asking the daemon", async () => {
  const r = await runCli({}, ["version"]);
  assert.match(r.stdout, /^plugprom \d+\.\d+\.\d+/);
  assert.deepEqual(r.calls, []);
  assert.match(JSON.parse((await runCli({}, ["version", "--json"])).stdout).version, /^\d+\.\d+\.\d+/);
});

test("every call carries the --timeout deadline; --timeout 0 and logs -f have none", async () => {
  const r = await runCli({ list: () => ({ plugins: [] }) }, ["--timeout", "1m30s", "list"]);
  assert.deepEqual(r.calls[0][2], { timeoutMs: 90_000 });
  const dflt = await runCli({ list: () => ({ plugins: [] }) }, ["list"]);
  assert.deepEqual(dflt.calls[0][2], { timeoutMs: 60_000 });
  const none = await runCli({ list: () => ({ plugins: [] }) }, ["--timeout", "0", "list"]);
  assert.deepEqual(none.calls[0][2], {}, "--timeout 0 means no deadline");
  const follow = await runCli({ logs: async function* () {} }, ["--timeout", "5s", "logs", "abc", "-f"]);
  assert.equal(follow.calls[0][2].timeoutMs, undefined);
  const once = await runCli({ logs: async function* () {} }, ["--timeout", "5s", "logs", "abc"]);
  assert.equal(once.calls[0][2].timeoutMs, 5_000);
});

// --- start ----------------------------------------------------------------------------

test("start with a relative command after -- makes it absolute; a bare name is left for PATH; --no-auto-mtls is sent", async () => {
  const relative = await runCli({ start: () => ({ plugin: abc }) }, ["start", "a", "--no-auto-mtls", "--", "./bin/thing", "x"]);
  const bare = await runCli({ start: () => ({ plugin: abc }) }, ["start", "b", "--", "node", "greeter.js"]);
  const [, r1] = relative.calls[0] as [string, StartRequest, unknown];
  const [, r2] = bare.calls[0] as [string, StartRequest, unknown];
  assert.deepEqual(r1.command, ["/home/me/project/bin/thing", "x"]);
  assert.equal(r1.autoMtls, false);
  assert.deepEqual(r2.command, ["node", "greeter.js"]);
  assert.equal(r2.autoMtls, undefined, "AutoMTLS is the daemon's default unless turned off");
});

test("start builds the request from flags; everything after -- is the command, untouched", async () => {
  const r = await runCli({ start: () => ({ plugin: abc }) }, [
    "start", "abc",
    "--plugin", "./plugins/greeter",
    "--label", "team=core", "--label", "tier=2",
    "--env", "A=1=2", "--env", "EMPTY=",
    "--magic-cookie", "BASIC_PLUGIN=hello",
    "--protocol-version", "2", "--protocol-version", "3",
    "--metrics-transport", "tcp",
    "--start-timeout", "1m",
    "--", "node", "greeter.js", "--port", "3", "--json", "--label", "x",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.calls.length, 1);
  const [method, req] = r.calls[0] as [string, StartRequest, unknown];
  assert.equal(method, "start");
  assert.equal(req.name, "abc");
  assert.equal(req.plugin, "/home/me/project/plugins/greeter", "a --plugin path is made absolute against the CLI's cwd");
  assert.deepEqual(req.command, ["node", "greeter.js", "--port", "3", "--json", "--label", "x"]);
  assert.deepEqual(req.labels, { team: "core", tier: "2" });
  assert.deepEqual(req.env, { A: "1=2", EMPTY: "" });
  assert.equal(req.magicCookieKey, "BASIC_PLUGIN");
  assert.equal(req.magicCookieValue, "hello");
  assert.deepEqual(req.protocolVersions, [2, 3]);
  assert.equal(req.metricsTransport, MetricsTransport.TCP);
  assert.equal(durationMs(req.startTimeout!), 60_000);
  assert.equal(req.workingDir, "/home/me/project");
  // --json after -- was the plugin's: the result is printed for a person.
  assert.match(r.stdout, /^name: +abc$/m);
});

test("start with only a name leaves everything to the daemon's defaults", async () => {
  const r = await runCli({ start: () => ({ plugin: abc }) }, ["start", "solo"]);
  const req = r.calls[0][1] as StartRequest;
  assert.equal(req.plugin, "");
  assert.deepEqual(req.command, []);
  assert.deepEqual(req.labels, {});
  assert.deepEqual(req.protocolVersions, []);
  assert.equal(req.metricsTransport, MetricsTransport.UNSPECIFIED);
  assert.equal(req.startTimeout, undefined);
  assert.equal(req.magicCookieKey, "");
  assert.equal(req.workingDir, "/home/me/project");
});

test("a --plugin without a slash is a catalog name and stays as given", async () => {
  const r = await runCli({ start: () => ({ plugin: abc }) }, ["start", "a", "--plugin", "greeter", "--metrics-transport", "unix"]);
  const req = r.calls[0][1] as StartRequest;
  assert.equal(req.plugin, "greeter");
  assert.equal(req.metricsTransport, MetricsTransport.UNIX);
});

test("start --json prints the started plugin as one object", async () => {
  const r = await runCli({ start: () => ({ plugin: abc }) }, ["--json", "start", "abc"]);
  assert.equal(JSON.parse(r.stdout).state, "RUNNING");
});

const badStarts: Array<[string, string[], RegExp]> = [
  ["an upper-case name", ["start", "ABC"], /invalid instance name/],
  ["a name with a slash", ["start", "a/b"], /invalid instance name/],
  ["the label plugin", ["start", "a", "--label", "plugin=x"], /"plugin" is set by plugprom/],
  ["a label reserved by Prometheus", ["start", "a", "--label", "__address__=x"], /reserved by Prometheus/],
  ["an env entry without =", ["start", "a", "--env", "HOME"], /--env "HOME": expected KEY=VALUE/],
  ["a cookie without =", ["start", "a", "--magic-cookie", "K"], /--magic-cookie "K": expected KEY=VALUE/],
  ["protocol version 0", ["start", "a", "--protocol-version", "0"], /positive integer/],
  ["a metrics transport of udp", ["start", "a", "--metrics-transport", "udp"], /expected unix or tcp/],
  ["a start timeout without a unit", ["start", "a", "--start-timeout", "30"], /--start-timeout: invalid duration/],
];
for (const [what, argv, message] of badStarts) {
  test(`start with ${what} exits 2 without calling the daemon`, async () => {
    const r = await runCli({ start: () => ({ plugin: abc }) }, argv);
    assert.equal(r.code, 2);
    assert.match(r.stderr, message);
    assert.deepEqual(r.calls, []);
  });
}

// --- stop, kill, restart ---------------------------------------------------------------

test("stop and restart pass --grace; kill has none; --json prints the plugin", async () => {
  const stopped = create(PluginInfoSchema, { name: "abc", state: PluginState.STOPPED });
  const methods = { stop: () => ({ plugin: stopped }), kill: () => ({ plugin: stopped }), restart: () => ({ plugin: abc }) };
  const stop = await runCli(methods, ["stop", "abc", "--grace", "2s"]);
  assert.equal(stop.calls[0][1].name, "abc");
  assert.equal(durationMs(stop.calls[0][1].grace), 2_000);
  assert.equal(stop.stdout, "stopped abc\n");
  const noGrace = await runCli(methods, ["stop", "abc"]);
  assert.equal(noGrace.calls[0][1].grace, undefined, "no --grace: the daemon's --stop-grace applies");
  const kill = await runCli(methods, ["kill", "abc", "--json"]);
  assert.deepEqual(kill.calls[0].slice(0, 2), ["kill", { name: "abc" }]);
  assert.equal(JSON.parse(kill.stdout).state, "STOPPED");
  const restart = await runCli(methods, ["restart", "abc", "--grace", "500ms", "--json"]);
  assert.equal(durationMs(restart.calls[0][1].grace), 500);
  assert.deepEqual(Object.keys(JSON.parse(restart.stdout)).sort(), PLUGIN_KEYS);
  assert.equal((await runCli(methods, ["kill", "abc", "--grace", "1s"])).code, 2, "kill takes no --grace");
});

// --- scrape and logs --------------------------------------------------------------------

test("scrape writes each chunk as it arrives, never waiting for the whole body", async () => {
  let writes = 0;
  const r = await runCli(
    {
      scrape: async function* () {
        yield { contentType: "text/plain; version=0.0.4", chunk: Buffer.from("# HELP a A.\na 1\n") };
        // Resumed only when the CLI asks for the next chunk: by then the first must be out.
        if (writes !== 1) throw new Error(`next chunk requested after ${writes} writes`);
        yield { contentType: "", chunk: new Uint8Array() };
        yield { contentType: "", chunk: Buffer.from("b 2\n") };
      },
    },
    ["scrape", "abc"],
    { onWrite: () => void writes++ },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.writes, ["# HELP a A.\na 1\n", "b 2\n"], "one write per non-empty chunk");
  assert.deepEqual(r.calls[0][1], { name: "abc", accept: "" });
});

test("scrape --openmetrics and --accept choose the Accept header", async () => {
  const scrape = async function* () {};
  const om = await runCli({ scrape }, ["scrape", "abc", "--openmetrics"]);
  assert.equal(om.calls[0][1].accept, "application/openmetrics-text; version=1.0.0");
  const custom = await runCli({ scrape }, ["scrape", "abc", "--accept", "text/plain"]);
  assert.equal(custom.calls[0][1].accept, "text/plain");
});

test("logs asks for -n lines and prints one line per log line", async () => {
  const r = await runCli(
    {
      logs: async function* () {
        yield { line: create(LogLineSchema, { time: timestampFromDate(new Date("2026-01-01T00:00:00Z")), stream: "stderr", text: "hello" }) };
      },
    },
    ["logs", "abc", "-n", "5"],
  );
  assert.deepEqual(r.calls[0][1], { name: "abc", lines: 5, follow: false });
  assert.equal(r.stdout, "2026-01-01T00:00:00.000Z stderr hello\n");
});

// --- daemon -----------------------------------------------------------------------------

async function daemonOptions(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string; opts?: DaemonOptions }> {
  const saved = { ...process.env };
  Object.assign(process.env, { XDG_STATE_HOME: "/xdg/state" }, env);
  let opts: DaemonOptions | undefined;
  try {
    const { main } = await import("../../src/cli/main.js");
    let stderr = "";
    const code = await main(["node", "plugprom", "daemon", ...args], {
      runDaemon: async (f: DaemonFlags) => void (opts = buildDaemonOptions(f, "/here")),
      writeErr: (t) => void (stderr += t),
    });
    return { code, stderr, opts };
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

test("daemon with no flags uses the documented defaults", async () => {
  const env = { PLUGPROM_GRPC_ADDR: undefined, PLUGPROM_HTTP_ADDR: undefined, PLUGPROM_ADVERTISE_ADDR: undefined, PLUGPROM_STATE_DIR: undefined };
  for (const k of Object.keys(env)) delete process.env[k];
  const { code, opts } = await daemonOptions([]);
  assert.equal(code, 0);
  assert.equal(opts!.grpcAddr, "127.0.0.1:50051");
  assert.equal(opts!.httpAddr, "0.0.0.0:2112");
  assert.equal(opts!.advertiseAddr, undefined);
  assert.equal(opts!.stateDir, "/xdg/state/plugprom");
  assert.equal(opts!.configFile, undefined);
  assert.equal(opts!.logLevel, "info");
  assert.equal(opts!.logFormat, "text");
  assert.equal(opts!.scrapeTimeoutMs, 10_000);
  assert.equal(opts!.stopGraceMs, 5_000);
  assert.equal(opts!.startTimeoutMs, 30_000);
  assert.equal(opts!.gzip, "auto");
  assert.equal(opts!.maxFederateBytes, 64 * 1024 * 1024);
});

test("daemon --gzip takes auto, always or never; --no-gzip is never; anything else is a usage error", async () => {
  assert.equal((await daemonOptions(["--gzip", "always"])).opts!.gzip, "always");
  assert.equal((await daemonOptions(["--gzip", "never"])).opts!.gzip, "never");
  assert.equal((await daemonOptions(["--no-gzip"])).opts!.gzip, "never");
  const bad = await daemonOptions(["--gzip", "sometimes"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'plugprom: --gzip "sometimes": expected auto, always or never\n');
});

test("daemon flags and PLUGPROM_* variables, paths made absolute", async () => {
  const { opts } = await daemonOptions(
    ["--http-addr", ":9000", "--state-dir", "state", "--config", "plugins.json", "--log-level", "debug", "--log-format", "json", "--stop-grace", "1m30s"],
    { PLUGPROM_GRPC_ADDR: "unix:/run/plugprom.sock", PLUGPROM_ADVERTISE_ADDR: "prom-host:9000" },
  );
  assert.equal(opts!.grpcAddr, "unix:/run/plugprom.sock");
  assert.equal(opts!.httpAddr, ":9000");
  assert.equal(opts!.advertiseAddr, "prom-host:9000");
  assert.equal(opts!.stateDir, "/here/state");
  assert.equal(opts!.configFile, "/here/plugins.json");
  assert.equal(opts!.logLevel, "debug");
  assert.equal(opts!.logFormat, "json");
  assert.equal(opts!.stopGraceMs, 90_000);
});

const badDaemon: Array<[string, string[], RegExp]> = [
  ["a malformed --grpc-addr", ["--grpc-addr", "localhost"], /--grpc-addr: address "localhost": expected host:port/],
  ["a port out of range", ["--http-addr", "0.0.0.0:70000"], /port out of range/],
  ["an unknown log level", ["--log-level", "trace"], /--log-level "trace": expected debug, info, warn or error/],
  ["an unknown log format", ["--log-format", "xml"], /--log-format "xml": expected text or json/],
  ["a bad duration", ["--scrape-timeout", "10"], /--scrape-timeout: invalid duration/],
  ["a zero duration", ["--start-timeout", "0s"], /--start-timeout: must be greater than 0/],
];
for (const [what, args, message] of badDaemon) {
  test(`daemon with ${what} exits 2 before starting`, async () => {
    const { code, stderr, opts } = await daemonOptions(args);
    assert.equal(code, 2);
    assert.match(stderr, message);
    assert.equal(opts, undefined);
  });
}
