// The product's promise, checked by Prometheus itself: one http_sd_configs job discovers
// every plugin through the daemon and scrapes it through the proxy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { daemon, waitFor } from "../helpers/daemon.js";
import { sdJobConfig, startPrometheus } from "../helpers/prometheus.js";

interface ActiveTarget {
  scrapeInterval: string;
  scrapeTimeout: string;
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

test("Prometheus discovers and scrapes every plugin through the daemon, and follows stops and crashes", async (t) => {
  const d = await daemon(t, [], { env: {} });
  const tick = ["--env", "PLUGPROM_GREETER_TICK_MS=200"];
  assert.equal((await d.cli(["start", "one", ...tick])).code, 0);
  assert.equal((await d.cli(["start", "two", "--label", "team=core", "--scrape-interval", "2s", "--scrape-timeout", "1500ms", "--restart", "never", ...tick])).code, 0);

  const prom = await startPrometheus(sdJobConfig(d.httpAddr));
  t.after(() => prom.close());

  const targets = async () => (await prom.api<{ activeTargets: ActiveTarget[] }>("/api/v1/targets?state=active")).activeTargets;
  const byPlugin = (ts: ActiveTarget[]) => new Map(ts.map((x) => [x.discoveredLabels.__meta_plugprom_plugin ?? "(daemon)", x]));

  await waitFor("three targets up in Prometheus", async () => {
    const ts = await targets();
    return ts.length === 3 && ts.every((x) => x.health === "up");
  }, 30_000);
  const up = byPlugin(await targets());
  assert.deepEqual([...up.keys()].sort(), ["(daemon)", "one", "two"]);
  assert.equal(up.get("(daemon)")!.discoveredLabels.__meta_plugprom_role, "daemon");
  assert.equal(up.get("two")!.labels.team, "core", "user labels reach the target");
  assert.equal(up.get("two")!.labels.plugin, "two");
  assert.equal(up.get("one")!.scrapeUrl, `http://${d.advertiseAddr}/plugins/one/metrics`);
  assert.equal(up.get("one")!.scrapeInterval, "1s", "the job's interval");
  assert.equal(up.get("two")!.scrapeInterval, "2s", "__scrape_interval__ from --scrape-interval");
  assert.equal(up.get("two")!.scrapeTimeout, "1s500ms");
  const own = await fetch(`http://${d.httpAddr}/metrics`).then((r) => r.text());
  assert.match(own, /^plugprom_sd_refresh_interval_seconds 1$/m, "Prometheus' refresh interval header is recorded");

  for (const metric of ["plugin_greet_count", "plugin_ticker_count"]) {
    await waitFor(`${metric} for both plugins`, async () => {
      const r = await prom.api<{ result: VectorSample[] }>(`/api/v1/query?query=${metric}`);
      return r.result.map((s) => s.metric.plugin).sort().join(",") === "one,two";
    }, 20_000);
  }
  const greets = await prom.api<{ result: VectorSample[] }>("/api/v1/query?query=plugin_greet_count");
  assert.ok(greets.result.every((s) => Number(s.value[1]) >= 1), "each plugin was greeted once by the daemon");

  // A stopped plugin's target disappears on the next SD refresh.
  assert.equal((await d.cli(["stop", "one"])).code, 0);
  await waitFor("target one to disappear", async () => !byPlugin(await targets()).has("one"), 20_000);

  // A plugin whose process is killed (and not restarted) stays listed (CRASHED) and shows as down.
  const two = JSON.parse((await d.cli(["get", "two", "--json"])).stdout) as { pid: number };
  process.kill(two.pid, "SIGKILL");
  await waitFor("target two to be down", async () => byPlugin(await targets()).get("two")?.health === "down", 20_000);
  await waitFor("up{plugin=\"two\"} == 0", async () => {
    const r = await prom.api<{ result: VectorSample[] }>('/api/v1/query?query=up{plugin="two"}');
    return r.result.length === 1 && r.result[0].value[1] === "0";
  }, 20_000);
});

test("Prometheus scraping /federate as one static target stores every plugin's series under its plugin label", async (t) => {
  const d = await daemon(t, [], { env: {} });
  for (const n of ["one", "two"]) assert.equal((await d.cli(["start", n, "--env", "PLUGPROM_GREETER_TICK_MS=200"])).code, 0);
  const prom = await startPrometheus(`
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: federate
    metrics_path: /federate
    static_configs:
      - targets: ["${d.httpAddr}"]
`);
  t.after(() => prom.close());
  const query = async (q: string) => (await prom.api<{ result: VectorSample[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result;
  await waitFor("both plugins' ticker counts in Prometheus", async () => (await query('plugin_ticker_count{job="federate"} > 0')).length === 2, 30_000);
  const ticks = await query('plugin_ticker_count{job="federate"}');
  assert.deepEqual(ticks.map((s) => s.metric.plugin).sort(), ["one", "two"]);
  const up = await query("plugprom_federate_plugin_up");
  assert.deepEqual(up.map((s) => [s.metric.plugin, s.value[1]]).sort(), [["one", "1"], ["two", "1"]]);
  // Prometheus parsed the merged exposition without error.
  const health = (await prom.api<{ activeTargets: ActiveTarget[] }>("/api/v1/targets?state=active")).activeTargets;
  assert.equal(health.length, 1);
  assert.equal(health[0].health, "up", health[0].lastError);
});
