// No series is ever renamed, whatever formats scrapers ask for, in whatever order or at once:
// the bundled greeter and a plugin written like the README's SDK example, scraped in
// OpenMetrics (as Prometheus asks), in text (curl, other scrapers) and through /federate,
// interleaved and concurrently, against a real daemon. Text is linted by promtool, OpenMetrics
// parsed by the Python client library's OpenMetrics parser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { daemon, httpGet, type HttpResult } from "../helpers/daemon.js";
import { repoRoot } from "../helpers/paths.js";
import { promtool, requireBinary } from "../helpers/prometheus.js";

const OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const TEXT_ACCEPT = "text/plain;version=0.0.4";
const SDK_EXAMPLE = join(repoRoot, "dist", "test", "fixtures", "plugins", "sdk-example.js");
const SUFFIX_CLASH = join(repoRoot, "dist", "test", "fixtures", "plugins", "suffix-clash.js");

/**
 * The distinct sample names of a text exposition. `nodejs_active_*{type}` list the kinds of
 * handle and request alive at the moment (a file read, a timer), which come and go with the
 * scrape itself, so they are left out of the comparison.
 */
function sampleNames(body: string): string[] {
  const names = new Set<string>();
  for (const line of body.split("\n")) if (line !== "" && !line.startsWith("#")) names.add(/^[^{ ]+/.exec(line)![0]);
  return [...names].filter((n) => !n.startsWith("nodejs_active_")).sort();
}

/**
 * Parses each body with Debian's python3-prometheus-client OpenMetrics parser (strict: `# EOF`,
 * counter suffixes, histogram shape, grouping); one Python process for all of them.
 * Returns, per body, its families as "name type", or the parser's error.
 */
function parseOpenMetrics(bodies: string[]): Array<string[] | { error: string }> {
  const python = requireBinary("/usr/bin/python3", "python3-prometheus-client");
  const script = [
    "import json, sys",
    "from prometheus_client.openmetrics.parser import text_string_to_metric_families",
    "out = []",
    "for body in json.load(sys.stdin):",
    "    try:",
    "        out.append([f'{f.name} {f.type}' for f in text_string_to_metric_families(body)])",
    "    except Exception as e:",
    "        out.append({'error': repr(e)})",
    "print(json.dumps(out))",
  ].join("\n");
  const r = spawnSync(python, ["-c", script], { input: JSON.stringify(bodies), encoding: "utf8" });
  assert.equal(r.status, 0, `python3 (is python3-prometheus-client installed?): ${r.stderr}`);
  return JSON.parse(r.stdout) as Array<string[] | { error: string }>;
}

type Scrape = { kind: "openmetrics" | "text"; plugin: string } | { kind: "federate" } | { kind: "daemon" };

test("interleaved and concurrent OpenMetrics, text and /federate scrapes never rename a series of an SDK plugin", async (t) => {
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "abc"])).code, 0);
  const sdk = await d.cli(["start", "sdk", "--", process.execPath, SDK_EXAMPLE]);
  assert.equal(sdk.code, 0, sdk.stderr);

  const fetchScrape = (s: Scrape): Promise<HttpResult> => {
    switch (s.kind) {
      case "openmetrics":
        return httpGet(`${d.httpBase}/plugins/${s.plugin}/metrics`, { accept: OPENMETRICS_ACCEPT });
      case "text":
        return httpGet(`${d.httpBase}/plugins/${s.plugin}/metrics`, { accept: TEXT_ACCEPT });
      case "federate":
        return httpGet(`${d.httpBase}/federate`, { accept: OPENMETRICS_ACCEPT });
      case "daemon":
        // The daemon's own /metrics only ever serves text, whatever is asked.
        return httpGet(`${d.httpBase}/metrics`, { accept: OPENMETRICS_ACCEPT });
    }
  };

  // Before any OpenMetrics scrape: the names every later text scrape must show.
  const baseline = new Map<string, string[]>();
  for (const plugin of ["abc", "sdk"]) baseline.set(plugin, sampleNames((await fetchScrape({ kind: "text", plugin })).body));
  assert.ok(baseline.get("abc")!.includes("process_cpu_user_seconds_total"), baseline.get("abc")!.join(" "));
  assert.deepEqual(baseline.get("sdk"), ["myplugin_jobs_total"]);
  const daemonBaseline = sampleNames((await httpGet(`${d.httpBase}/metrics`)).body);
  const federateBaseline = sampleNames((await httpGet(`${d.httpBase}/federate`)).body);

  const kinds: Scrape[] = [
    { kind: "openmetrics", plugin: "abc" },
    { kind: "text", plugin: "abc" },
    { kind: "openmetrics", plugin: "sdk" },
    { kind: "text", plugin: "sdk" },
    { kind: "federate" },
    { kind: "daemon" },
  ];
  const results: Array<[Scrape, HttpResult]> = [];
  // Interleaved, one at a time, in a different order each round...
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < kinds.length; i++) {
      const s = kinds[(i * (round + 1) + round) % kinds.length];
      results.push([s, await fetchScrape(s)]);
    }
  }
  // ...then concurrently: every kind several times at once.
  for (let burst = 0; burst < 3; burst++) {
    const batch = [...kinds, ...kinds, ...kinds];
    results.push(...(await Promise.all(batch.map(async (s): Promise<[Scrape, HttpResult]> => [s, await fetchScrape(s)]))));
  }

  const openMetricsBodies: string[] = [];
  for (const [s, r] of results) {
    const what = s.kind === "openmetrics" || s.kind === "text" ? `${s.kind} ${s.plugin}` : s.kind;
    assert.equal(r.status, 200, what);
    if (s.kind === "openmetrics") {
      assert.match(String(r.headers["content-type"]), /^application\/openmetrics-text; version=1\.0\.0/, what);
      assert.ok(r.body.endsWith("\n# EOF\n"), `${what} ends in # EOF`);
      openMetricsBodies.push(r.body);
      continue;
    }
    assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/, what);
    const check = promtool(["check", "metrics"], r.body);
    assert.equal(check.code, 0, `${what}: promtool check metrics:\n${check.output}`);
    assert.equal(check.output.trim(), "", `${what} has lint findings:\n${check.output}`);
    const names = sampleNames(r.body);
    if (s.kind === "text") assert.deepEqual(names, baseline.get(s.plugin), `${what}: the set of series names never changes`);
    if (s.kind === "daemon") assert.deepEqual(names, daemonBaseline, "the daemon's /metrics keeps its names");
    if (s.kind === "federate") {
      assert.match(r.body, /^process_cpu_user_seconds_total\{plugin="abc"\} /m, "federate");
      assert.match(r.body, /^myplugin_jobs_total\{plugin="sdk"\} /m, "federate");
      assert.deepEqual(names, federateBaseline, "federate: the set of series names never changes");
    }
  }

  const parsed = parseOpenMetrics(openMetricsBodies);
  for (const [i, families] of parsed.entries()) {
    assert.ok(Array.isArray(families), `OpenMetrics body ${i} does not parse: ${JSON.stringify(families)}\n${openMetricsBodies[i]}`);
    const isSdk = families.includes("myplugin_jobs counter");
    assert.ok(isSdk || families.includes("process_cpu_user_seconds counter"), `body ${i}: ${families.join(", ")}`);
    if (!isSdk) assert.ok(families.includes("plugin_greet_count unknown"), "untyped is OpenMetrics' unknown");
  }
  assert.ok(openMetricsBodies.every((b) => !/^process_cpu_user_seconds /m.test(b)), "OpenMetrics counter samples carry _total");
});

