// The text-format parser: grouping as expfmt does it, escapes, exact value text, what it
// refuses, the real node_exporter fixture, and a round trip over generated expositions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { ExpositionSyntaxError, parseExposition } from "../../../../src/daemon/scrape/exposition-parser.js";
import { fixturesDir } from "../../../helpers/paths.js";

test("families are grouped as expfmt groups them; labelled histograms and summaries keep every series", () => {
  const text = [
    "# A comment, then blank lines",
    "",
    "# HELP h Latency with a \\\\ and a\\nnewline.",
    "# TYPE h histogram",
    'h_bucket{path="/a",le="1"} 1',
    'h_bucket{path="/a",le="+Inf"} 2',
    'h_sum{path="/a"} 3.5',
    'h_count{path="/a"} 2',
    'h_bucket{le="1",path="/b"} 0',
    'h_bucket{le="+Inf",path="/b"} 1',
    'h_sum{path="/b"} 9',
    'h_count{path="/b"} 1',
    "# TYPE s summary",
    's{quantile="0.5"} 1e-3',
    "s_sum 2",
    "s_count 4",
    "s_bucket 1",
    "  \tuntyped_one{a=\"x\",} -Inf 1700000000000  ",
    "h_created 5",
  ].join("\n");
  const fams = parseExposition(text);
  assert.deepEqual(
    fams.map((f) => [f.name, f.type, f.samples.length]),
    [
      ["h", "histogram", 8],
      ["s", "summary", 3],
      ["s_bucket", "untyped", 1],
      ["untyped_one", "untyped", 1],
      ["h_created", "untyped", 1],
    ],
  );
  assert.equal(fams[0].help, "Latency with a \\ and a\nnewline.");
  assert.deepEqual(fams[0].samples[4], { name: "h_bucket", labels: [["le", "1"], ["path", "/b"]], value: "0" });
  assert.deepEqual(fams[1].samples[0].value, "1e-3");
  assert.deepEqual(fams[3].samples[0], { name: "untyped_one", labels: [["a", "x"]], value: "-Inf", timestamp: "1700000000000" });
});

test("label values are unescaped: \\\\, \\\" and \\n; other characters pass as they are", () => {
  const [f] = parseExposition('m{a="q\\"uo\\\\te\\nnl",b="{},= #é"} NaN\n');
  assert.deepEqual(f.samples[0].labels, [
    ["a", 'q"uo\\te\nnl'],
    ["b", "{},= #é"],
  ]);
});

test("what expfmt refuses is refused, with the line and the reason", () => {
  const cases: Array<[string, RegExp]> = [
    ["m{a=b} 1", /line 1: expected a quoted value for label a/],
    ["ok 1\nm bar", /line 2: invalid value "bar"/],
    ["m 0x10", /invalid value/],
    ["m 1_000", /invalid value/],
    ["m 1 12.5", /invalid timestamp/],
    ["m 1 2 3", /unexpected text after the timestamp/],
    ['m{0a="1"} 1', /invalid label name/],
    ['m{a="1",a="2"} 1', /label a appears twice/],
    ['m{a="1} 1', /unterminated label value/],
    ['m{a="\\t"} 1', /invalid escape sequence \\t/],
    ["m{a=\"1\" b=\"2\"} 1", /expected , or \}/],
    ["9m 1", /invalid metric name/],
    ["m", /expected a value/],
    ["# TYPE m counter\n# TYPE m gauge", /second TYPE line for m/],
    ["# HELP m a\n# HELP m b", /second HELP line for m/],
    ["m 1\n# TYPE m counter", /TYPE line for m after its samples/],
    ["# TYPE m flavour", /unknown metric type "flavour"/],
    ["# TYPE m", /expected a type/],
    ["# HELP m bad \\t escape", /invalid escape sequence/],
    ["# TYPE h histogram\nh_bucket 1", /without an le label/],
    ["# TYPE h histogram\nh 1", /without _bucket, _sum or _count/],
    ["# TYPE s summary\ns 1", /without a quantile label/],
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseExposition(text), (err: unknown) => err instanceof ExpositionSyntaxError && reason.test(err.message), text);
  }
});

test("the node_exporter fixture parses whole: every sample line is a sample, every TYPE a family type", () => {
  const fixture = readFileSync(join(fixturesDir, "node_exporter.prom"), "utf8");
  const fams = parseExposition(fixture);
  const sampleLines = fixture.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  assert.equal(
    fams.reduce((n, f) => n + f.samples.length, 0),
    sampleLines.length,
  );
  const typeLines = fixture.split("\n").filter((l) => l.startsWith("# TYPE "));
  for (const l of typeLines) {
    const [, , name, type] = l.split(" ");
    assert.equal(fams.find((f) => f.name === name)?.type, type, name);
  }
});

test("property: a generated exposition parses back to exactly what was written", () => {
  const name = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,8}$/);
  const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,6}$/);
  const value = fc.oneof(fc.double({ noNaN: true }).map((v) => (Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : "-Inf")), fc.constant("NaN"), fc.integer().map(String));
  const sample = fc.record({
    labels: fc.uniqueArray(fc.tuple(labelName, fc.string({ maxLength: 8 })), { selector: ([k]) => k, maxLength: 3 }),
    value,
    timestamp: fc.option(fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }).map(String), { nil: undefined }),
  });
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(name, fc.array(sample, { minLength: 1, maxLength: 3 })), { selector: ([n]) => n, maxLength: 4 }), (families) => {
      // Suffixed names could join an untyped family of another name only when typed; all are
      // untyped here, so each name is its own family.
      const text = families
        .map(([n, samples]) => `# TYPE ${n} gauge\n${samples.map((s) => `${n}${s.labels.length ? `{${s.labels.map(([k, v]) => `${k}="${esc(v)}"`).join(",")}}` : ""} ${s.value}${s.timestamp !== undefined ? ` ${s.timestamp}` : ""}`).join("\n")}`)
        .join("\n");
      const parsed = parseExposition(text);
      assert.deepEqual(
        parsed.map((f) => [f.name, f.type, f.samples.map((s) => [s.labels, s.value, s.timestamp])]),
        families.map(([n, samples]) => [n, "gauge", samples.map((s) => [s.labels, s.value, s.timestamp])]),
      );
    }),
    { numRuns: 300 },
  );
});
