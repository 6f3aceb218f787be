// The /federate merge: real prom-client expositions, conflicts, relabelling, invalid input,
// and properties over generated expositions (checked by re-parsing and by promtool).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { Counter, Gauge, Histogram, Registry, Summary } from "prom-client";
import { ExpositionError, ExpositionMerger } from "../../../../src/daemon/scrape/exposition-merge.js";
import { parseExposition } from "../../../../src/daemon/scrape/exposition-parser.js";
import { fixturesDir } from "../../../helpers/paths.js";
import { promtool } from "../../../helpers/prometheus.js";

const render = (m: ExpositionMerger) => [...m.render()].join("");
const sampleLines = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

async function clientExposition(greetings: number): Promise<string> {
  const registry = new Registry();
  const registers = [registry];
  new Counter({ name: "greetings_total", help: 'Greetings "sent", with a \\ and\na newline.', labelNames: ["lang"], registers }).inc({ lang: 'e"n\\\n' }, greetings);
  new Gauge({ name: "queue_depth", help: "Items waiting.", registers }).set(greetings * 2);
  const h = new Histogram({ name: "greet_seconds", help: "Greeting latency.", buckets: [0.5, 1, 10, 100], labelNames: ["lang"], registers });
  h.observe({ lang: "en" }, 0.7);
  h.observe({ lang: "de" }, 50);
  const s = new Summary({ name: "greet_size_bytes", help: "Greeting size.", percentiles: [0.5, 0.99, 1], registers });
  s.observe(greetings);
  return registry.metrics();
}

