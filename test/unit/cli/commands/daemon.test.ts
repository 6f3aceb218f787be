// plugprom daemon: flags and PLUGPROM_* variables -> DaemonOptions, every bad value refused
// (exit 2) before the daemon starts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newDaemonCommand } from "../../../../src/cli/commands/daemon.js";
import type { DaemonOptions } from "../../../../src/daemon/options.js";
import { parseCommand } from "../fakes.js";

const DAEMON_ENV = ["PLUGPROM_GRPC_ADDR", "PLUGPROM_HTTP_ADDR", "PLUGPROM_ADVERTISE_ADDR", "PLUGPROM_STATE_DIR", "XDG_STATE_HOME"];

/** Parses `plugprom daemon ARGS` in /here with exactly `env` of the daemon's variables set. */
async function daemonOptions(args: string[], env: Record<string, string> = {}) {
  const saved = Object.fromEntries(DAEMON_ENV.map((k) => [k, process.env[k]]));
  for (const k of DAEMON_ENV) delete process.env[k];
  Object.assign(process.env, { XDG_STATE_HOME: "/xdg/state" }, env);
  try {
    const r = await parseCommand<DaemonOptions>(newDaemonCommand, ["daemon", ...args], { cwd: "/here" });
    return { code: r.code, stderr: r.stderr, opts: r.options };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** README "plugprom daemon": every flag's default. */
const DEFAULTS: DaemonOptions = {
  grpcAddr: "127.0.0.1:50051",
  httpAddr: "0.0.0.0:2112",
  advertiseAddr: undefined,
  stateDir: "/xdg/state/plugprom",
  configFile: undefined,
  applyFile: undefined,
  logLevel: "info",
  logFormat: "text",
  scrapeTimeoutMs: 10_000,
  stopGraceMs: 5_000,
  startTimeoutMs: 30_000,
  healthIntervalMs: 10_000,
  livenessFailures: 3,
  limits: { memoryBytes: 0, pids: 0 },
  pluginPortRange: { min: 10_000, max: 25_000 },
  gzip: "auto",
  keepPlugins: false,
  backoff: { initialMs: 200, maxMs: 30_000 },
  controlTokenFile: undefined,
  scrapeTokenFile: undefined,
  httpHeaderTimeoutMs: 10_000,
  maxScrapeBytes: 64 * 1024 * 1024,
  maxConcurrentScrapes: 8,
  maxFederateBytes: 64 * 1024 * 1024,
  fileSd: undefined,
};

test("daemon with no flags uses the documented defaults", async () => {
  const { code, stderr, opts } = await daemonOptions([]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(opts, DEFAULTS);
});

test("daemon --gzip takes auto, always or never; --no-gzip is never; anything else is a usage error", async () => {
  assert.equal((await daemonOptions(["--gzip", "always"])).opts!.gzip, "always");
  assert.equal((await daemonOptions(["--gzip", "never"])).opts!.gzip, "never");
  assert.equal((await daemonOptions(["--no-gzip"])).opts!.gzip, "never");
  const bad = await daemonOptions(["--gzip", "sometimes"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'plugprom: --gzip "sometimes": expected auto, always or never\n');
});

test("daemon flags and PLUGPROM_* variables, paths made absolute", async () => {
  const { opts } = await daemonOptions(
    ["--http-addr", ":9000", "--state-dir", "state", "--config", "plugins.json", "--apply", "set.yaml", "--log-level", "debug", "--log-format", "json", "--stop-grace", "1m30s"],
    { PLUGPROM_GRPC_ADDR: "unix:/run/plugprom.sock", PLUGPROM_ADVERTISE_ADDR: "prom-host:9000" },
  );
  assert.equal(opts!.grpcAddr, "unix:/run/plugprom.sock");
  assert.equal(opts!.httpAddr, ":9000");
  assert.equal(opts!.advertiseAddr, "prom-host:9000");
  assert.equal(opts!.stateDir, "/here/state");
  assert.equal(opts!.configFile, "/here/plugins.json");
  assert.equal(opts!.applyFile, "/here/set.yaml", "relative to the working directory");
  assert.equal(opts!.logLevel, "debug");
  assert.equal(opts!.logFormat, "json");
  assert.equal(opts!.stopGraceMs, 90_000);
});

test("the rest of the daemon's flags, parsed", async () => {
  const { code, stderr, opts } = await daemonOptions([
    "--scrape-timeout", "2s", "--start-timeout", "1m", "--health-interval", "500ms",
    "--plugin-port-range", "20000-20100", "--keep-plugins",
    "--backoff-initial", "1s", "--backoff-max", "1m",
    "--control-token-file", "c.token", "--scrape-token-file", "/abs/s.token",
    "--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem", "--http-header-timeout", "2s",
    "--max-scrape-bytes", "512KiB", "--max-concurrent-scrapes", "3", "--max-federate-bytes", "1GiB",
    "--file-sd", "sd/plugprom.json", "--liveness-failures", "0", "--max-memory", "1GiB", "--max-pids", "512",
  ], { PLUGPROM_STATE_DIR: "/var/lib/plugprom", PLUGPROM_HTTP_ADDR: "127.0.0.1:0" });
  assert.equal(code, 0, stderr);
  assert.deepEqual(opts, {
    ...DEFAULTS,
    httpAddr: "127.0.0.1:0",
    stateDir: "/var/lib/plugprom",
    scrapeTimeoutMs: 2_000,
    startTimeoutMs: 60_000,
    healthIntervalMs: 500,
    livenessFailures: 0,
    pluginPortRange: { min: 20_000, max: 20_100 },
    keepPlugins: true,
    backoff: { initialMs: 1_000, maxMs: 60_000 },
    controlTokenFile: "/here/c.token",
    scrapeTokenFile: "/abs/s.token",
    tlsCertFile: "/here/cert.pem",
    tlsKeyFile: "/here/key.pem",
    httpHeaderTimeoutMs: 2_000,
    maxScrapeBytes: 512 * 1024,
    maxConcurrentScrapes: 3,
    maxFederateBytes: 1024 ** 3,
    fileSd: "/here/sd/plugprom.json",
    limits: { memoryBytes: 1024 ** 3, pids: 512 },
  });
});

const badDaemon: Array<[string, string[], RegExp]> = [
  ["a malformed --grpc-addr", ["--grpc-addr", "localhost"], /--grpc-addr: address "localhost": expected host:port/],
  ["a port out of range", ["--http-addr", "0.0.0.0:70000"], /port out of range/],
  ["an --advertise-addr without a port", ["--advertise-addr", "nope"], /--advertise-addr "nope": expected host:port$/],
  ["an unknown log level", ["--log-level", "trace"], /--log-level "trace": expected debug, info, warn or error/],
  ["an unknown log format", ["--log-format", "xml"], /--log-format "xml": expected text or json/],
  ["a bad duration", ["--scrape-timeout", "10"], /--scrape-timeout: invalid duration/],
  ["a zero duration", ["--start-timeout", "0s"], /--start-timeout: must be greater than 0/],
  ["a zero header timeout", ["--http-header-timeout", "0"], /--http-header-timeout: must be greater than 0/],
  ["a header timeout over an hour", ["--http-header-timeout", "2h"], /--http-header-timeout "2h": at most 1h$/],
  ["a port range the wrong way round", ["--plugin-port-range", "5-3"], /--plugin-port-range "5-3": expected MIN-MAX within 1-65535/],
  ["a backoff above its cap", ["--backoff-initial", "1s", "--backoff-max", "500ms"], /--backoff-initial must be > 0 and at most --backoff-max$/],
  ["a certificate without its key", ["--tls-cert-file", "x"], /--tls-cert-file and --tls-key-file go together$/],
  ["a key without its certificate", ["--tls-key-file", "x"], /--tls-cert-file and --tls-key-file go together$/],
  ["a scrape limit under 1KiB", ["--max-scrape-bytes", "1"], /--max-scrape-bytes "1": expected a size of at least 1KiB/],
  ["no concurrent scrapes", ["--max-concurrent-scrapes", "0"], /--max-concurrent-scrapes "0": expected a positive integer$/],
  ["liveness failures that are not a count", ["--liveness-failures", "three"], /--liveness-failures "three": expected an integer from 0 to 1000$/],
  ["a default memory limit under 1MiB", ["--max-memory", "1000"], /--max-memory "1000": expected a size of at least 1MiB/],
  ["a pids limit that is no integer", ["--max-pids", "many"], /--max-pids "many": expected an integer from 0 to 4194304$/],
  ["an unknown flag", ["--bogus"], /^plugprom: unknown option '--bogus' \(see "plugprom daemon --help"\)$/],
];
for (const [what, args, message] of badDaemon) {
  test(`daemon with ${what} exits 2 before starting`, async () => {
    const { code, stderr, opts } = await daemonOptions(args);
    assert.equal(code, 2);
    assert.equal(stderr.split("\n").filter(Boolean).length, 1, stderr);
    assert.match(stderr.trimEnd(), message);
    assert.equal(opts, undefined);
  });
}
