// Everything `plugprom daemon` can be told, already parsed from flags and environment by
// the CLI. main.ts wires the daemon from exactly this.
import type { ResourceLimits } from "./spec.js";

/** When the proxy compresses: see gzipPays in http/response.ts. */
export type GzipPolicy = "auto" | "always" | "never";
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";

export interface DaemonOptions {
  /** Control API listen address: "host:port" or "unix:/abs/path". */
  grpcAddr: string;
  /** HTTP (SD, proxy, /metrics) listen address: "host:port". */
  httpAddr: string;
  /** host:port Prometheus uses to reach the HTTP server; undefined → derived from httpAddr. */
  advertiseAddr?: string;
  /** Absolute state directory (daemon.json, sockets, logs). */
  stateDir: string;
  /** Optional plugin catalog (JSON file). */
  configFile?: string;
  /** A plugins file (absolute path) to converge to after start-up and on every SIGHUP. */
  applyFile?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Default scrape timeout when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds. */
  scrapeTimeoutMs: number;
  /** Default grace period for stopping plugins (Shutdown → SIGTERM → SIGKILL). */
  stopGraceMs: number;
  /** Default time a plugin has for its handshake and first SERVING health check. */
  startTimeoutMs: number;
  /** PLUGIN_MIN_PORT..PLUGIN_MAX_PORT for plugins that listen on TCP. */
  pluginPortRange: { min: number; max: number };
  /** When to compress scrapes for clients that accept gzip and the plugin did not. */
  gzip: GzipPolicy;
  /** Leave plugins running when the daemon exits, for a later reattach (upgrades). */
  keepPlugins: boolean;
  /** Restart backoff: first wait, doubling per failure up to the cap. */
  backoff: { initialMs: number; maxMs: number };
  /** Every control RPC must carry `authorization: Bearer <token from this file>`. */
  controlTokenFile?: string;
  /** SD, proxy and /metrics require `Authorization: Bearer <token from this file>`. */
  scrapeTokenFile?: string;
  /** An HTTP client must send its request headers (over TLS: finish its handshake) within this. */
  httpHeaderTimeoutMs: number;
  /** Serve the HTTP side over TLS (reloaded on SIGHUP). */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** A scrape larger than this is cut (and counted); the proxy never buffers it. */
  maxScrapeBytes: number;
  /** Scrapes of one plugin in flight at once; more get 429. */
  maxConcurrentScrapes: number;
  /** All plugins' expositions held for one /federate answer, together. */
  maxFederateBytes: number;
  /** Also write the SD target groups to this file (Prometheus file_sd), on every change. */
  fileSd?: string;
  /** How often RUNNING plugins are health-checked, unless their spec says. */
  healthIntervalMs: number;
  /** Failed health checks in a row that replace a plugin's process (0 = never), unless its spec says. */
  livenessFailures: number;
  /** Memory and pids limits of instances that set none (0 = none). */
  limits: ResourceLimits;
}
