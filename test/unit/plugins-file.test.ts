// The plugins file (apply -f, daemon --apply): YAML or JSON, every problem reported with its
// path, instances resolved over their catalog entry as `start --plugin` would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { MetricsTransport } from "../../src/shared/gen/plugprom/v1/control_pb.js";
import { instanceRequests, parsePluginsFile, PluginsFileError } from "../../src/shared/plugins-file.js";
import type { CatalogEntry, Problem } from "../../src/shared/plugin-entry.js";

const problemsOf = (text: string): string[] => {
  try {
    parsePluginsFile(text, "/etc/pp", "plugins.yaml");
  } catch (err) {
    assert.ok(err instanceof PluginsFileError, String(err));
    return err.lines();
  }
  assert.fail("the file was accepted");
};

test("a YAML file with a catalog and instances is read, relative paths against its directory", () => {
  const f = parsePluginsFile(
    `plugins:
  greeter: { command: ./plugins/greeter, args: ["-port", "{{metrics_port}}"] }
instances:
  legacy:
    plugin: greeter
    labels: { team: core }
  abc: {}
  bare:
  g2:
    command: /opt/plugins/gp
    handshake: { magicCookieKey: BASIC_PLUGIN, magicCookieValue: hello }
    env: { MODE: fast }
    restart: always
    workingDir: data
`,
    "/etc/pp",
    "plugins.yaml",
  );
  assert.equal(f.catalog.get("greeter")!.command, "/etc/pp/plugins/greeter");
  assert.deepEqual([...f.instances.keys()], ["abc", "bare", "g2", "legacy"], "in name order");
  assert.deepEqual(f.instances.get("abc"), {});
  assert.deepEqual(f.instances.get("bare"), {}, "a name with nothing after it takes every default");
  const g2 = f.instances.get("g2")!;
  assert.equal(g2.command, "/opt/plugins/gp");
  assert.equal(g2.magicCookieKey, "BASIC_PLUGIN");
  assert.equal(g2.restartPolicy, "always");
  assert.equal(g2.workingDir, "/etc/pp/data");
  assert.deepEqual(f.instances.get("legacy"), { plugin: "greeter", labels: { team: "core" } });
});

test("JSON is valid YAML, and env may be a list of KEY=VALUE as in docker compose", () => {
  const f = parsePluginsFile(JSON.stringify({ instances: { a: { command: "gp", env: ["MODE=fast", "EMPTY="] } } }), "/d", "p.json");
  assert.deepEqual(f.instances.get("a")!.env, { MODE: "fast", EMPTY: "" });
  assert.equal(f.instances.get("a")!.command, "gp", "a bare command stays a PATH lookup");
});

