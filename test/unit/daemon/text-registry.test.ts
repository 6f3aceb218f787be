import { test } from "node:test";
import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry, Summary } from "prom-client";
import { TextRegistry } from "../../../src/daemon/text-registry.js";
import { DaemonMetrics } from "../../../src/daemon/metrics.js";
import { FakeDirectory } from "../../helpers/fake-directory.js";
import { PluginState } from "../../../src/shared/gen/plugprom/v1/control_pb.js";

test("TextRegistry renders byte for byte what prom-client's Registry renders, escapes and special values included", async () => {
  const fast = new TextRegistry();
  const reference = new Registry();
  const registers = [fast, reference];
  const c = new Counter({ name: "c_total", help: 'a help with \\ a backslash,\na newline and "quotes"', labelNames: ["plugin", "code"], registers });
  c.inc({ plugin: "a", code: "200" }, 3);
  c.inc({ plugin: 'we"ird\\na\nme', code: "404" });
  c.inc({ code: "500", plugin: "b" }); // label order as given
  new Counter({ name: "unlabelled_total", help: "h", registers }).inc(2.5);
  new Counter({ name: "empty_total", help: "no samples yet", labelNames: ["plugin"], registers });
  const g = new Gauge({ name: "g", help: "h", labelNames: ["plugin"], registers });
  g.set({ plugin: "nan" }, NaN);
  g.set({ plugin: "inf" }, Infinity);
  g.set({ plugin: "-inf" }, -Infinity);
  g.set({ plugin: "tiny" }, 1e-7);
  g.set({ plugin: "big" }, 123456789012345680000);
  const h = new Histogram({ name: "h_seconds", help: "h", labelNames: ["plugin"], buckets: [0.001, 0.5, 10], registers });
  h.observe({ plugin: "a" }, 0.0002);
  h.observe({ plugin: "a" }, 30);
  h.observe({ plugin: "b" }, 0.5);
  new Histogram({ name: "unlabelled_seconds", help: "h", buckets: [1], registers }).observe(0.3);
  const s = new Summary({ name: "s_seconds", help: "h", labelNames: ["plugin"], percentiles: [0.5, 0.99], registers });
  s.observe({ plugin: "a" }, 1);
  s.observe({ plugin: "a" }, 2);
  const first = await fast.metrics();
  assert.equal(first, await reference.metrics());
  assert.equal(await fast.metrics(), await reference.metrics(), "and again, with the shared labels cached");
  assert.match(first, /^h_seconds_bucket\{le="\+Inf",plugin="a"\} 2$/m);
});

test("the daemon's /metrics keeps every series prom-client's renderer would show, labels and order included", async () => {
  const dir = new FakeDirectory();
  dir.add("self", PluginState.RUNNING, { pid: process.pid });
  dir.add("down", PluginState.CRASHED);
  const m = new DaemonMetrics(dir);
  m.pluginStarted("self");
  m.proxyRequest("self", 200, 0.01, 100);
  m.proxyRequest("", 404, 0);
  m.upstreamFailed("self", "ECONNREFUSED");
  const reference = new Registry();
  for (const metric of m.registry.getMetricsAsArray()) reference.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
  // Values move between two renders (CPU time, heap, the event loop): compare all but values.
  const shape = (text: string) => text.split("\n").map((l) => (l.startsWith("#") ? l : l.replace(/ \S+$/, "")));
  const fast = shape(await m.registry.metrics());
  assert.deepEqual(fast, shape(await reference.metrics()));
  assert.ok(fast.some((l) => l.startsWith('plugprom_plugin_process_threads{plugin="self"}')), fast.join("\n"));
});
