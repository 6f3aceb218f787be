// The monitoring mixin against the real thing: a Prometheus that loads mixin/alerts.yaml as
// shipped and discovers a real daemon over HTTP SD raises the crash-loop alert for a
// crash-looping plugin, the down alert for a killed one and nothing for a healthy one; every
// dashboard query runs against it; and a daemon outage is one alert, not one per plugin.
// The shipped `for:` durations stay as they are: an alert is asserted pending or firing, and
// a pending alert is listed as soon as its expression holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildGoProgram } from "../helpers/go-build.js";
import { getPlugin, startDaemon, waitFor } from "../helpers/daemon.js";
import { alertsFile, dashboardQueries, loadDashboard } from "../helpers/mixin.js";
import { sdJobConfig, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";

interface Alert {
  labels: Record<string, string>;
  state: "pending" | "firing";
}

const alerts = async (prom: PrometheusHandle) => (await prom.api<{ alerts: Alert[] }>("/api/v1/alerts")).alerts;
const alertsOf = (all: Alert[], plugin: string) => all.filter((a) => a.labels.plugin === plugin).map((a) => a.labels.alertname).sort();
const query = async (prom: PrometheusHandle, expr: string) =>
  (await prom.api<{ result: unknown[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result;

test("Prometheus with the mixin's rules alerts on a crash-looping and a killed plugin, not on a healthy one, and runs every dashboard query", async (t) => {
  const goGreeter = await buildGoProgram("goplugin-greeter");
  // A backoff capped at 2 s: the crash loop reaches CRASHLOOP within seconds and stays in it
  // (between restarts) for about 2 s at a time, longer than one scrape interval.
  const d = await startDaemon({ args: ["--backoff-initial", "200ms", "--backoff-max", "2s"] });
  t.after(() => d.close());
  const started = async (args: string[]) => {
    const r = await d.cli(["start", ...args]);
    assert.equal(r.code, 0, r.stderr);
  };
  await started(["healthy", "--env", "PLUGPROM_GREETER_TICK_MS=200"]);
  await started(["killed", "--restart", "never"]);
  // Exits 400 ms after serving, forever (exit 7): restarted, five exits within 60 s → CRASHLOOP.
  await started(["looping", "--env", "GREETER_MODE=exit-after-handshake", "--env", "GREETER_EXIT_AFTER=400ms", "--", goGreeter]);

  const prom = await startPrometheus(sdJobConfig(d.httpAddr, [alertsFile]));
  t.after(() => prom.close());

  await waitFor("the daemon and the healthy plugin scraped", async () => (await query(prom, 'up{job="plugprom", plugin=~"|healthy"} == 1')).length === 2, 30_000);
  process.kill((await getPlugin(d, "killed")).pid!, "SIGKILL");

  await t.test("the crash-looping plugin: PlugpromPluginCrashLooping", async () => {
    await waitFor("PlugpromPluginCrashLooping for looping", async () => alertsOf(await alerts(prom), "looping").includes("PlugpromPluginCrashLooping"), 60_000);
  });

  await t.test("the killed plugin: PlugpromPluginDown and nothing else", async () => {
    await waitFor("PlugpromPluginDown alone for killed", async () => alertsOf(await alerts(prom), "killed").join() === "PlugpromPluginDown", 30_000);
  });

  await t.test("the healthy plugin: no alert at all, and every rule evaluates without error", async () => {
    assert.deepEqual(alertsOf(await alerts(prom), "healthy"), []);
    const groups = (await prom.api<{ groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> }>("/api/v1/rules")).groups;
    assert.deepEqual(groups.map((g) => g.name).sort(), ["plugprom.alerts", "plugprom.rules"]);
    for (const r of groups.flatMap((g) => g.rules)) assert.equal(r.health, "ok", `${r.name}: ${r.lastError}`);
    const daemonDown = (await alerts(prom)).filter((a) => a.labels.alertname === "PlugpromDaemonDown");
    assert.deepEqual(daemonDown, [], "the daemon is up");
  });

  await t.test("every dashboard query runs without error, nearly all with data; the variables' own queries find the job and the plugins", async () => {
    const vars = { datasource: "prometheus", job: "plugprom", plugin: "healthy|killed|looping", __rate_interval: "10s" };
    const queries = dashboardQueries(vars);
    // Counters need two samples in the rate window.
    await waitFor("ten seconds of samples", async () => (await query(prom, 'count_over_time(up{job="plugprom", plugin=""}[10s]) >= 5')).length === 1, 30_000);
    const empty: string[] = [];
    for (const q of queries) {
      const result = await query(prom, q.expr); // throws on a PromQL error (HTTP 400)
      if (result.length === 0) empty.push(q.panel);
    }
    assert.ok(empty.length <= queries.length / 10, `${empty.length} of ${queries.length} queries returned nothing: ${empty.join(", ")}`);

    const variables = loadDashboard().templating.list.filter((v) => v.type === "query");
    for (const v of variables) {
      const text = typeof v.query === "string" ? v.query : v.query.query;
      const m = /^label_values\((.+), (\w+)\)$/.exec(text.replaceAll("$job", vars.job));
      assert.ok(m, `${v.name}: ${text}`);
      const values = await prom.api<string[]>(`/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(m[1])}`);
      const expected = v.name === "job" ? ["plugprom"] : ["healthy", "killed", "looping"];
      for (const e of expected) assert.ok(values.includes(e), `${v.name} offers ${e}: ${values.join(", ")}`);
    }
  });

  await t.test("the daemon stops: PlugpromDaemonDown, and no plugin alert for its unreachable targets", async () => {
    assert.equal(await d.stop(), 0);
    await waitFor("PlugpromDaemonDown alone, apart from the earlier crash loop", async () => {
      const names = new Set((await alerts(prom)).map((a) => a.labels.alertname));
      return names.has("PlugpromDaemonDown") && !names.has("PlugpromPluginTargetDown") && !names.has("PlugpromPluginDown");
    }, 30_000);
  });
});
