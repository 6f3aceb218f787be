// GET /federate with a real daemon and real plugins: two instrumented TypeScript greeters, a
// Go (client_golang) greeter, one without metrics (its /proc process metrics), and one whose
// exposition is over the size cap.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { request } from "node:http";
import { join } from "node:path";
import { daemon, GREETER, httpGet, waitFor } from "../helpers/daemon.js";
import { buildGoProgram } from "../helpers/go-build.js";
import { repoRoot } from "../helpers/paths.js";
import { promtool } from "../helpers/prometheus.js";

const FLOOD = join(repoRoot, "test", "fixtures", "plugins", "flood-plugin.mjs");

function series(body: string): string[] {
  return body.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

test("/federate merges every plugin's metrics under plugin=<name>; a failing plugin is up 0, not an error", async (t) => {
  const goGreeter = await buildGoProgram("goplugin-greeter");
  const d = await daemon(t, ["--max-scrape-bytes", "1MiB", "--gzip", "always"]);
  for (const args of [["abc"], ["def"], ["gop", "--", goGreeter], ["bare", "--no-metrics", "--", GREETER], ["flood", "--env", "FLOOD_BYTES=3000000", "--", process.execPath, FLOOD]]) {
    const r = await d.cli(["start", ...args]);
    assert.equal(r.code, 0, r.stderr);
  }
  // The greeters count greetings on a ticker: wait until both have something to merge.
  await waitFor("both greeters to expose plugin_ticker_count", async () => (await httpGet(`${d.httpBase}/federate`)).body.match(/^plugin_ticker_count\{plugin="(abc|def)"/gm)?.length === 2);

  const r = await httpGet(`${d.httpBase}/federate`);
  assert.equal(r.status, 200);
  assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  const lines = series(r.body);
  for (const [plugin, up] of [["abc", 1], ["bare", 1], ["def", 1], ["flood", 0], ["gop", 1]] as const) {
    assert.ok(lines.includes(`plugprom_federate_plugin_up{plugin="${plugin}"} ${up}`), `${plugin} up ${up}\n${r.body.slice(-500)}`);
  }
  assert.ok(!r.body.includes("flood_bytes"), "nothing of a plugin that was left out");
  // The uninstrumented plugin is there with its /proc metrics, in the same families as the
  // instrumented ones' process metrics.
  assert.match(r.body, /^process_resident_memory_bytes\{plugin="bare"\} \d+$/m);
  assert.match(r.body, /^process_resident_memory_bytes\{plugin="abc"\} \d+$/m);
  // One HELP and one TYPE per family, every series labelled, none twice.
  const types = r.body.split("\n").filter((l) => l.startsWith("# TYPE "));
  assert.equal(new Set(types.map((l) => l.split(" ")[2])).size, types.length, "a family's TYPE appears once");
  const helps = r.body.split("\n").filter((l) => l.startsWith("# HELP "));
  assert.equal(new Set(helps.map((l) => l.split(" ")[2])).size, helps.length, "a family's HELP appears once");
  assert.equal(new Set(lines.map((l) => l.slice(0, l.lastIndexOf(" ")))).size, lines.length, "no series twice");
  for (const l of lines) assert.match(l, /^[a-zA-Z_:][a-zA-Z0-9_:]*\{plugin="(abc|def|bare|flood|gop)"/);
  // Summaries (and histograms) stay whole: the Go plugin's series are all there, in its order.
  const direct = series((await httpGet(`${d.httpBase}/plugins/gop/metrics`, { accept: "text/plain;version=0.0.4" })).body);
  const family = (ls: string[], name: string) => ls.filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name}_`)).map((l) => l.replace(/^(\w+)\{plugin="gop",?/, "$1{").replace(/\{\}/, "").replace(/ \S+$/, ""));
  assert.ok(family(direct, "go_gc_duration_seconds").length >= 5, direct.join("\n").slice(0, 300));
  assert.deepEqual(family(lines.filter((l) => l.includes('plugin="gop"')), "go_gc_duration_seconds"), family(direct, "go_gc_duration_seconds"));
  const lint = promtool(["check", "metrics"], r.body);
  assert.equal(lint.code, 0, lint.output);
  assert.equal(lint.output.trim(), "", lint.output);

  // gzip when asked; the same exposition inside.
  const gz = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
    request(`${d.httpBase}/federate`, { headers: { "accept-encoding": "gzip" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ encoding: res.headers["content-encoding"], body: Buffer.concat(chunks) }));
    })
      .on("error", reject)
      .end();
  });
  assert.equal(gz.encoding, "gzip");
  assert.match(gunzipSync(gz.body).toString(), /^plugprom_federate_plugin_up\{plugin="flood"\} 0$/m);

  // A stopped plugin is no longer a target: it leaves /federate altogether.
  assert.equal((await d.cli(["stop", "def"])).code, 0);
  const after = await httpGet(`${d.httpBase}/federate`);
  assert.ok(!after.body.includes('plugin="def"'), after.body.slice(-400));
  assert.match(after.body, /^plugprom_federate_plugin_up\{plugin="abc"\} 1$/m);
  // The Go greeter types plugin_greet_count and plugin_ticker_count as counters where the
  // TypeScript greeters (first in name order) leave them untyped: its two families are left
  // out of the merge, and counted.
  assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_federate_dropped_families_total\{plugin="gop"\} [1-9]\d*$/m);
  assert.ok(!r.body.includes('plugin_greet_count{plugin="gop"'), "a conflicting family is not merged");
});

test("/federate with no plugins is just the daemon's empty merge, and HEAD has no body", async (t) => {
  const d = await daemon(t);
  const r = await httpGet(`${d.httpBase}/federate`);
  assert.equal(r.status, 200);
  assert.equal(r.body, "");
  const head = await new Promise<number>((resolve, reject) => request(`${d.httpBase}/federate`, { method: "HEAD" }, (res) => (res.resume(), resolve(res.statusCode!))).on("error", reject).end());
  assert.equal(head, 200);
});