test("two client expositions merge into one: one HELP/TYPE per family, every series labelled, promtool-clean", async () => {
  const m = new ExpositionMerger();
  assert.deepEqual(m.add("a", await clientExposition(3)), []);
  assert.deepEqual(m.add("b", await clientExposition(5)), []);
  m.markUp("b", true);
  m.markUp("a", true);
  const out = render(m);
  const lint = promtool(["check", "metrics"], out);
  assert.equal(lint.code, 0, lint.output);
  assert.equal(lint.output.trim(), "", lint.output);
  for (const fam of ["greetings_total", "queue_depth", "greet_seconds", "greet_size_bytes", "plugprom_federate_plugin_up"]) {
    assert.equal(out.split(`# TYPE ${fam} `).length, 2, fam);
    assert.equal(out.split(`# HELP ${fam} `).length, 2, fam);
  }
  assert.match(out, /^# HELP greetings_total Greetings "sent", with a \\\\ and\\na newline\.$/m);
  assert.match(out, /^greetings_total\{plugin="a",lang="e\\"n\\\\\\n"\} 3$/m);
  assert.match(out, /^greetings_total\{plugin="b",lang="e\\"n\\\\\\n"\} 5$/m);
  assert.match(out, /^queue_depth\{plugin="b"\} 10$/m);
  // Buckets stay whole and in the order the client wrote them.
  const les = sampleLines(out)
    .filter((l) => l.startsWith('greet_seconds_bucket{plugin="a",') && l.includes('lang="de"'))
    .map((l) => /le="([^"]+)"/.exec(l)![1]);
  assert.deepEqual(les, ["0.5", "1", "10", "100", "+Inf"]);
  assert.match(out, /^greet_seconds_count\{plugin="a",lang="de"\} 1$/m);
  assert.match(out, /^greet_size_bytes\{plugin="b",quantile="0\.99"\} 5$/m);
  assert.match(out, /plugprom_federate_plugin_up\{plugin="a"\} 1\nplugprom_federate_plugin_up\{plugin="b"\} 1\n$/);
});

test("a family whose name or series names another plugin's family claims with another type is left out", () => {
  const m = new ExpositionMerger();
  m.add("a", "# TYPE x counter\nx 1\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n");
  const dropped = m.add("b", "# TYPE x gauge\nx 2\n# TYPE h_sum gauge\nh_sum 3\n# TYPE plugprom_federate_plugin_up gauge\nplugprom_federate_plugin_up 1\n# TYPE y gauge\ny 4\n");
  assert.deepEqual(dropped.sort(), ["h_sum", "plugprom_federate_plugin_up", "x"]);
  const out = render(m);
  assert.match(out, /^x\{plugin="a"\} 1$/m);
  assert.doesNotMatch(out, /plugin="b"\} [23]$/m);
  assert.match(out, /^y\{plugin="b"\} 4$/m);
  const lint = promtool(["check", "metrics"], out);
  assert.notEqual(lint.code, 1, lint.output);
});

test("a plugin's own `plugin` label is kept as exported_plugin; timestamps are kept", () => {
  const m = new ExpositionMerger();
  m.add("a", 'up_ish{plugin="inner",exported_plugin="x"} 1 1700000000000\n');
  assert.equal(render(m), '# TYPE up_ish untyped\nup_ish{plugin="a",exported_exported_plugin="inner",exported_plugin="x"} 1 1700000000000\n');
});

test("an exposition that does not parse is refused whole; what was merged before stays", () => {
  const m = new ExpositionMerger();
  m.add("a", "ok 1\n");
  const before = render(m);
  for (const bad of ['# TYPE foo counter\nfoo{a=b} 1\n', "ok2 1\nfoo bar\n", "foo 0x10\n", 'foo{0a="1"} 1\n', "foo 1 12.5\n", 'foo{a="1"} 1\nfoo{a="1"} 2\n']) {
    assert.throws(() => m.add("b", bad), ExpositionError, JSON.stringify(bad));
  }
  assert.equal(render(m), before);
});

test("the node_exporter fixture merges with itself into a valid exposition with twice the series", () => {
  const fixture = readFileSync(join(fixturesDir, "node_exporter.prom"), "utf8");
  const one = new ExpositionMerger();
  one.add("a", fixture);
  assert.equal(sampleLines(render(one)).length, sampleLines(fixture).length, "every sample of the fixture");
  const m = new ExpositionMerger();
  m.add("a", fixture);
  m.add("b", fixture);
  const out = render(m);
  assert.equal(sampleLines(out).length, 2 * sampleLines(fixture).length);
  const lint = promtool(["check", "metrics"], out);
  assert.notEqual(lint.code, 1, lint.output.split("\n").filter((l) => !/snake_case|base unit|no help/.test(l)).join("\n"));
  assert.doesNotMatch(lint.output, /error while|duplicate|parsing/i);
});

// ---- properties -----------------------------------------------------------------------

type Kind = "counter" | "gauge" | "untyped" | "histogram" | "summary";
interface GenFamily {
  name: string;
  kind: Kind;
  help: string;
  rows: Array<{ labels: Record<string, string>; value: number }>;
}

const labelValue = fc.string({ unit: fc.constantFrom("a", "é", '"', "\\", "\n", " ", "{", "}", ",", "=", "#"), maxLength: 6 });
const genFamily: fc.Arbitrary<GenFamily> = fc.record({
  name: fc.constantFrom("alpha", "beta", "beta_sum", "gamma", "gamma_bucket", "plugin_x"),
  kind: fc.constantFrom<Kind>("counter", "gauge", "untyped", "histogram", "summary"),
  help: fc.string({ unit: fc.constantFrom("h", " ", "\\", "\n", '"'), maxLength: 8 }),
  rows: fc.array(fc.record({ labels: fc.dictionary(fc.constantFrom("k", "plugin", "zone"), labelValue, { maxKeys: 2 }), value: fc.double({ noNaN: true, noDefaultInfinity: true, min: 0, max: 1e9 }) }), { minLength: 1, maxLength: 3 }),
});
const genExposition = fc.uniqueArray(genFamily, { selector: (f) => f.name, maxLength: 4 }).map((families) => families.filter((f, i) => !families.some((g, j) => j !== i && clashes(f, g))));

/** Generated families stay valid within one plugin: no series name claimed twice. */
function clashes(a: GenFamily, b: GenFamily): boolean {
  const names = (f: GenFamily) => (f.kind === "histogram" ? [f.name, `${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`] : f.kind === "summary" ? [f.name, `${f.name}_sum`, `${f.name}_count`] : [f.name]);
  return names(a).some((n) => names(b).includes(n));
}

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
function toText(families: GenFamily[]): string {
  let out = "";
  for (const f of families) {
    out += `# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${f.name} ${f.kind}\n`;
    const seen = new Set<string>();
    for (const row of f.rows) {
      const key = JSON.stringify(Object.entries(row.labels).sort());
      if (seen.has(key)) continue; // one row per label set, as a client library writes
      seen.add(key);
      const ls = (extra: Record<string, string> = {}) => {
        const all = Object.entries({ ...row.labels, ...extra });
        return all.length === 0 ? "" : `{${all.map(([k, v]) => `${k}="${esc(v)}"`).join(",")}}`;
      };
      if (f.kind === "histogram") {
        out += `${f.name}_bucket${ls({ le: "1" })} 0\n${f.name}_bucket${ls({ le: "+Inf" })} 1\n${f.name}_sum${ls()} ${row.value}\n${f.name}_count${ls()} 1\n`;
      } else if (f.kind === "summary") {
        out += `${f.name}${ls({ quantile: "0.5" })} ${row.value}\n${f.name}_sum${ls()} ${row.value}\n${f.name}_count${ls()} 1\n`;
      } else {
        out += `${f.name}${ls()} ${row.value}\n`;
      }
    }
  }
  return out;
}

test("property: any set of valid expositions merges into one that parses, with one TYPE per family and unique, labelled series", () => {
  fc.assert(
    fc.property(fc.array(genExposition, { minLength: 1, maxLength: 4 }), (plugins) => {
      const m = new ExpositionMerger();
      const kept = new Map<string, Kind>();
      plugins.forEach((fams, i) => {
        const dropped = m.add(`p${i}`, toText(fams));
        for (const f of fams) {
          if (dropped.includes(f.name)) {
            assert.ok(kept.has(f.name) ? kept.get(f.name) !== f.kind : true, `${f.name} dropped without a type clash`);
          } else if (!kept.has(f.name)) kept.set(f.name, f.kind);
        }
      });
      const out = render(m);
      const parsed = parseExposition(out);
      const typed = out.split("\n").filter((l) => l.startsWith("# TYPE "));
      assert.equal(new Set(typed).size, typed.length);
      for (const fam of parsed) if (fam.name !== "plugprom_federate_plugin_up") assert.equal(fam.type, kept.get(fam.name), fam.name);
      const lines = sampleLines(out);
      assert.equal(new Set(lines.map((l) => l.slice(0, l.lastIndexOf(" ")))).size, lines.length, "a series appears once");
      for (const l of lines) assert.match(l, /^\w+\{plugin="p\d"/);
      // Nothing of a kept family is lost: every plugin's series of it are there.
      const perRow: Record<Kind, number> = { counter: 1, gauge: 1, untyped: 1, histogram: 4, summary: 3 };
      plugins.forEach((fams, i) => {
        for (const f of fams) {
          if (kept.get(f.name) !== f.kind) continue;
          const rows = new Set(f.rows.map((r) => JSON.stringify(Object.entries(r.labels).sort()))).size;
          const fam = parsed.find((p) => p.name === f.name)!;
          const mine = fam.samples.filter((x) => x.labels[0][0] === "plugin" && x.labels[0][1] === `p${i}`).length;
          assert.equal(mine, rows * perRow[f.kind], `${f.name} p${i}: ${mine} samples for ${rows} rows`);
        }
      });
    }),
    { numRuns: 300 },
  );
});

test("property: promtool parses every merge", () => {
  fc.assert(
    fc.property(fc.array(genExposition, { minLength: 1, maxLength: 3 }), (plugins) => {
      const m = new ExpositionMerger();
      plugins.forEach((fams, i) => m.add(`p${i}`, toText(fams)));
      m.markUp("p0", true);
      const check = promtool(["check", "metrics"], render(m));
      assert.notEqual(check.code, 1, `${check.output}\n${render(m)}`);
      assert.doesNotMatch(check.output, /error while linting|text format parsing error/i, render(m));
    }),
    { numRuns: 25 },
  );
});
