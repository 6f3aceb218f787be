// The daemon's file descriptors: its limit (RLIMIT_NOFILE), how many are open, and whether one
// more plugin fits. Node raises the soft limit to the hard one when it starts (node.cc's
// PlatformInit); what is left for the daemon is to say what it got, to refuse a start that
// would run it out of descriptors (every scrape of every plugin would then fail), and to warn
// when it gets close.
import { readdirSync, readFileSync } from "node:fs";
import type { Logger } from "./log.js";

export interface FdLimit {
  soft: number;
  hard: number;
}

/**
 * About what one scraped plugin costs the daemon: its gRPC connection, its health check's
 * HTTP/2 session, a pooled connection each for the proxy and /federate, and its output file
 * while it is read (measured: ~4).
 */
export const FDS_PER_PLUGIN = 5;
/** Kept free for clients, Prometheus' connections, state files and the unexpected. */
export const FD_RESERVE = 32;
/** At this share of the limit the daemon warns. */
export const NEAR_LIMIT = 0.8;

/** The limits in force for this process, from /proc/self/limits; undefined when unreadable. */
export function readFdLimit(limitsText?: string): FdLimit | undefined {
  let text = limitsText;
  try {
    text ??= readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!m) return undefined;
  const n = (s: string) => (s === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(s));
  return { soft: n(m[1]), hard: n(m[2]) };
}

/** Descriptors this process has open now. */
export function openFdCount(): number {
  try {
    return readdirSync("/proc/self/fd").length - 1; // the directory listing's own
  } catch {
    return 0;
  }
}

/**
 * Why one more plugin must not start, or undefined when it fits: what `plugins` plugins will
 * need once scraped (not only what they hold now), plus the new one and the reserve.
 */
export function startRefusal(o: { limit: FdLimit | undefined; open: number; baseline: number; plugins: number }): string | undefined {
  if (!o.limit) return undefined;
  const projected = Math.max(o.open, o.baseline + o.plugins * FDS_PER_PLUGIN) + FDS_PER_PLUGIN + FD_RESERVE;
  if (projected <= o.limit.soft) return undefined;
  const fits = Math.max(0, Math.floor((o.limit.soft - FD_RESERVE - o.baseline) / FDS_PER_PLUGIN));
  return (
    `the daemon's open files limit is ${o.limit.soft} (ulimit -n), enough for about ${fits} plugins at ~${FDS_PER_PLUGIN} descriptors each, ` +
    `and ${o.plugins} run (${o.open} descriptors open): raise the limit (systemd LimitNOFILE=, ulimit -n before starting the daemon) or stop plugins`
  );
}

/**
 * Logs the limit once, then checks every `intervalMs` and warns (at most once a minute)
 * while the daemon holds NEAR_LIMIT of it or more. Returns the function that stops it.
 */
export function watchFdUsage(log: Logger, limit: FdLimit | undefined, intervalMs = 10_000): () => void {
  if (!limit) return () => undefined;
  const open = openFdCount();
  log.info("open files limit", { soft: limit.soft, hard: limit.hard, open, plugins: Math.floor((limit.soft - FD_RESERVE - open) / FDS_PER_PLUGIN) });
  if (limit.soft < limit.hard) log.warn("could not raise the open files limit to its hard limit", { soft: limit.soft, hard: limit.hard });
  let warnedAt = -Infinity;
  const timer = setInterval(() => {
    const now = Date.now();
    const n = openFdCount();
    if (n < NEAR_LIMIT * limit.soft || now - warnedAt < 60_000) return;
    warnedAt = now;
    log.warn("the daemon is near its open files limit: new connections and plugin files may fail (EMFILE)", { open: n, limit: limit.soft });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
