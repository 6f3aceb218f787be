// `plugprom daemon`: validates flags and environment into DaemonOptions, then runs the
// daemon (loaded lazily: client commands never load daemon code).
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parseAddress } from "../../shared/address.js";
import type { DaemonOptions, GzipPolicy, LogFormat, LogLevel } from "../../daemon/options.js";
import { usageError } from "../errors.js";
import { duration } from "./start.js";

export interface DaemonFlags {
  grpcAddr: string;
  httpAddr: string;
  advertiseAddr?: string;
  stateDir?: string;
  config?: string;
  apply?: string;
  logLevel: string;
  logFormat: string;
  scrapeTimeout: string;
  stopGrace: string;
  startTimeout: string;
  pluginPortRange: string;
  healthInterval: string;
  /** false for --no-gzip. */
  gzip: string | false;
  keepPlugins: boolean;
  backoffInitial: string;
  backoffMax: string;
  controlTokenFile?: string;
  scrapeTokenFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  maxScrapeBytes: string;
  maxConcurrentScrapes: string;
  maxFederateBytes: string;
  fileSd?: string;
}

function gzipPolicy(flag: string | false): GzipPolicy {
  if (flag === false) return "never";
  if (flag === "auto" || flag === "always" || flag === "never") return flag;
  throw usageError(`--gzip ${JSON.stringify(flag)}: expected auto, always or never`);
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "plugprom");
}

export function buildDaemonOptions(f: DaemonFlags, cwd = process.cwd()): DaemonOptions {
  for (const [flag, value] of [["--grpc-addr", f.grpcAddr], ["--http-addr", f.httpAddr]] as const) {
    try {
      parseAddress(value);
    } catch (err) {
      throw usageError(`${flag}: ${(err as Error).message}`);
    }
  }
  if (f.advertiseAddr !== undefined && !/^[^\s/]+:\d{1,5}$/.test(f.advertiseAddr)) {
    throw usageError(`--advertise-addr ${JSON.stringify(f.advertiseAddr)}: expected host:port`);
  }
  if (!["debug", "info", "warn", "error"].includes(f.logLevel)) throw usageError(`--log-level ${JSON.stringify(f.logLevel)}: expected debug, info, warn or error`);
  if (!["text", "json"].includes(f.logFormat)) throw usageError(`--log-format ${JSON.stringify(f.logFormat)}: expected text or json`);
  const positive = (flag: string, text: string) => {
    const ms = duration(flag, text);
    if (ms <= 0) throw usageError(`${flag}: must be greater than 0`);
    return ms;
  };
  const range = /^(\d{1,5})-(\d{1,5})$/.exec(f.pluginPortRange);
  const min = Number(range?.[1]);
  const max = Number(range?.[2]);
  if (!range || min < 1 || max > 65_535 || min > max) {
    throw usageError(`--plugin-port-range ${JSON.stringify(f.pluginPortRange)}: expected MIN-MAX within 1-65535, e.g. 10000-25000`);
  }
  return {
    pluginPortRange: { min, max },
    grpcAddr: f.grpcAddr,
    httpAddr: f.httpAddr,
    advertiseAddr: f.advertiseAddr,
    stateDir: resolve(cwd, f.stateDir || defaultStateDir()),
    configFile: f.config !== undefined ? resolve(cwd, f.config) : undefined,
    applyFile: f.apply !== undefined ? resolve(cwd, f.apply) : undefined,
    logLevel: f.logLevel as LogLevel,
    logFormat: f.logFormat as LogFormat,
    scrapeTimeoutMs: positive("--scrape-timeout", f.scrapeTimeout),
    stopGraceMs: positive("--stop-grace", f.stopGrace),
    startTimeoutMs: positive("--start-timeout", f.startTimeout),
    healthIntervalMs: positive("--health-interval", f.healthInterval),
    gzip: gzipPolicy(f.gzip),
    keepPlugins: f.keepPlugins,
    backoff: backoffOf(f),
    controlTokenFile: f.controlTokenFile !== undefined ? resolve(cwd, f.controlTokenFile) : undefined,
    scrapeTokenFile: f.scrapeTokenFile !== undefined ? resolve(cwd, f.scrapeTokenFile) : undefined,
    ...tlsOf(f, cwd),
    maxScrapeBytes: byteSize("--max-scrape-bytes", f.maxScrapeBytes),
    maxConcurrentScrapes: positiveInt("--max-concurrent-scrapes", f.maxConcurrentScrapes),
    maxFederateBytes: byteSize("--max-federate-bytes", f.maxFederateBytes),
    fileSd: f.fileSd !== undefined ? resolve(cwd, f.fileSd) : undefined,
  };
}

export async function runDaemonCommand(f: DaemonFlags): Promise<void> {
  const opts = buildDaemonOptions(f);
  const { runDaemon } = await import("../../daemon/main.js");
  await runDaemon(opts);
}

function backoffOf(f: DaemonFlags): { initialMs: number; maxMs: number } {
  const initialMs = duration("--backoff-initial", f.backoffInitial);
  const maxMs = duration("--backoff-max", f.backoffMax);
  if (initialMs <= 0 || maxMs < initialMs) throw usageError("--backoff-initial must be > 0 and at most --backoff-max");
  return { initialMs, maxMs };
}

function tlsOf(f: DaemonFlags, cwd: string): { tlsCertFile?: string; tlsKeyFile?: string } {
  if ((f.tlsCertFile === undefined) !== (f.tlsKeyFile === undefined)) throw usageError("--tls-cert-file and --tls-key-file go together");
  if (f.tlsCertFile === undefined) return {};
  return { tlsCertFile: resolve(cwd, f.tlsCertFile), tlsKeyFile: resolve(cwd, f.tlsKeyFile!) };
}

/** "64MiB", "512KiB", "1000000" (bytes). */
export function byteSize(flag: string, text: string): number {
  const m = /^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim());
  const units: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };
  const n = m ? Number(m[1]) * units[(m[2] ?? "b").toLowerCase()] : NaN;
  if (!(n >= 1024)) throw usageError(`${flag} ${JSON.stringify(text)}: expected a size of at least 1KiB, e.g. 64MiB`);
  return n;
}

function positiveInt(flag: string, text: string): number {
  if (!/^[1-9]\d{0,5}$/.test(text)) throw usageError(`${flag} ${JSON.stringify(text)}: expected a positive integer`);
  return Number(text);
}
