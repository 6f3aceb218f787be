// The product's spine, end to end with real processes: a daemon, the CLI binary and the
// bundled greeter plugin.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { connect } from "node:http2";
import { join } from "node:path";
import { daemon, getPlugin, httpGet, isAlive, type PluginJson, waitFor } from "../helpers/daemon.js";
import { repoRoot } from "../helpers/paths.js";
import { processesStartedBy } from "../helpers/procs.js";

const fixtures = join(repoRoot, "test", "fixtures", "plugins");

const getJson = getPlugin;

test("start abc, list, targets, scrape through the proxy, stop: the whole loop", async (t) => {
  const d = await daemon(t);

  const started = await d.cli(["start", "abc", "--label", "team=core"]);
  assert.equal(started.code, 0, started.stderr);

  const list = await d.cli(["list", "--json"]);
  assert.equal(list.code, 0, list.stderr);
  const plugins = JSON.parse(list.stdout) as PluginJson[];
  assert.equal(plugins.length, 1);
  assert.equal(plugins[0].name, "abc");
  assert.equal(plugins[0].state, "RUNNING");
  assert.ok(plugins[0].pid && isAlive(plugins[0].pid), "the plugin process runs");
  assert.deepEqual(plugins[0].labels, { team: "core" });
  assert.match(plugins[0].metricsEndpoint, /^unix:\/.*\/sockets\/abc\.metrics\.sock$/);

  const targets = await d.cli(["targets"]);
  assert.equal(targets.code, 0, targets.stderr);
  const sd = await httpGet(`${d.httpBase}/sd_config`);
  assert.equal(sd.status, 200);
  assert.match(String(sd.headers["content-type"]), /^application\/json/);
  assert.equal(targets.stdout, sd.body, "`targets` prints exactly what Prometheus gets");
  const groups = JSON.parse(sd.body) as Array<{ targets: string[]; labels: Record<string, string> }>;
  const abc = groups.filter((g) => g.labels.__meta_plugprom_plugin === "abc");
  assert.equal(abc.length, 1, "exactly one target group per running plugin");
  assert.deepEqual(abc[0].targets, [d.advertiseAddr]);
  assert.equal(abc[0].labels.__metrics_path__, "/plugins/abc/metrics");
  assert.equal(abc[0].labels.team, "core");
  assert.equal(groups.filter((g) => g.labels.__meta_plugprom_role === "daemon").length, 1);
  assert.deepEqual(JSON.parse((await httpGet(`${d.httpBase}/discovery`)).body), groups, "/discovery is an alias");

  // The daemon greets the bundled greeter once after start.
  await waitFor("the greeting to be counted", async () =>
    /^plugin_greet_count(\{[^}]*\})? 1$/m.test((await httpGet(`${d.httpBase}/plugins/abc/metrics`)).body),
  );
  const scrape = await d.cli(["scrape", "abc"]);
  assert.equal(scrape.code, 0, scrape.stderr);
  assert.match(scrape.stdout, /^# TYPE plugin_greet_count /m);
  assert.match(scrape.stdout, /^plugin_ticker_count/m);

  const own = await httpGet(`${d.httpBase}/metrics`);
  assert.match(own.body, /^plugprom_plugin_starts_total\{plugin="abc"\} 1$/m);
  assert.match(own.body, /^plugprom_plugin_up\{plugin="abc"\} 1$/m);

  const pid = plugins[0].pid!;
  const stopped = await d.cli(["stop", "abc"]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.ok(!isAlive(pid), "the plugin process is gone after stop");
  const after = JSON.parse((await d.cli(["targets"])).stdout) as typeof groups;
  assert.deepEqual(
    after.map((g) => g.labels.__meta_plugprom_role),
    ["daemon"],
    "no plugin targets once it is stopped",
  );
  assert.equal((await httpGet(`${d.httpBase}/plugins/abc/metrics`)).status, 404);
  assert.deepEqual(processesStartedBy(d.stateDir), []);
});

test("daemon.json records the ports actually bound when asked for port 0", async (t) => {
  const d = await daemon(t);
  const state = JSON.parse(await readFile(join(d.stateDir, "daemon.json"), "utf8")) as Record<string, unknown>;
  assert.match(String(state.grpcAddr), /^127\.0\.0\.1:[1-9]\d*$/);
  assert.match(String(state.httpAddr), /^127\.0\.0\.1:[1-9]\d*$/);
  assert.equal(state.pid, d.proc.pid);
  assert.equal((await httpGet(`${d.httpBase}/healthz`)).status, 200);
  const status = await d.cli(["status", "--json"]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal((JSON.parse(status.stdout) as { grpcAddr: string }).grpcAddr, d.grpcAddr);
});

test("starting a name that is already running exits 5, stopping an unknown one exits 4", async (t) => {
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "dup"])).code, 0);
  const again = await d.cli(["start", "dup"]);
  assert.equal(again.code, 5);
  assert.match(again.stderr, /already exists/);
  assert.equal(again.stderr.trim().split("\n").length, 1, "one line, no stack trace");

  const unknown = await d.cli(["stop", "nope"]);
  assert.equal(unknown.code, 4);
  assert.match(unknown.stderr, /"nope" not found/);
  assert.equal((await d.cli(["kill", "nope"])).code, 4);
  assert.equal((await d.cli(["scrape", "nope"])).code, 4);
});

