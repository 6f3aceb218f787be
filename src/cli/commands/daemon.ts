// `plugprom daemon`: checks flags and environment into DaemonOptions, then runs the daemon
// (loaded lazily: client commands never load daemon code, and their bundle has none).
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { Command, Option } from "@commander-js/extra-typings";
import type { DaemonOptions } from "../../daemon/options.js";
import { usageError } from "../errors.js";
import type { Factory } from "../factory.js";
import { MAX_LIVENESS_FAILURES, MAX_PIDS_LIMIT } from "../../shared/plugin-entry.js";
import { address, byteSize, duration, memoryLimit, nonNegativeInt, oneOf, positiveDuration, positiveInt } from "../flags.js";

/** The command and its flags, without an action; their types are inferred from here. */
function declareDaemon() {
  return new Command("daemon")
    .description("run the daemon in the foreground: control API, HTTP SD, metrics proxy")
    .addOption(new Option("--grpc-addr <addr>", "control API address (host:port or unix:/path)").env("PLUGPROM_GRPC_ADDR").default("127.0.0.1:50051"))
    .addOption(new Option("--http-addr <addr>", "HTTP address for SD, proxy and /metrics").env("PLUGPROM_HTTP_ADDR").default("0.0.0.0:2112"))
    .addOption(new Option("--advertise-addr <host:port>", "address Prometheus uses to reach the HTTP server").env("PLUGPROM_ADVERTISE_ADDR"))
    .addOption(new Option("--state-dir <dir>", "state directory (default: $XDG_STATE_HOME/plugprom)").env("PLUGPROM_STATE_DIR"))
    .option("--config <file.json>", "plugin catalog")
    .option("--apply <file>", "plugins file to converge to after start-up and on every SIGHUP")
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text or json", "text")
    .option("--scrape-timeout <duration>", "proxy timeout without X-Prometheus-Scrape-Timeout-Seconds", "10s")
    .option("--stop-grace <duration>", "default grace between Shutdown, SIGTERM and SIGKILL", "5s")
    .option("--start-timeout <duration>", "default time for a plugin's handshake and first health check", "30s")
    .option("--plugin-port-range <min-max>", "PLUGIN_MIN_PORT-PLUGIN_MAX_PORT for plugins listening on TCP", "10000-25000")
    .option("--health-interval <duration>", "how often running plugins are health-checked", "10s")
    .option("--liveness-failures <n>", "failed health checks in a row that get a plugin SIGKILLed and restarted (0: never)", "3")
    .option("--gzip <when>", "compress scrapes: auto (not for scrapers on this host or bodies under 1 KiB), always or never", "auto")
    .option("--no-gzip", "the same as --gzip never")
    .option("--keep-plugins", "leave plugins running on SIGTERM/SIGINT, for a later daemon to reattach", false)
    .option("--backoff-initial <duration>", "first restart backoff; doubles per failure", "200ms")
    .option("--backoff-max <duration>", "restart backoff cap", "30s")
    .option("--control-token-file <file>", "require this bearer token on every control RPC")
    .option("--scrape-token-file <file>", "require this bearer token for SD, the proxy and /metrics")
    .option("--http-header-timeout <duration>", "time an HTTP client has for its request headers (and TLS handshake)", "10s")
    .option("--tls-cert-file <file>", "serve the HTTP side over TLS with this certificate (reloaded on SIGHUP)")
    .option("--tls-key-file <file>", "the TLS certificate's private key")
    .option("--max-scrape-bytes <size>", "cut scrapes larger than this", "64MiB")
    .option("--max-concurrent-scrapes <n>", "scrapes of one plugin in flight at once; more get 429", "8")
    .option("--max-federate-bytes <size>", "all plugins' expositions held for one /federate answer", "64MiB")
    .option("--file-sd <path>", "also write the SD target groups to this file_sd JSON file on every change")
    .option("--max-memory <size>", "default memory limit of instances: restart one whose process group's resident memory stays above it; 0: none", "0")
    .option("--max-pids <n>", "default pids limit of instances' cgroups; 0: none", "0");
}

type DaemonFlags = ReturnType<ReturnType<typeof declareDaemon>["opts"]>;

export function newDaemonCommand(f: Factory, runF: (o: DaemonOptions) => Promise<void> = runDaemonCommand) {
  return declareDaemon().action((flags) => runF(daemonOptions(flags, f.cwd())));
}

function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "plugprom");
}

