// The SDK's exposition: text and OpenMetrics rendered from a registry snapshot, never by
// switching the registry's format, so no series is ever renamed by a scrape.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry, Summary, collectDefaultMetrics, type OpenMetricsContentType } from "prom-client";
import { negotiateFormat, renderFamilies, renderMetrics, type SnapshotFamily } from "../../src/shared/exposition-format.js";

/** `name{labels}` of every sample line, in order. */
function seriesOf(body: string): string[] {
  return body
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.slice(0, l.lastIndexOf(" ")));
}

/** A registry like an SDK plugin's: defaults, a labelled counter, a histogram, a summary, a gauge. */
function pluginRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  new Counter({ name: "myplugin_jobs_total", help: "Jobs done.", labelNames: ["kind"], registers }).inc({ kind: 'a "quoted"\\ kind\n' }, 3);
  new Counter({ name: "myplugin_errors", help: "A counter registered without _total.", registers }).inc();
  const h = new Histogram({ name: "myplugin_job_seconds", help: "Job duration.", labelNames: ["kind"], buckets: [0.1, 1], registers });
  h.observe({ kind: "x" }, 0.5);
  h.observe({ kind: "y" }, 2);
  new Summary({ name: "myplugin_size_bytes", help: "Sizes.", percentiles: [0.5, 0.99], registers }).observe(10);
  new Gauge({ name: "myplugin_queue", help: "Queue length\\ with a backslash.", registers }).set(Infinity);
  return registry;
}

test("text from the snapshot has the same series as prom-client's own text rendering", async () => {
  const registry = pluginRegistry();
  const theirs = seriesOf(await registry.metrics());
  const ours = seriesOf(await renderMetrics(registry, "text"));
  assert.deepEqual(ours, theirs);
  assert.ok(ours.includes("myplugin_jobs_total{kind=\"a \\\"quoted\\\"\\\\ kind\\n\"}"), ours.join("\n"));
});

test("rendering OpenMetrics leaves every registered name alone; text keeps _total after any number of OpenMetrics scrapes", async () => {
  const registry = pluginRegistry();
  const namesBefore = registry.getMetricsAsArray().map((m) => m.name);
  const textBefore = seriesOf(await renderMetrics(registry, "text"));
  const bodies = await Promise.all([..."tottoott"].map((f) => renderMetrics(registry, f === "o" ? "openmetrics" : "text")));
  assert.deepEqual(registry.getMetricsAsArray().map((m) => m.name), namesBefore);
  for (const [i, body] of bodies.entries()) {
    if (body.endsWith("# EOF\n")) continue;
    assert.deepEqual(seriesOf(body).filter((s) => !s.startsWith("process_") && !s.startsWith("nodejs_")), textBefore.filter((s) => !s.startsWith("process_") && !s.startsWith("nodejs_")), `text body ${i}`);
    assert.match(body, /^process_cpu_user_seconds_total \d/m);
  }
  assert.equal(registry.contentType, Registry.PROMETHEUS_CONTENT_TYPE, "the registry's own content type is never switched");
});

