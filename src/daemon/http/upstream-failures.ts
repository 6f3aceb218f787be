// Scrapes of a plugin's endpoint that failed (the proxy's 502/504, a plugin /federate left
// out), by reason: counted in plugprom_proxy_upstream_errors_total{plugin,reason} and logged
// with their error code, at most once per plugin and reason every 10 s (with how many were not
// logged), so that a daemon out of descriptors (EMFILE) or a dead plugin says so in its log
// without one line per scrape.
import type { Logger } from "../log.js";
import type { DaemonMetrics } from "../metrics.js";

const LOG_EVERY_MS = 10_000;
const MAX_REMEMBERED = 4_096;
/** Reasons beyond these are counted as "other": a label must not take arbitrary values. */
const KNOWN_REASONS = new Set([
  "timeout",
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOENT",
  "EMFILE",
  "ENFILE",
  "EPIPE",
  "ETIMEDOUT",
  "EACCES",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ENOBUFS",
  "ENOMEM",
  "HPE_INVALID_CONSTANT",
  "HPE_INVALID_HEADER_TOKEN",
]);

export function failureReason(err: unknown, timedOut: boolean): string {
  if (timedOut) return "timeout";
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof e?.code === "string" && e.code.startsWith("E") ? e.code : e?.cause?.code;
  return typeof code === "string" && KNOWN_REASONS.has(code) ? code : "other";
}

export class UpstreamFailures {
  private readonly lastLogged = new Map<string, { at: number; unlogged: number }>();

  constructor(
    private readonly log: Logger,
    private readonly metrics: Pick<DaemonMetrics, "upstreamFailed">,
    private readonly now: () => number = Date.now,
  ) {}

  record(plugin: string, reason: string, detail: string): void {
    this.metrics.upstreamFailed(plugin, reason);
    const key = `${plugin}\0${reason}`;
    const last = this.lastLogged.get(key);
    const now = this.now();
    if (last && now - last.at < LOG_EVERY_MS) {
      last.unlogged++;
      return;
    }
    this.log.warn("scrape of a plugin's metrics endpoint failed", { plugin, reason, error: detail, notLoggedSince: last?.unlogged || undefined });
    // Instances come and go: the memory of what was logged is bounded, forgetting is harmless.
    if (this.lastLogged.size >= MAX_REMEMBERED) this.lastLogged.clear();
    this.lastLogged.set(key, { at: now, unlogged: 0 });
  }
}