test("an invalid instance name is refused by the CLI (exit 2) and by the daemon itself", async (t) => {
  const d = await daemon(t);
  const r = await d.cli(["start", "../etc"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /invalid instance name/);

  // Straight to the daemon over the Connect protocol, bypassing the CLI's check.
  const { status, body } = await connectJson(d.grpcAddr, "Start", { name: "Bad/Name" });
  assert.equal(status, 400);
  assert.equal((JSON.parse(body) as { code: string }).code, "invalid_argument");
  assert.equal(JSON.parse((await d.cli(["list", "--json"])).stdout).length, 0);
});

const badPlugins: Array<[string, string[], number, RegExp]> = [
  ["a command that does not exist", ["--", "/nonexistent/plugin"], 2, /does not exist/],
  ["a file that is not executable", ["--", join(fixtures, "not-executable.txt")], 2, /not an executable/],
  ["a plugin that exits before its handshake", ["--", join(fixtures, "exits-before-handshake.sh")], 1, /exited before its handshake \(exit 3\).*cannot open config/],
  ["a program that prints something that is not a handshake", ["--", join(fixtures, "not-a-handshake.sh")], 1, /unrecognized handshake line "Welcome to some server/],
  ["a plugin that exceeds the start timeout", ["--start-timeout", "1s", "--", join(fixtures, "never-handshakes.sh")], 1, /did not print its handshake within 1000 ms.*starting up slowly/],
];
for (const [what, args, code, message] of badPlugins) {
  test(`${what}: start fails (exit ${code}) with the reason, nothing is left running`, async (t) => {
    const d = await daemon(t);
    const r = await d.cli(["start", "bad", ...args]);
    assert.equal(r.code, code, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, "one line on stderr");
    assert.deepEqual(processesStartedBy(d.stateDir), [], "the plugin and its process group are reaped");
    assert.equal(JSON.parse((await d.cli(["list", "--json"])).stdout).length, 0, "the name is free again");
    assert.equal((await httpGet(`${d.httpBase}/healthz`)).status, 200, "the daemon stays healthy");
    assert.equal((await d.cli(["start", "good"])).code, 0, "and still starts plugins");
  });
}

test("a plugin that dies later (restart policy never) is marked CRASHED; its target stays so Prometheus records up == 0", async (t) => {
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "fragile", "--restart", "never"])).code, 0);
  const { pid } = await getJson(d, "fragile");
  process.kill(pid!, "SIGKILL");
  await waitFor("state CRASHED", async () => (await getJson(d, "fragile")).state === "CRASHED");
  const info = await getJson(d, "fragile");
  assert.equal(info.lastExitSignal, "SIGKILL");
  assert.match(info.lastError ?? "", /exited unexpectedly \(signal SIGKILL\)/);
  assert.equal(info.pid, null);
  const groups = JSON.parse((await httpGet(`${d.httpBase}/sd_config`)).body) as Array<{ labels: Record<string, string> }>;
  assert.equal(groups.find((g) => g.labels.__meta_plugprom_plugin === "fragile")?.labels.__meta_plugprom_state, "crashed");
  assert.equal((await httpGet(`${d.httpBase}/plugins/fragile/metrics`)).status, 503);
  const own = await httpGet(`${d.httpBase}/metrics`);
  assert.match(own.body, /^plugprom_plugin_up\{plugin="fragile"\} 0$/m);
  assert.equal((await d.cli(["stop", "fragile"])).code, 0, "a crashed plugin can be stopped (forgotten)");
});

test("SIGTERM to the daemon stops every plugin gracefully and exits 0", async (t) => {
  const d = await daemon(t);
  for (const name of ["one", "two"]) assert.equal((await d.cli(["start", name])).code, 0);
  assert.equal(processesStartedBy(d.stateDir).length, 2);
  assert.equal(await d.stop(), 0);
  assert.deepEqual(processesStartedBy(d.stateDir), []);
  assert.match(d.log(), /plugprom daemon stopped/);
});

