// Small pieces every HTTP route shares: plain-text answers, the one mapping from daemon
// errors to HTTP statuses, the scrape deadline Prometheus asks for, and whether an answer
// should be gzipped. Kept apart from the proxy so that
// /federate, the status page and the CLI use them without depending on the proxy.
import type { IncomingMessage, ServerResponse } from "node:http";
import { DaemonError, type ErrorReason } from "../errors.js";
import type { GzipPolicy } from "../options.js";

/** Bounds on X-Prometheus-Scrape-Timeout-Seconds: a typo must not make a scrape wait forever. */
const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 300_000;

/** Below this, gzip's header and CPU cost more than the bytes it saves. */
const GZIP_MIN_BYTES = 1024;

/**
 * Whether compressing an answer is worth its CPU. "auto": not for a scraper on this host
 * (loopback or a Unix socket: the bytes cost nothing there, the compression costs the daemon
 * and the scraper CPU) and not for a body known to be under 1 KiB.
 */
export function gzipPays(policy: GzipPolicy, remoteAddress: string | undefined, contentLength: number | undefined): boolean {
  if (policy !== "auto") return policy === "always";
  if (contentLength !== undefined && contentLength < GZIP_MIN_BYTES) return false;
  return !isLocal(remoteAddress);
}

function isLocal(address: string | undefined): boolean {
  if (address === undefined) return true; // a Unix socket
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/** True when the Accept-Encoding header allows gzip (q > 0). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  if (header === "gzip") return true; // Prometheus' own header: no parsing on the hot path
  const text = Array.isArray(header) ? header.join(",") : (header ?? "");
  for (const part of text.split(",")) {
    const [coding, ...params] = part.trim().split(";").map((p) => p.trim().toLowerCase());
    if (coding !== "gzip" && coding !== "*") continue;
    const q = params.find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

/** Prometheus' header when present and sane (clamped), else the daemon's default. */
export function timeoutFor(req: IncomingMessage, defaultMs: number): number {
  const header = req.headers["x-prometheus-scrape-timeout-seconds"];
  const seconds = typeof header === "string" ? Number(header) : NaN;
  if (!Number.isFinite(seconds) || seconds <= 0) return defaultMs;
  return Math.min(MAX_TIMEOUT_MS, Math.max(MIN_TIMEOUT_MS, Math.round(seconds * 1000)));
}

export function plain(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "x-content-type-options": "nosniff",
    "content-length": Buffer.byteLength(body),
    ...extra,
  });
  res.end(res.req?.method === "HEAD" ? undefined : body);
}

/** The HTTP side's one mapping from a daemon error's reason to a status. */
const STATUSES: Record<ErrorReason, number> = {
  invalid: 400,
  "not-found": 404,
  exists: 409,
  // For a scraper, an instance in the wrong state is a target that is down.
  conflict: 503,
  "start-failed": 502,
  timeout: 504,
  unreachable: 502,
  canceled: 499,
  corrupt: 500,
  exhausted: 503,
  internal: 500,
};

/** A daemon error's status, its message as the body; anything else is an internal error. */
export function errorAnswer(err: unknown): { status: number; body: string } {
  if (err instanceof DaemonError) return { status: STATUSES[err.reason], body: `${err.message}\n` };
  return { status: 500, body: "internal error\n" };
}