test("a gauge x beside a counter x_total: OpenMetrics stays valid with the counter as unknown under its own name, text is as registered", async (t) => {
  const d = await daemon(t);
  const r = await d.cli(["start", "clash", "--", process.execPath, SUFFIX_CLASH]);
  assert.equal(r.code, 0, r.stderr);
  const url = `${d.httpBase}/plugins/clash/metrics`;
  const om = await httpGet(url, { accept: OPENMETRICS_ACCEPT });
  assert.equal(om.status, 200);
  assert.match(String(om.headers["content-type"]), /^application\/openmetrics-text; version=1\.0\.0/);
  const [families] = parseOpenMetrics([om.body]);
  assert.deepEqual(families, ["myplugin_requests gauge", "myplugin_requests_total unknown"], om.body);
  assert.deepEqual(sampleNames(om.body), ["myplugin_requests", "myplugin_requests_total"], "the same series names as in text");

  const text = await httpGet(url, { accept: TEXT_ACCEPT });
  assert.equal(text.body, ["# HELP myplugin_requests Requests in flight.", "# TYPE myplugin_requests gauge", "myplugin_requests 2", "# HELP myplugin_requests_total Requests done.", "# TYPE myplugin_requests_total counter", "myplugin_requests_total 5", ""].join("\n"));
  const check = promtool(["check", "metrics"], text.body);
  assert.equal(check.code, 0, check.output);
  assert.equal(check.output.trim(), "", check.output);
});
