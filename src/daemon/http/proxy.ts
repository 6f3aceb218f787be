// The scrape proxy: streams GET /plugins/<name>/metrics to the instance's private endpoint,
// never buffering the body. The upstream is chosen by an exact lookup of a validated name;
// the path is fixed; only an allowlist of headers crosses in either direction.
//
// One http.request over the shared keep-alive agent, piped into the response. (http-proxy
// did this job first; profiles showed its per-request option merging, request piping and
// event plumbing costing more than the proxying itself, for features a scrape never uses.)
import { request, type ClientRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { constants as zlibConstants, createGzip } from "node:zlib";
import { PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import { checkInstanceName } from "../../shared/names.js";
import type { InstanceDirectory } from "../instance.js";
import type { Logger } from "../log.js";
import type { DaemonMetrics } from "../metrics.js";
import { createUpstreamAgent, UPSTREAM_PATH, upstreamTarget } from "../scrape/upstream.js";
import { processExposition } from "../scrape/process-exposition.js";
import type { GzipPolicy } from "../options.js";
import { acceptsGzip, gzipPays, plain, timeoutFor } from "./response.js";
import { failureReason, UpstreamFailures } from "./upstream-failures.js";

/** What a scrape may tell the plugin; everything else (cookies, auth, forwarding) stays here. */
const FORWARDED_REQUEST_HEADERS = ["accept", "accept-encoding", "user-agent", "x-prometheus-scrape-timeout-seconds"];
/** What a plugin's answer may tell Prometheus: the format, its encoding and its length. */
const RETURNED_RESPONSE_HEADERS = ["content-type", "content-encoding", "content-length", "vary", "date"];

/** The `plugin` label of requests for names that match no instance. */
const UNKNOWN_PLUGIN = "";

export interface ProxyDeps {
  directory: InstanceDirectory;
  metrics: DaemonMetrics;
  defaultScrapeTimeoutMs: number;
  log: Logger;
  /** When to compress (gzip, streaming) for a scraper that accepts it: see gzipPays. */
  gzip: GzipPolicy;
  /** A body larger than this is cut mid-stream (and counted): the scrape fails visibly. */
  maxScrapeBytes: number;
  /** Scrapes in flight per plugin; more are refused (429) rather than queued without bound. */
  maxConcurrentScrapes: number;
}

/** What one scrape knows about itself, for the deadline, the byte count and the logs. */
interface Scrape {
  plugin: string;
  bytes: number;
  timedOut: boolean;
}

export function createScrapeProxy(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse, name: string) => void {
  // Its own pool, as large as the per-plugin limit: scrapes past it are refused (429), so none
  // ever waits here for a connection.
  const agent = createUpstreamAgent(deps.maxConcurrentScrapes);
  const failures = new UpstreamFailures(deps.log, deps.metrics);
  /** Writes the plugin's answer: filtered headers, the body streamed, cut on any anomaly. */
  const respond = (req: IncomingMessage, res: ServerResponse, upstream: IncomingMessage, scrape: Scrape) => {
    const headers: Record<string, string | string[]> = {};
    for (const h of RETURNED_RESPONSE_HEADERS) {
      const v = upstream.headers[h];
      if (v !== undefined) headers[h] = v;
    }
    const length = upstream.headers["content-length"];
    const gzip =
      upstream.statusCode === 200 &&
      !upstream.headers["content-encoding"] &&
      req.method !== "HEAD" &&
      acceptsGzip(req.headers["accept-encoding"]) &&
      gzipPays(deps.gzip, req.socket.remoteAddress, length === undefined ? undefined : Number(length));
    if (gzip) {
      delete headers["content-length"];
      headers["content-encoding"] = "gzip";
      headers.vary = "Accept-Encoding";
    }
    res.writeHead(upstream.statusCode ?? 502, headers);

    // The plugin died, the deadline passed or the body outgrew the cap, mid-body: end the
    // response abnormally so Prometheus fails this scrape instead of ingesting a truncated
    // exposition. (Counting in a 'data' listener costs less than a Transform stage.)
    let cut = false;
    const cutOff = (why: string) => {
      if (cut) return;
      cut = true;
      upstream.unpipe();
      deps.log.warn("scrape cut mid-stream", { plugin: scrape.plugin, reason: scrape.timedOut ? "the scrape timeout passed" : why });
      res.destroy();
      upstream.destroy();
    };
    upstream.on("data", (chunk: Buffer) => {
      scrape.bytes += chunk.length;
      if (scrape.bytes > deps.maxScrapeBytes) {
        deps.metrics.scrapeTruncated(scrape.plugin);
        cutOff(`larger than --max-scrape-bytes (${deps.maxScrapeBytes} bytes)`);
      }
    });
    upstream.once("close", () => {
      if (!upstream.complete) cutOff("the plugin's response ended early");
    });
    if (gzip) {
      // Level 1: most of the size win for text expositions at a fraction of the CPU; flushes
      // follow the upstream's chunks so the stream never waits on a full window.
      const gz = createGzip({ level: 1, flush: zlibConstants.Z_SYNC_FLUSH });
      gz.once("error", () => cutOff("gzip failed"));
      upstream.pipe(gz).pipe(res);
    } else {
      upstream.pipe(res);
    }
  };

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
    const scrape: Scrape = { plugin: name, bytes: 0, timedOut: false };
    const forwarded: Record<string, string | string[]> = {};
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (v !== undefined) forwarded[h] = v;
    }
    const upstreamReq: ClientRequest = request({ ...upstreamTarget(inst.metricsEndpoint), path: UPSTREAM_PATH, method: req.method, headers: forwarded, agent });
    // A total deadline, as Prometheus' scrape timeout is: waiting for a pooled connection,
    // headers and body included. Destroying the request ends it wherever it is.
    const timer = setTimeout(() => {
      scrape.timedOut = true;
      upstreamReq.destroy();
    }, timeoutFor(req, deps.defaultScrapeTimeoutMs));
    res.once("close", () => {
      clearTimeout(timer);
      // The scraper went away before the end (it gave up, or the body was cut): stop
      // reading from the plugin, or the paused response would pin a pooled connection.
      if (!res.writableFinished) upstreamReq.destroy();
      record(scrape.bytes);
    });
    upstreamReq.once("response", (upstream) => respond(req, res, upstream, scrape));
    upstreamReq.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      failures.record(name, failureReason(err, scrape.timedOut), err.message);
      if (res.writableEnded || res.destroyed) return;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (scrape.timedOut) {
        plain(res, 504, `plugin ${JSON.stringify(name)} did not answer within the scrape timeout\n`);
      } else {
        plain(res, 502, `plugin ${JSON.stringify(name)} metrics endpoint failed: ${err.code ?? "error"}\n`);
      }
    });
    upstreamReq.end();
  };
}
