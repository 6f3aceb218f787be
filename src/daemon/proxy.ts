// The scrape proxy: streams GET /plugins/<name>/metrics to the instance's private endpoint
// with http-proxy, never buffering the body. The upstream is chosen by an exact lookup of a
// validated name; the path is fixed; only an allowlist of headers crosses in either direction.
import type { ClientRequest, IncomingMessage, ServerResponse } from "node:http";
import { constants as zlibConstants, createGzip } from "node:zlib";
import httpProxy from "http-proxy";
import { PluginState } from "../shared/gen/plugprom/v1/control_pb.js";
import { checkInstanceName } from "../shared/names.js";
import type { InstanceDirectory } from "./instance.js";
import type { Logger } from "./log.js";
import type { DaemonMetrics } from "./metrics.js";
import { UPSTREAM_PATH, upstreamAgent, upstreamTarget } from "./upstream.js";
import { processExposition } from "./process-exposition.js";

/** What a scrape may tell the plugin; everything else (cookies, auth, forwarding) stays here. */
const FORWARDED_REQUEST_HEADERS = ["accept", "accept-encoding", "user-agent", "x-prometheus-scrape-timeout-seconds"];
/** What a plugin's answer may tell Prometheus: the format, its encoding and its length. */
const RETURNED_RESPONSE_HEADERS = ["content-type", "content-encoding", "content-length", "vary", "date"];

/** The `plugin` label of requests for names that match no instance. */
const UNKNOWN_PLUGIN = "";

const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 300_000;

export interface ProxyDeps {
  directory: InstanceDirectory;
  metrics: DaemonMetrics;
  defaultScrapeTimeoutMs: number;
  log: Logger;
  /** Compress (gzip, streaming) when the scraper accepts it and the plugin did not compress. */
  gzip: boolean;
  /** A body larger than this is cut mid-stream (and counted): the scrape fails visibly. */
  maxScrapeBytes: number;
  /** Scrapes in flight per plugin; more are refused (429) rather than queued without bound. */
  maxConcurrentScrapes: number;
}

interface ScrapeState {
  plugin: string;
  timedOut: boolean;
  bytes: number;
  timer?: NodeJS.Timeout;
  /** Set once the agent hands the upstream request a socket; until then it is queued. */
  upstreamReq?: ClientRequest;
}

