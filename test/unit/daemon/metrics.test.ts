import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Counter, Histogram, Registry } from "prom-client";
import { DaemonMetrics } from "../../../src/daemon/metrics.js";
import { FakeDirectory } from "../../helpers/fake-directory.js";
import { PluginState } from "../../../src/shared/gen/plugprom/v1/control_pb.js";

const STATES = ["STARTING", "RUNNING", "STOPPING", "STOPPED", "CRASHED", "FAILED", "BACKOFF", "CRASHLOOP"];

/** The samples of one family, as `name{labels} value` lines. */
async function samples(m: DaemonMetrics, family: string): Promise<string[]> {
  const text = await m.registry.metrics();
  return text.split("\n").filter((l) => l.startsWith(`${family}{`) || l.startsWith(`${family} `));
}

test("plugprom_plugin_up is read from the directory at every collection", async () => {
  const dir = new FakeDirectory();
  const m = new DaemonMetrics(dir);
  dir.add("a", PluginState.RUNNING);
  dir.add("b", PluginState.CRASHED);
  assert.deepEqual(await samples(m, "plugprom_plugin_up"), ['plugprom_plugin_up{plugin="a"} 1', 'plugprom_plugin_up{plugin="b"} 0']);
  dir.remove("b");
  dir.add("a", PluginState.STOPPING);
  assert.deepEqual(await samples(m, "plugprom_plugin_up"), ['plugprom_plugin_up{plugin="a"} 0'], "a forgotten instance's series goes away");
});

test("plugprom_plugins counts instances per state, every state present even at zero", async () => {
  const dir = new FakeDirectory();
  const m = new DaemonMetrics(dir);
  dir.add("a", PluginState.RUNNING);
  dir.add("b", PluginState.RUNNING);
  dir.add("c", PluginState.FAILED);
  const lines = await samples(m, "plugprom_plugins");
  const counts = Object.fromEntries(lines.map((l) => [/state="([A-Z]+)"/.exec(l)![1], Number(l.split(" ")[1])]));
  assert.deepEqual(Object.keys(counts).sort(), [...STATES].sort());
  assert.equal(counts.RUNNING, 2);
  assert.equal(counts.FAILED, 1);
  assert.equal(counts.STOPPED, 0);
});

test("starts, stops and proxied requests are counted per plugin", async () => {
  const dir = new FakeDirectory();
  const m = new DaemonMetrics(dir);
  m.pluginStarted("a");
  m.pluginStarted("a");
  m.pluginStopped("a");
  m.proxyRequest("a", 200, 0.02);
  m.proxyRequest("a", 200, 0.03);
  m.proxyRequest("a", 504, 10);
  m.proxyRequest("", 404, 0.0001);
  assert.deepEqual(await samples(m, "plugprom_plugin_starts_total"), ['plugprom_plugin_starts_total{plugin="a"} 2']);
  assert.deepEqual(await samples(m, "plugprom_plugin_stops_total"), ['plugprom_plugin_stops_total{plugin="a"} 1']);
  assert.deepEqual((await samples(m, "plugprom_proxy_requests_total")).sort(), [
    'plugprom_proxy_requests_total{plugin="",code="404"} 1',
    'plugprom_proxy_requests_total{plugin="a",code="200"} 2',
    'plugprom_proxy_requests_total{plugin="a",code="504"} 1',
  ]);
  const count = await samples(m, "plugprom_proxy_request_duration_seconds_count");
  assert.ok(count.includes('plugprom_proxy_request_duration_seconds_count{plugin="a"} 3'), count.join("\n"));
  const buckets = (await samples(m, "plugprom_proxy_request_duration_seconds_bucket")).filter((l) => l.includes('plugin="a"'));
  assert.ok(buckets.includes('plugprom_proxy_request_duration_seconds_bucket{le="0.025",plugin="a"} 1'), buckets.join("\n"));
  assert.ok(buckets.includes('plugprom_proxy_request_duration_seconds_bucket{le="10",plugin="a"} 3'), "a scrape at a 10 s timeout still lands in a bucket below +Inf");
});

test("plugprom_plugin_state has one series per instance, for its current state, and follows it", async () => {
  const dir = new FakeDirectory();
  const m = new DaemonMetrics(dir);
  dir.add("a", PluginState.RUNNING);
  dir.add("b", PluginState.CRASHLOOP);
  assert.deepEqual(await samples(m, "plugprom_plugin_state"), ['plugprom_plugin_state{plugin="a",state="RUNNING"} 1', 'plugprom_plugin_state{plugin="b",state="CRASHLOOP"} 1']);
  dir.add("b", PluginState.FAILED);
  dir.remove("a");
  assert.deepEqual(await samples(m, "plugprom_plugin_state"), ['plugprom_plugin_state{plugin="b",state="FAILED"} 1'], "the old state's series and a forgotten instance's go away");
});

test("a started plugin's restart, liveness-restart, truncation and federate counters exist at 0, so the first event is a visible increase", async () => {
  const m = new DaemonMetrics(new FakeDirectory());
  m.pluginStarted("a");
  for (const family of ["plugprom_plugin_restarts_total", "plugprom_plugin_liveness_restarts_total", "plugprom_proxy_truncated_total", "plugprom_federate_dropped_families_total"]) {
    assert.deepEqual(await samples(m, family), [`${family}{plugin="a"} 0`]);
  }
  m.pluginRestarted("a");
  m.pluginStarted("a");
  assert.deepEqual(await samples(m, "plugprom_plugin_restarts_total"), ['plugprom_plugin_restarts_total{plugin="a"} 1'], "a restart's start does not reset it");
  m.pluginLivenessRestarted("a");
  assert.deepEqual(await samples(m, "plugprom_plugin_liveness_restarts_total"), ['plugprom_plugin_liveness_restarts_total{plugin="a"} 1']);
});