test("OpenMetrics: counter families without _total, samples with it, untyped as unknown, quotes escaped in HELP, # EOF last", () => {
  const families: SnapshotFamily[] = [
    { name: "jobs_total", help: 'Jobs "done".', type: "counter", values: [{ value: 3, labels: { kind: "a" } }] },
    { name: "errors", help: "No suffix.", type: "counter", values: [{ value: 1, labels: {} }] },
    { name: "greet_count", help: "Legacy.", type: "untyped", values: [{ value: 2, labels: {} }] },
    { name: "temp", help: "Temp.", type: "gauge", values: [{ value: NaN, labels: {} }, { value: -Infinity, labels: { at: "x" } }] },
    {
      name: "lat",
      help: "Latency.",
      type: "histogram",
      values: [
        { value: 1, labels: { le: 0.5 }, metricName: "lat_bucket", exemplar: { labelSet: { trace_id: "abc" }, value: 0.3, timestamp: 1700000000.5 } },
        { value: 2, labels: { le: "+Inf" }, metricName: "lat_bucket", exemplar: null },
        { value: 1.5, labels: {}, metricName: "lat_sum" },
        { value: 2, labels: {}, metricName: "lat_count" },
      ],
    },
  ];
  assert.equal(
    renderFamilies(families, "openmetrics"),
    [
      "# HELP jobs Jobs \\\"done\\\".",
      "# TYPE jobs counter",
      'jobs_total{kind="a"} 3',
      "# HELP errors No suffix.",
      "# TYPE errors counter",
      "errors_total 1",
      "# HELP greet_count Legacy.",
      "# TYPE greet_count unknown",
      "greet_count 2",
      "# HELP temp Temp.",
      "# TYPE temp gauge",
      "temp NaN",
      'temp{at="x"} -Inf',
      "# HELP lat Latency.",
      "# TYPE lat histogram",
      'lat_bucket{le="0.5"} 1 # {trace_id="abc"} 0.3 1700000000.5',
      'lat_bucket{le="+Inf"} 2',
      "lat_sum 1.5",
      "lat_count 2",
      "# EOF",
      "",
    ].join("\n"),
  );
  assert.equal(
    renderFamilies(families.slice(0, 3), "text"),
    [
      '# HELP jobs_total Jobs "done".',
      "# TYPE jobs_total counter",
      'jobs_total{kind="a"} 3',
      "# HELP errors No suffix.",
      "# TYPE errors counter",
      "errors 1",
      "# HELP greet_count Legacy.",
      "# TYPE greet_count untyped",
      "greet_count 2",
      "",
    ].join("\n"),
    "text: names as registered, no exemplars, no # EOF",
  );
});

test("OpenMetrics: a counter whose family or sample name is another metric's is unknown under its registered name; text is unchanged", async () => {
  // prom-client keeps exemplars only in a registry made for OpenMetrics; the exemplar is dropped
  // with the counter type (OpenMetrics allows none on unknown).
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const registers = [registry];
  new Gauge({ name: "x", help: "A gauge.", registers }).set(1);
  new Counter({ name: "x_total", help: "A counter beside it.", registers, enableExemplars: true }).inc({ value: 2, exemplarLabels: { trace_id: "t" } });
  new Counter({ name: "y", help: "A counter without _total.", registers }).inc(3);
  new Gauge({ name: "y_total", help: "A gauge named like its sample.", registers }).set(4);
  new Counter({ name: "z_total", help: "A counter alone.", registers }).inc(5);
  const textBefore = await renderMetrics(registry, "text");
  assert.equal(
    await renderMetrics(registry, "openmetrics"),
    [
      "# HELP x A gauge.",
      "# TYPE x gauge",
      "x 1",
      "# HELP x_total A counter beside it.",
      "# TYPE x_total unknown",
      "x_total 2",
      "# HELP y A counter without _total.",
      "# TYPE y unknown",
      "y 3",
      "# HELP y_total A gauge named like its sample.",
      "# TYPE y_total gauge",
      "y_total 4",
      "# HELP z A counter alone.",
      "# TYPE z counter",
      "z_total 5",
      "# EOF",
      "",
    ].join("\n"),
  );
  assert.equal(await renderMetrics(registry, "text"), textBefore);
  assert.deepEqual(seriesOf(textBefore), ["x", "x_total", "y", "y_total", "z_total"], "text: the names as registered");
  assert.match(textBefore, /^# TYPE x_total counter$/m);
});

test("OpenMetrics is served only to a scraper that asks for it", () => {
  assert.equal(negotiateFormat("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"), "openmetrics");
  assert.equal(negotiateFormat("text/plain;version=0.0.4"), "text");
  assert.equal(negotiateFormat("*/*"), "text");
  assert.equal(negotiateFormat(undefined), "text");
});