export function createScrapeProxy(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse, name: string) => void {
  // selfHandleResponse: the response is written here, so that headers are filtered, the body
  // can be compressed on the fly, and a body cut short ends the client's response abnormally.
  const proxy = httpProxy.createProxyServer({ agent: upstreamAgent, ignorePath: true, xfwd: false, changeOrigin: false, selfHandleResponse: true });
  const states = new WeakMap<IncomingMessage, ScrapeState>();

  proxy.on("proxyReq", (proxyReq, req) => {
    const state = states.get(req);
    if (!state) return;
    // The deadline passed (or the scraper left) while this request waited for a pooled
    // connection: release the connection at once instead of scraping for nobody.
    if (state.timedOut || req.socket.destroyed) proxyReq.destroy();
    else state.upstreamReq = proxyReq;
  });

  proxy.on("proxyRes", (proxyRes, req, res) => {
    const state = states.get(req);
    const headers: Record<string, string | string[]> = {};
    for (const h of RETURNED_RESPONSE_HEADERS) {
      const v = proxyRes.headers[h];
      if (v !== undefined) headers[h] = v;
    }
    const gzip = deps.gzip && proxyRes.statusCode === 200 && !proxyRes.headers["content-encoding"] && acceptsGzip(req.headers["accept-encoding"]) && req.method !== "HEAD";
    if (gzip) {
      delete headers["content-length"];
      headers["content-encoding"] = "gzip";
      headers.vary = "Accept-Encoding";
    }
    res.writeHead(proxyRes.statusCode ?? 502, headers);

    // The plugin died, the deadline passed or the body outgrew the cap, mid-body: end the
    // response abnormally so Prometheus fails this scrape instead of ingesting a truncated
    // exposition. (Counting in a 'data' listener costs less than a Transform stage.)
    let cut = false;
    const cutOff = (why: string) => {
      if (cut) return;
      cut = true;
      proxyRes.unpipe();
      deps.log.warn("scrape cut mid-stream", { plugin: state?.plugin, reason: why, timedOut: state?.timedOut ?? false });
      res.destroy();
      proxyRes.destroy();
    };
    let seen = 0;
    proxyRes.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (state) state.bytes = seen;
      if (seen > deps.maxScrapeBytes) {
        if (state) deps.metrics.scrapeTruncated(state.plugin);
        cutOff(`larger than --max-scrape-bytes (${deps.maxScrapeBytes} bytes)`);
      }
    });
    proxyRes.once("close", () => {
      if (!proxyRes.complete) cutOff("the plugin's response ended early");
    });
    if (gzip) {
      // Level 1: most of the size win for text expositions at a fraction of the CPU; flushes
      // follow the upstream's chunks so the stream never waits on a full window.
      const gz = createGzip({ level: 1, flush: zlibConstants.Z_SYNC_FLUSH });
      gz.once("error", () => cutOff("gzip failed"));
      proxyRes.pipe(gz).pipe(res);
    } else {
      proxyRes.pipe(res);
    }
  });

  const inFlight = new Map<string, number>();
  return (req: IncomingMessage, res: ServerResponse, name: string) => {
    const started = process.hrtime.bigint();
    const unknown = (status: number, body: string) => {
      plain(res, status, body);
      // Counted, but never under the requested name: scanners must not mint series.
      deps.metrics.proxyRequest(UNKNOWN_PLUGIN, status, Number(process.hrtime.bigint() - started) / 1e9);
    };
    if (checkInstanceName(name) !== undefined) return unknown(400, "invalid plugin name\n");
    const inst = deps.directory.get(name);
    if (!inst) return unknown(404, `plugin ${JSON.stringify(name)} not found\n`);
    const busy = inFlight.get(name) ?? 0;
    if (busy >= deps.maxConcurrentScrapes) {
      plain(res, 429, `plugin ${JSON.stringify(name)} already has ${busy} scrapes in flight\n`, { "retry-after": "1" });
      deps.metrics.proxyRequest(name, 429, 0);
      return;
    }
    inFlight.set(name, busy + 1);
    res.once("close", () => {
      const n = (inFlight.get(name) ?? 1) - 1;
      if (n === 0) inFlight.delete(name);
      else inFlight.set(name, n);
    });
    const record = (bytes = 0) => deps.metrics.proxyRequest(name, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9, bytes);
    if (inst.state === PluginState.RUNNING && inst.noMetrics) {
      // An uninstrumented plugin: its process, as the daemon sees it in /proc.
      const body = processExposition(inst.pid);
      if (body !== undefined) {
        plain(res, 200, body, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        record(Buffer.byteLength(body));
        return;
      }
    }
    if (inst.state !== PluginState.RUNNING || !inst.metricsEndpoint) {
      plain(res, 503, `plugin ${JSON.stringify(name)} is ${PluginState[inst.state]}, not RUNNING\n`);
      record();
      return;
    }
    const state: ScrapeState = { plugin: name, timedOut: false, bytes: 0 };
    states.set(req, state);
    // A total deadline, as Prometheus' scrape timeout is: waiting for a pooled connection,
    // headers and body included.
    state.timer = setTimeout(() => {
      state.timedOut = true;
      if (state.upstreamReq) state.upstreamReq.destroy();
      else plain(res, 504, `plugin ${JSON.stringify(name)} did not answer within the scrape timeout\n`);
    }, timeoutFor(req, deps.defaultScrapeTimeoutMs));
    state.timer.unref();
    res.once("close", () => {
      clearTimeout(state.timer);
      // The scraper went away before the end (it gave up, or the body was cut): stop
      // reading from the plugin, or the paused response would pin a pooled connection.
      if (!res.writableFinished) state.upstreamReq?.destroy();
      record(state.bytes);
    });

    const forwarded: Record<string, string | string[] | undefined> = {};
    for (const h of FORWARDED_REQUEST_HEADERS) if (req.headers[h] !== undefined) forwarded[h] = req.headers[h];
    req.headers = forwarded;

    proxy.web(req, res, { target: { ...upstreamTarget(inst.metricsEndpoint), path: UPSTREAM_PATH } as never }, (err: NodeJS.ErrnoException) => {
      clearTimeout(state.timer);
      if (res.writableEnded) return; // already answered (504 while queued)
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (state.timedOut) {
        plain(res, 504, `plugin ${JSON.stringify(name)} did not answer within the scrape timeout\n`);
      } else {
        deps.log.debug("plugin metrics endpoint failed", { plugin: name, error: err.code ?? err.message });
        plain(res, 502, `plugin ${JSON.stringify(name)} metrics endpoint failed: ${err.code ?? "error"}\n`);
      }
    });
  };
}

/** True when the Accept-Encoding header allows gzip (q > 0). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
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