/** Relative paths are resolved against `cwd`, so the daemon may change directory freely. */
export function daemonOptions(f: DaemonFlags, cwd: string): DaemonOptions {
  const grpcAddr = address("--grpc-addr", f.grpcAddr);
  const httpAddr = address("--http-addr", f.httpAddr);
  if (f.advertiseAddr !== undefined && !/^[^\s/]+:\d{1,5}$/.test(f.advertiseAddr)) {
    throw usageError(`--advertise-addr ${JSON.stringify(f.advertiseAddr)}: expected host:port`);
  }
  const logLevel = oneOf("--log-level", f.logLevel, ["debug", "info", "warn", "error"]);
  const logFormat = oneOf("--log-format", f.logFormat, ["text", "json"]);
  const path = (file: string | undefined) => (file === undefined ? undefined : resolve(cwd, file));
  return {
    pluginPortRange: portRange(f.pluginPortRange),
    grpcAddr,
    httpAddr,
    advertiseAddr: f.advertiseAddr,
    stateDir: resolve(cwd, f.stateDir || defaultStateDir()),
    configFile: path(f.config),
    applyFile: path(f.apply),
    logLevel,
    logFormat,
    scrapeTimeoutMs: positiveDuration("--scrape-timeout", f.scrapeTimeout),
    stopGraceMs: positiveDuration("--stop-grace", f.stopGrace),
    startTimeoutMs: positiveDuration("--start-timeout", f.startTimeout),
    healthIntervalMs: positiveDuration("--health-interval", f.healthInterval),
    livenessFailures: nonNegativeInt("--liveness-failures", f.livenessFailures, MAX_LIVENESS_FAILURES),
    // --no-gzip leaves false.
    gzip: f.gzip === false ? "never" : oneOf("--gzip", f.gzip, ["auto", "always", "never"]),
    keepPlugins: f.keepPlugins,
    backoff: backoffOf(f),
    controlTokenFile: path(f.controlTokenFile),
    scrapeTokenFile: path(f.scrapeTokenFile),
    httpHeaderTimeoutMs: headerTimeout(f.httpHeaderTimeout),
    ...tlsOf(f.tlsCertFile, f.tlsKeyFile, cwd),
    maxScrapeBytes: byteSize("--max-scrape-bytes", f.maxScrapeBytes),
    maxConcurrentScrapes: positiveInt("--max-concurrent-scrapes", f.maxConcurrentScrapes, 999_999),
    maxFederateBytes: byteSize("--max-federate-bytes", f.maxFederateBytes),
    fileSd: path(f.fileSd),
    limits: { memoryBytes: memoryLimit("--max-memory", f.maxMemory), pids: nonNegativeInt("--max-pids", f.maxPids, MAX_PIDS_LIMIT) },
  };
}

export async function runDaemonCommand(o: DaemonOptions): Promise<void> {
  const { runDaemon } = await import("../../daemon/main.js");
  await runDaemon(o);
}

function portRange(text: string): { min: number; max: number } {
  const range = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  const min = Number(range?.[1]);
  const max = Number(range?.[2]);
  if (!range || min < 1 || max > 65_535 || min > max) {
    throw usageError(`--plugin-port-range ${JSON.stringify(text)}: expected MIN-MAX within 1-65535, e.g. 10000-25000`);
  }
  return { min, max };
}

/** Bounded: what it allows a slow client is what every connection may be held for. */
function headerTimeout(text: string): number {
  const ms = positiveDuration("--http-header-timeout", text);
  if (ms > 3_600_000) throw usageError(`--http-header-timeout ${JSON.stringify(text)}: at most 1h`);
  return ms;
}

function backoffOf(f: DaemonFlags): { initialMs: number; maxMs: number } {
  const initialMs = duration("--backoff-initial", f.backoffInitial);
  const maxMs = duration("--backoff-max", f.backoffMax);
  if (initialMs <= 0 || maxMs < initialMs) throw usageError("--backoff-initial must be > 0 and at most --backoff-max");
  return { initialMs, maxMs };
}

function tlsOf(cert: string | undefined, key: string | undefined, cwd: string): { tlsCertFile?: string; tlsKeyFile?: string } {
  if (cert === undefined || key === undefined) {
    if (cert !== key) throw usageError("--tls-cert-file and --tls-key-file go together");
    return {};
  }
  return { tlsCertFile: resolve(cwd, cert), tlsKeyFile: resolve(cwd, key) };
}
