// plugprom start <name> [flags] [-- command...]: flags -> the checked StartRequest, and
// options -> the Start call and what it prints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { MetricsTransport } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { newStartCommand, runStart, type StartOptions } from "../../../../src/cli/commands/start.js";
import { abc, parseCommand, testSeams } from "../fakes.js";

const parse = (args: string[]) => parseCommand<StartOptions>(newStartCommand, args);

async function request(args: string[]) {
  const r = await parse(args);
  assert.equal(r.code, 0, r.stderr);
  return r.options!.request;
}

test("start builds the request from flags; everything after -- is the command, untouched", async () => {
  const r = await parse([
    "start", "abc",
    "--plugin", "./plugins/greeter",
    "--label", "team=core", "--label", "tier=2",
    "--env", "A=1=2", "--env", "EMPTY=",
    "--magic-cookie", "BASIC_PLUGIN=hello",
    "--protocol-version", "2", "--protocol-version", "3",
    "--metrics-transport", "tcp",
    "--start-timeout", "1m",
    "--sha256", "AB".repeat(32),
    "--restart", "always",
    "--inherit-env", "--no-metrics",
    "--scrape-interval", "30s", "--scrape-timeout", "10s",
    "--liveness-failures", "5", "--health-interval", "2s",
    "--", "node", "greeter.js", "--port", "3", "--json", "--label", "x",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const req = r.options!.request;
  assert.equal(req.name, "abc");
  assert.equal(req.plugin, "/home/me/project/plugins/greeter", "a --plugin path is made absolute against the CLI's cwd");
  assert.deepEqual(req.command, ["node", "greeter.js", "--port", "3", "--json", "--label", "x"]);
  assert.deepEqual(req.labels, { team: "core", tier: "2" });
  assert.deepEqual(req.env, { A: "1=2", EMPTY: "" });
  assert.equal(req.magicCookieKey, "BASIC_PLUGIN");
  assert.equal(req.magicCookieValue, "hello");
  assert.deepEqual(req.protocolVersions, [2, 3]);
  assert.equal(req.metricsTransport, MetricsTransport.TCP);
  assert.equal(durationMs(req.startTimeout!), 60_000);
  assert.equal(req.sha256, "ab".repeat(32), "the checksum is sent in lower case");
  assert.equal(req.restartPolicy, "always");
  assert.equal(req.inheritEnv, true);
  assert.equal(req.noMetrics, true);
  assert.equal(durationMs(req.scrapeInterval!), 30_000);
  assert.equal(durationMs(req.scrapeTimeout!), 10_000);
  assert.equal(req.livenessFailures, 5);
  assert.equal(durationMs(req.healthInterval!), 2_000);
  assert.equal(req.workingDir, "/home/me/project");
  // --json after -- was the plugin's: the result is printed for a person.
  assert.equal(r.options!.json, false);
});

test("start with only a name leaves everything to the daemon's defaults", async () => {
  const req = await request(["start", "solo"]);
  assert.equal(req.plugin, "");
  assert.deepEqual(req.command, []);
  assert.deepEqual(req.labels, {});
  assert.deepEqual(req.env, {});
  assert.deepEqual(req.protocolVersions, []);
  assert.equal(req.metricsTransport, MetricsTransport.UNSPECIFIED);
  assert.equal(req.startTimeout, undefined);
  assert.equal(req.magicCookieKey, "");
  assert.equal(req.autoMtls, undefined, "AutoMTLS is the daemon's default unless turned off");
  assert.equal(req.sha256, "");
  assert.equal(req.restartPolicy, "");
  assert.equal(req.inheritEnv, false);
  assert.equal(req.noMetrics, false);
  assert.equal(req.scrapeInterval, undefined);
  assert.equal(req.scrapeTimeout, undefined);
  assert.equal(req.livenessFailures, undefined, "unset: the daemon's --liveness-failures, now and after its restart");
  assert.equal(req.healthInterval, undefined);
  assert.equal(req.maxMemoryBytes, undefined, "the daemon's --max-memory");
  assert.equal(req.maxPids, undefined, "the daemon's --max-pids");
  assert.equal(req.workingDir, "/home/me/project");
});

test("start --liveness-failures 0 is sent as 0 (off), not left to the daemon's default", async () => {
  const req = await request(["start", "abc", "--liveness-failures", "0"]);
  assert.equal(req.livenessFailures, 0);
});

test("start --max-memory takes a size (0: none, whatever the daemon's default) and --max-pids a count", async () => {
  const req = await request(["start", "abc", "--max-memory", "96MiB", "--max-pids", "64"]);
  assert.equal(req.maxMemoryBytes, 96n * 1024n * 1024n);
  assert.equal(req.maxPids, 64);
  const none = await request(["start", "abc", "--max-memory", "0", "--max-pids", "0"]);
  assert.equal(none.maxMemoryBytes, 0n);
  assert.equal(none.maxPids, 0);
});

test("start with a relative command after -- makes it absolute; a bare name is left for PATH; --no-auto-mtls is sent", async () => {
  const relative = await request(["start", "a", "--no-auto-mtls", "--", "./bin/thing", "x"]);
  const bare = await request(["start", "b", "--", "node", "greeter.js"]);
  assert.deepEqual(relative.command, ["/home/me/project/bin/thing", "x"]);
  assert.equal(relative.autoMtls, false);
  assert.deepEqual(bare.command, ["node", "greeter.js"]);
  assert.equal(bare.autoMtls, undefined);
});

test("a --plugin without a slash is a catalog name and stays as given", async () => {
  const req = await request(["start", "a", "--plugin", "greeter", "--metrics-transport", "unix"]);
  assert.equal(req.plugin, "greeter");
  assert.equal(req.metricsTransport, MetricsTransport.UNIX);
});

test("the working directory is the user's, wherever that is", async () => {
  const r = await parseCommand<StartOptions>(newStartCommand, ["start", "a", "--plugin", "../p"], { cwd: "/srv/x" });
  assert.equal(r.options!.request.plugin, "/srv/p");
  assert.equal(r.options!.request.workingDir, "/srv/x");
});

test("--json before the command or among its flags prints JSON", async () => {
  assert.equal((await parse(["--json", "start", "abc"])).options!.json, true);
  assert.equal((await parse(["start", "abc", "--json"])).options!.json, true);
});

const badStarts: Array<[string, string[], RegExp]> = [
  ["an upper-case name", ["start", "ABC"], /invalid instance name/],
  ["a name with a slash", ["start", "a/b"], /invalid instance name/],
  ["the label plugin", ["start", "a", "--label", "plugin=x"], /"plugin" is set by plugprom/],
  ["a label reserved by Prometheus", ["start", "a", "--label", "__address__=x"], /reserved by Prometheus/],
  ["an env entry without =", ["start", "a", "--env", "HOME"], /--env "HOME": expected KEY=VALUE/],
  ["a cookie without =", ["start", "a", "--magic-cookie", "K"], /--magic-cookie "K": expected KEY=VALUE/],
  ["protocol version 0", ["start", "a", "--protocol-version", "0"], /--protocol-version "0": expected a positive integer/],
  ["a metrics transport of udp", ["start", "a", "--metrics-transport", "udp"], /--metrics-transport "udp": expected unix or tcp$/],
  ["a start timeout without a unit", ["start", "a", "--start-timeout", "30"], /--start-timeout: invalid duration/],
  ["a short checksum", ["start", "a", "--sha256", "12"], /--sha256: expected 64 hex characters/],
  ["an unknown restart policy", ["start", "a", "--restart", "sometimes"], /--restart "sometimes": expected always, on-failure or never$/],
  ["a scrape interval without a unit", ["start", "a", "--scrape-interval", "10"], /--scrape-interval: invalid duration/],
  ["negative liveness failures", ["start", "a", "--liveness-failures", "-1"], /--liveness-failures "-1": expected an integer from 0 to 1000$/],
  ["liveness failures over 1000", ["start", "a", "--liveness-failures", "1001"], /--liveness-failures "1001": expected an integer from 0 to 1000$/],
  ["a health interval under 100ms", ["start", "a", "--health-interval", "50ms"], /--health-interval 50ms: must be between 100ms and 1h$/],
  ["a memory limit under 1MiB", ["start", "a", "--max-memory", "512KiB"], /--max-memory "512KiB": expected a size of at least 1MiB, e.g. 64MiB$/],
  ["a memory limit that is no size", ["start", "a", "--max-memory", "lots"], /--max-memory "lots": expected a size of at least 1MiB/],
  ["a negative pids limit", ["start", "a", "--max-pids", "-1"], /--max-pids "-1": expected an integer from 0 to 4194304$/],
];
for (const [what, argv, message] of badStarts) {
  test(`start with ${what} exits 2 with one line, before any call`, async () => {
    const r = await parse(argv);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), message);
    assert.equal(r.options, undefined);
    assert.deepEqual(r.calls, []);
  });
}

test("start sends the request and prints the started instance", async () => {
  const req = await request(["start", "abc"]);
  const { seams, rec } = testSeams({ start: () => ({ plugin: abc }) });
  await runStart({ request: req, json: false }, seams);
  assert.deepEqual(rec.calls[0].slice(0, 2), ["start", req]);
  assert.match(rec.stdout, /^name: +abc$/m);
});

test("start --json prints the started plugin as one object", async () => {
  const { seams, rec } = testSeams({ start: () => ({ plugin: abc }) });
  await runStart({ request: await request(["start", "abc"]), json: true }, seams);
  assert.equal(JSON.parse(rec.stdout).state, "RUNNING");
});