/** A Connect-protocol unary call with JSON, as `curl --http2-prior-knowledge` would make it. */
function connectJson(addr: string, method: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${addr}`);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": `/plugprom.v1.ControlService/${method}`,
      "content-type": "application/json",
    });
    let status = 0;
    let text = "";
    req.on("response", (h) => (status = Number(h[":status"])));
    req.setEncoding("utf8");
    req.on("data", (c: string) => (text += c));
    req.on("end", () => {
      session.close();
      resolve({ status, body: text });
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

test("--metrics-transport tcp gives a loopback port, and {{metrics_port}} in the arguments selects it", async (t) => {
  const d = await daemon(t);
  const greeter = join(repoRoot, "dist", "src", "plugin", "examples", "greeter.js");
  assert.equal((await d.cli(["start", "viaport", "--", process.execPath, greeter, "-port", "{{metrics_port}}"])).code, 0);
  const info = await getJson(d, "viaport");
  const m = /^127\.0\.0\.1:(\d+)$/.exec(info.metricsEndpoint);
  assert.ok(m, info.metricsEndpoint);
  assert.deepEqual(info.args, [greeter, "-port", m[1]], "the placeholder became the port");
  assert.match((await httpGet(`${d.httpBase}/plugins/viaport/metrics`)).body, /^plugin_greet_count/m);

  assert.equal((await d.cli(["start", "explicit", "--metrics-transport", "tcp"])).code, 0);
  assert.match((await getJson(d, "explicit")).metricsEndpoint, /^127\.0\.0\.1:\d+$/);
  assert.equal((await httpGet(`${d.httpBase}/plugins/explicit/metrics`)).status, 200);
});

test("a wildcard --http-addr is advertised under the machine's hostname, never localhost", async (t) => {
  const { hostname } = await import("node:os");
  const d = await daemon(t, ["--http-addr", "0.0.0.0:0"]);
  assert.equal(d.advertiseAddr, `${hostname()}:${d.httpAddr.split(":")[1]}`);
  const explicit = await daemon(t, ["--advertise-addr", "prom-visible.example:9999"]);
  const groups = JSON.parse((await explicit.cli(["targets"])).stdout) as Array<{ targets: string[] }>;
  assert.deepEqual(groups[0].targets, ["prom-visible.example:9999"]);
});

test("a catalog entry (--config) starts by name with its labels and env merged; an unknown entry exits 4", async (t) => {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "pp-catalog-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const catalog = join(dir, "plugins.json");
  writeFileSync(
    catalog,
    JSON.stringify({
      plugins: {
        greeter: {
          command: process.execPath,
          args: [join(repoRoot, "dist", "src", "plugin", "examples", "greeter.js")],
          labels: { team: "catalog", tier: "1" },
          env: { PLUGPROM_GREETER_TICK_MS: "100" },
          restart: "never",
        },
      },
    }),
  );
  const d = await daemon(t, ["--config", catalog, "--log-format", "json"]);
  const r = await d.cli(["start", "fromcat", "--plugin", "greeter", "--label", "tier=2", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as PluginJson & { plugin: string; restartPolicy: string; workingDir: string };
  assert.equal(info.plugin, "greeter");
  assert.deepEqual(info.labels, { team: "catalog", tier: "2" }, "start flags override the entry");
  assert.equal(info.restartPolicy, "never");
  assert.equal(info.workingDir, dir, "a catalog entry runs in its file's directory");
  const unknown = await d.cli(["start", "x", "--plugin", "nosuch"]);
  assert.equal(unknown.code, 4);
  assert.match(unknown.stderr, /no plugin "nosuch" in the catalog \(known: greeter\)/);
  // --log-format json: every daemon line is one JSON object.
  const lines = d.log().trim().split("\n");
  assert.ok(lines.every((l) => typeof (JSON.parse(l) as { msg: string }).msg === "string"));
});

test("a catalog with a mistake stops the daemon at startup with exit 2 and the field named", async (t) => {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { spawnSync } = await import("node:child_process");
  const { PLUGPROM, testEnv } = await import("../helpers/daemon.js");
  const dir = mkdtempSync(join(tmpdir(), "pp-catalog-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ plugins: { greeter: { command: "x", lables: {} } } }));
  const r = spawnSync(PLUGPROM, ["daemon", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--state-dir", join(dir, "s"), "--config", join(dir, "bad.json")], { encoding: "utf8", env: testEnv(), timeout: 15_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /plugins\.greeter\.lables: unknown field/);
});