test("every problem of a file is reported, each with its path", () => {
  const lines = problemsOf(`instances:
  g2:
    command: /opt/gp
    env: ["MODE=fast", "oops"]
    restart: sometimes
    lables: {}
    scrapeInterval: 10s
    scrapeTimeout: 20s
  "Bad Name": {}
  live: { livenessFailures: "3", healthInterval: 10ms }
  frac: { livenessFailures: 1.5 }
  n:
    labels: { plugin: x, count: 3 }
    args: ["-v"]
  p:
    plugin: greeter
    command: /bin/x
bogus: 1
`);
  const expected = [
    /^plugins\.yaml: bogus: unknown field/,
    /^plugins\.yaml: instances\.Bad Name: invalid instance name/,
    /^plugins\.yaml: instances\.g2\.lables: unknown field \(known: plugin, command, /,
    /^plugins\.yaml: instances\.g2\.env\.1: must be a "KEY=VALUE" string$/,
    /^plugins\.yaml: instances\.g2\.scrapeTimeout: scrape timeout must not exceed the scrape interval/,
    /^plugins\.yaml: instances\.g2\.restart: must be "always", "on-failure" or "never"$/,
    /^plugins\.yaml: instances\.live\.livenessFailures: must be an integer from 0 \(never\) to 1000$/,
    /^plugins\.yaml: instances\.live\.healthInterval: must be between 100ms and 1h$/,
    /^plugins\.yaml: instances\.frac\.livenessFailures: must be an integer from 0 \(never\) to 1000$/,
    /^plugins\.yaml: instances\.n\.labels\.plugin: label "plugin" is set by plugprom/,
    /^plugins\.yaml: instances\.n\.labels\.count: must be a string \(quote it: "3"\)$/,
    /^plugins\.yaml: instances\.n\.args: arguments need a command or a plugin/,
    /^plugins\.yaml: instances\.p\.command: give either plugin or command, not both$/,
  ];
  for (const re of expected) assert.ok(lines.some((l) => re.test(l)), `no line matches ${re}:\n${lines.join("\n")}`);
  assert.equal(lines.length, expected.length, lines.join("\n"));
});

test("a YAML syntax error names its line; duplicate keys are errors", () => {
  assert.match(problemsOf("instances:\n  a: {\n").join("\n"), /^plugins\.yaml: line 3 column 1: Flow map/);
  assert.match(problemsOf("instances:\n  a: {}\n  a: {}\n").join("\n"), /line 3 column 3: Map keys must be unique/);
  assert.match(problemsOf("- a\n- b\n").join("\n"), /\(top level\): must be a map/);
});

test("an alias bomb and an oversized file are refused, not expanded", () => {
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`)].join("\n");
  assert.match(problemsOf(bomb).join("\n"), /plugins\.yaml: \(file\): .*alias/i);
  assert.match(problemsOf(`# ${"x".repeat(600 * 1024)}\n`).join("\n"), /larger than 512 KiB/);
});

test("an instance is its catalog entry with its own fields over it: labels and env merged, args appended", () => {
  const f = parsePluginsFile(
    `plugins:
  greeter: { command: ./greeter, args: ["-port", "{{metrics_port}}"], env: { A: "1", B: "1" }, labels: { team: core }, scrapeInterval: 30s, restart: never }
instances:
  legacy: { plugin: greeter, args: ["-v"], env: { B: "2" }, labels: { env: prod }, restart: always }
  ext: { plugin: shared }
  abc: {}
`,
    "/etc/pp",
    "plugins.yaml",
  );
  const external: ReadonlyMap<string, CatalogEntry> = new Map([
    ["shared", { name: "shared", command: "/usr/lib/shared", args: [], env: {}, labels: {}, workingDir: "/usr/lib", metricsTransport: "tcp" as const }],
  ]);
  const problems: Problem[] = [];
  const reqs = instanceRequests(f, "/etc/pp", external, problems);
  assert.deepEqual(problems, []);
  const legacy = reqs.get("legacy")!;
  assert.equal(legacy.source, "greeter");
  assert.deepEqual(legacy.request.command, ["/etc/pp/greeter", "-port", "{{metrics_port}}", "-v"]);
  assert.deepEqual(legacy.request.env, { A: "1", B: "2" });
  assert.deepEqual(legacy.request.labels, { team: "core", env: "prod" });
  assert.equal(legacy.request.restartPolicy, "always");
  assert.equal(durationMs(legacy.request.scrapeInterval!), 30_000);
  assert.equal(legacy.request.workingDir, "/etc/pp");
  const ext = reqs.get("ext")!;
  assert.equal(ext.source, "shared", "an entry the file lacks comes from the daemon's --config");
  assert.equal(ext.request.metricsTransport, MetricsTransport.TCP);
  assert.equal(ext.request.workingDir, "/usr/lib");
  const abc = reqs.get("abc")!;
  assert.deepEqual([abc.source, abc.request.command, abc.request.plugin], ["", [], ""], "the bundled example plugin");
  assert.equal(abc.request.livenessFailures, undefined, "left out: the daemon's --liveness-failures");
  assert.equal(abc.request.healthInterval, undefined);

  const missing: Problem[] = [];
  instanceRequests(parsePluginsFile("instances: { x: { plugin: nope } }", "/d", "f"), "/d", external, missing);
  assert.deepEqual(missing.map((p) => p.path), ["instances.x.plugin"]);
  assert.match(missing[0].message, /no entry "nope" under plugins: or in the daemon's --config \(known: shared\)/);
});

test("livenessFailures and healthInterval go into the request; 0 is sent as 0 (off); an instance's win over its entry's", () => {
  const f = parsePluginsFile(
    `plugins:
  tight: { command: /opt/gp, livenessFailures: 2, healthInterval: 1s }
instances:
  a: { plugin: tight }
  b: { plugin: tight, livenessFailures: 0, healthInterval: 1m }
`,
    "/etc/pp",
    "plugins.yaml",
  );
  const problems: Problem[] = [];
  const reqs = instanceRequests(f, "/etc/pp", new Map(), problems);
  assert.deepEqual(problems, []);
  const a = reqs.get("a")!.request;
  assert.deepEqual([a.livenessFailures, durationMs(a.healthInterval!)], [2, 1_000]);
  const b = reqs.get("b")!.request;
  assert.deepEqual([b.livenessFailures, durationMs(b.healthInterval!)], [0, 60_000]);
});

test("maxMemory is a size or an integer of bytes and maxPids an integer, 0 for none; both reach the Start request", () => {
  const file = parsePluginsFile(`instances:
  a: { command: /opt/a, maxMemory: 96MiB, maxPids: 64 }
  b: { command: /opt/b, maxMemory: 100663296 }
  c: { command: /opt/c, maxMemory: 0, maxPids: 0 }
  d: { command: /opt/d }
`, "/etc/pp", "plugins.yaml");
  const problems: Problem[] = [];
  const reqs = instanceRequests(file, "/etc/pp", new Map(), problems);
  assert.deepEqual(problems, []);
  assert.equal(reqs.get("a")!.request.maxMemoryBytes, 96n * 1024n * 1024n);
  assert.equal(reqs.get("a")!.request.maxPids, 64);
  assert.equal(reqs.get("b")!.request.maxMemoryBytes, 100663296n);
  assert.equal(reqs.get("c")!.request.maxMemoryBytes, 0n, "0 says none, overriding the daemon's default");
  assert.equal(reqs.get("c")!.request.maxPids, 0);
  assert.equal(reqs.get("d")!.request.maxMemoryBytes, undefined, "left out: the daemon's default");
  assert.equal(reqs.get("d")!.request.maxPids, undefined);
});

test("a bad maxMemory or maxPids is reported with its path", () => {
  const lines = problemsOf(`instances:
  a: { command: /opt/a, maxMemory: lots }
  b: { command: /opt/b, maxMemory: 1KiB }
  c: { command: /opt/c, maxMemory: true }
  d: { command: /opt/d, maxPids: "64" }
  e: { command: /opt/e, maxPids: 1.5 }
  f: { command: /opt/f, maxPids: -1 }
`);
  const expected = [
    /^plugins\.yaml: instances\.a\.maxMemory: invalid size "lots": use a number with a unit/,
    /^plugins\.yaml: instances\.b\.maxMemory: memory limit must be 0 \(none\) or at least 1MiB$/,
    /^plugins\.yaml: instances\.c\.maxMemory: must be a size such as "96MiB", or a number of bytes$/,
    /^plugins\.yaml: instances\.d\.maxPids: must be an integer \(0 for none\)$/,
    /^plugins\.yaml: instances\.e\.maxPids: pids limit must be an integer from 0 \(none\) to 4194304$/,
    /^plugins\.yaml: instances\.f\.maxPids: pids limit must be an integer from 0 \(none\) to 4194304$/,
  ];
  for (const re of expected) assert.ok(lines.some((l) => re.test(l)), `no line matches ${re}:\n${lines.join("\n")}`);
  assert.equal(lines.length, expected.length, lines.join("\n"));
});