test("proxied bytes are counted per known plugin, never for unknown names", async () => {
  const m = new DaemonMetrics(new FakeDirectory());
  m.proxyRequest("a", 200, 0.01, 1500);
  m.proxyRequest("a", 200, 0.01, 500);
  m.proxyRequest("a", 429, 0);
  m.proxyRequest("", 404, 0);
  assert.deepEqual(await samples(m, "plugprom_proxy_response_bytes_total"), ['plugprom_proxy_response_bytes_total{plugin="a"} 2000']);
});

test("the default process and Node.js metrics are there, and each family has one HELP", async () => {
  const dir = new FakeDirectory();
  dir.add("self", PluginState.RUNNING, { pid: process.pid });
  const m = new DaemonMetrics(dir);
  const text = await m.registry.metrics();
  for (const family of ["process_cpu_seconds_total", "process_start_time_seconds", "nodejs_heap_size_used_bytes"]) {
    assert.match(text, new RegExp(`^# TYPE ${family} `, "m"));
  }
  const helps = text.split("\n").filter((l) => l.startsWith("# HELP ")).map((l) => l.split(" ")[2]);
  assert.equal(new Set(helps).size, helps.length, "no duplicate HELP");
  for (const name of helps.filter((n) => n.startsWith("plugprom_"))) {
    const type = new RegExp(`^# TYPE ${name} (\\w+)$`, "m").exec(text)![1];
    assert.equal(type === "counter", name.endsWith("_total"), `${name} is a ${type}: _total exactly on counters`);
  }
});

test("promtool check metrics finds nothing to complain about", async (t) => {
  const which = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" });
  if (which.status !== 0) return t.skip("promtool not installed");
  const dir = new FakeDirectory();
  dir.add("self", PluginState.RUNNING, { pid: process.pid });
  dir.add("down", PluginState.CRASHED);
  const m = new DaemonMetrics(dir);
  m.pluginStarted("self");
  m.pluginStopped("down");
  m.proxyRequest("self", 200, 0.1);
  m.proxyRequest("", 404, 0);
  const r = spawnSync(which.stdout.trim(), ["check", "metrics"], { input: await m.registry.metrics(), encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), "");
});

test("memory: the effective limit of each limited instance, and restarts for memory present at 0 from the first start", async () => {
  const dir = new FakeDirectory();
  const m = new DaemonMetrics(dir);
  dir.add("capped", PluginState.RUNNING, { limits: { memoryBytes: 96 * 2 ** 20, pids: 0 } });
  dir.add("free", PluginState.RUNNING);
  m.pluginStarted("capped");
  assert.deepEqual(await samples(m, "plugprom_plugin_memory_limit_bytes"), [`plugprom_plugin_memory_limit_bytes{plugin="capped"} ${96 * 2 ** 20}`], "none for an instance without a limit");
  assert.deepEqual(await samples(m, "plugprom_plugin_memory_restarts_total"), ['plugprom_plugin_memory_restarts_total{plugin="capped"} 0']);
  m.pluginMemoryRestarted("capped");
  assert.deepEqual(await samples(m, "plugprom_plugin_memory_restarts_total"), ['plugprom_plugin_memory_restarts_total{plugin="capped"} 1']);
});

test("the proxy's families read exactly as prom-client's own Counter and Histogram would render them", async () => {
  // The reference: the classes these families were built with before they kept plain counts.
  const reference = new Registry();
  const registers = [reference];
  const requests = new Counter({
    name: "plugprom_proxy_requests_total",
    help: "Scrape requests for plugins, by HTTP status code returned; plugin is empty when the name matched no instance.",
    labelNames: ["plugin", "code"],
    registers,
  });
  const duration = new Histogram({
    name: "plugprom_proxy_request_duration_seconds",
    help: "Time to proxy a scrape, until the last byte was sent.",
    labelNames: ["plugin"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const bytes = new Counter({
    name: "plugprom_proxy_response_bytes_total",
    help: "Bytes of plugin expositions proxied, as the plugin sent them (before any gzip by the proxy).",
    labelNames: ["plugin"],
    registers,
  });
  const m = new DaemonMetrics(new FakeDirectory());
  const calls: Array<[string, number, number, number]> = [
    ["a", 200, 0.0004, 57_000],
    ["a", 200, 0.001, 57_000], // on a bound: in that bucket, as prom-client counts it
    ["b", 503, 0.3, 0],
    ["", 404, 0.00001, 0],
    ["a", 504, 12, 100],
    ["a", 200, 0.02, 4_000],
    ["b", 200, 0.0031, 1],
  ];
  for (const [plugin, code, seconds, n] of calls) {
    m.proxyRequest(plugin, code, seconds, n);
    requests.inc({ plugin, code: String(code) });
    duration.observe({ plugin }, seconds);
    if (plugin !== "") bytes.inc({ plugin }, n);
  }
  const families = (text: string) =>
    text
      .split("\n\n")
      .filter((f) => f.includes("# TYPE plugprom_proxy_re"))
      .map((f) => f.split("\n").sort().join("\n"))
      .sort();
  assert.deepEqual(families(await m.registry.metrics()), families(await reference.metrics()));
  assert.equal(families(await m.registry.metrics()).length, 3);
  const last = m.lastScrape("b")!;
  assert.deepEqual([last.code, last.seconds, last.bytes], [200, 0.0031, 1]);
  assert.ok(Math.abs(last.at.getTime() - Date.now()) < 60_000);
  assert.equal(m.lastScrape(""), undefined, "requests for unknown names have no last scrape");
});
