// The scrape proxy: streams GET /plugins/<name>/metrics to the instance's private endpoint,
// never buffering the body. The upstream is chosen by an exact lookup of a validated name;
// the path is fixed; only an allowlist of headers crosses in either direction.
//
// Each scrape is one undici dispatch on the plugin's pool whose callbacks write straight into
// the response: no IncomingMessage, no pipe, backpressure by pausing the upstream parser.
// (http-proxy did this job first, then http.request + pipe; profiles showed Node's HTTP
// client as most of the proxy's CPU, and undici's dispatch costs about a third of it.)
import type { IncomingMessage, ServerResponse } from "node:http";
import { constants as zlibConstants, createGzip, type Gzip } from "node:zlib";
import type { Dispatcher } from "undici";
import { PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import { checkInstanceName } from "../../shared/names.js";
import type { InstanceDirectory } from "../instance.js";
import type { Logger } from "../log.js";
import type { DaemonMetrics } from "../metrics.js";
import { UPSTREAM_PATH, UpstreamPools } from "../scrape/upstream.js";
import { processExposition } from "../scrape/process-exposition.js";
import type { GzipPolicy } from "../options.js";
import { acceptsGzip, gzipPays, plain, timeoutFor } from "./response.js";
import { failureReason, UpstreamFailures } from "./upstream-failures.js";

/** What a scrape may tell the plugin; everything else (cookies, auth, forwarding) stays here. */
const FORWARDED_REQUEST_HEADERS = ["accept", "accept-encoding", "user-agent", "x-prometheus-scrape-timeout-seconds"];
/** What a plugin's answer may tell Prometheus: the format, its encoding and its length. */
const RETURNED_RESPONSE_HEADERS = new Set(["content-type", "content-encoding", "content-length", "vary", "date"]);
/** Their lengths: any other header is passed over without being decoded. */
const RETURNED_NAME_LENGTHS = new Set([...RETURNED_RESPONSE_HEADERS].map((h) => h.length));

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

/**
 * One scrape in flight: undici's callbacks for the plugin's answer, writing the response.
 * Any anomaly after the headers (the plugin died, the deadline passed, the body outgrew the
 * cap, the scraper hung up) ends both sides abnormally, so Prometheus fails this scrape
 * instead of ingesting a truncated exposition and no connection stays pinned.
 */
class ProxiedScrape implements Dispatcher.DispatchHandlers {
  bytes = 0;
  timedOut = false;
  /** The response is settled (answered, cut or gone): nothing more is written to it. */
  private done = false;
  private abort: ((err?: Error) => void) | undefined;
  /** Where the body goes: the response, or a gzip stream in front of it. */
  private sink: ServerResponse | Gzip | undefined;

  /** The total deadline, as Prometheus' scrape timeout is: connecting, headers and body included. */
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    readonly plugin: string,
    private readonly deps: ProxyDeps,
    private readonly failures: UpstreamFailures,
    private readonly started: number,
    private readonly settled: (scrape: ProxiedScrape) => void,
  ) {
    this.timer = setTimeout(expire, timeoutFor(req, deps.defaultScrapeTimeoutMs), this);
    res.once("close", () => this.closed());
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) abort();
    else this.abort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (this.done) return false;
    const headers: string[] = [];
    let length: number | undefined;
    let encoded = false;
    let vary: number | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      if (!RETURNED_NAME_LENGTHS.has(raw[i].length)) continue;
      const name = raw[i].toString("latin1").toLowerCase();
      if (!RETURNED_RESPONSE_HEADERS.has(name)) continue;
      const value = raw[i + 1].toString("latin1");
      if (name === "vary") {
        if (vary !== undefined) {
          headers[vary] += `, ${value}`;
          continue;
        }
        vary = headers.length + 1;
      } else if (has(headers, name)) continue; // a repeated single-valued header: the first wins
      if (name === "content-length") length = Number(value);
      if (name === "content-encoding") encoded = true;
      headers.push(name, value);
    }
    const gzip =
      statusCode === 200 &&
      !encoded &&
      this.req.method !== "HEAD" &&
      acceptsGzip(this.req.headers["accept-encoding"]) &&
      gzipPays(this.deps.gzip, this.req.socket.remoteAddress, length);
    const { res } = this;
    if (gzip) {
      const out: string[] = [];
      for (let i = 0; i < headers.length; i += 2) if (headers[i] !== "content-length" && headers[i] !== "vary") out.push(headers[i], headers[i + 1]);
      out.push("content-encoding", "gzip", "vary", "Accept-Encoding");
      res.writeHead(statusCode, out);
      // Level 1: most of the size win for text expositions at a fraction of the CPU; flushes
      // follow the upstream's chunks so the stream never waits on a full window.
      const gz = createGzip({ level: 1, flush: zlibConstants.Z_SYNC_FLUSH });
      gz.once("error", () => this.cut("gzip failed"));
      gz.on("drain", resume);
      gz.pipe(res);
      this.sink = gz;
    } else {
      res.writeHead(statusCode, headers);
      // Node flushes the headers in a write of their own, then the body: corked until the
      // chunks that came with them are written, they go out in one writev (a syscall and a
      // packet less per scrape).
      res.cork();
      process.nextTick(uncork, res);
      res.on("drain", resume);
      this.sink = res;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return false;
    this.bytes += chunk.length;
    if (this.bytes > this.deps.maxScrapeBytes) {
      this.deps.metrics.scrapeTruncated(this.plugin);
      this.cut(`larger than --max-scrape-bytes (${this.deps.maxScrapeBytes} bytes)`);
      return false;
    }
    return this.sink!.write(chunk);
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    this.sink!.end();
  }

  onError(err: Error): void {
    if (this.done) return;
    this.failures.record(this.plugin, failureReason(err, this.timedOut), err.message);
    if (this.res.headersSent) return this.cut("the plugin's response ended early");
    this.done = true;
    if (this.timedOut) {
      plain(this.res, 504, `plugin ${JSON.stringify(this.plugin)} did not answer within the scrape timeout\n`);
    } else {
      const code = (err as NodeJS.ErrnoException).code;
      plain(this.res, 502, `plugin ${JSON.stringify(this.plugin)} metrics endpoint failed: ${code ?? "error"}\n`);
    }
  }

  /** The deadline: ends the scrape wherever it is (waiting, headers or body). */
  expire(): void {
    this.timedOut = true;
    if (this.abort) this.abort(new Error("scrape timeout"));
    else this.onError(new Error("scrape timeout")); // not yet on a connection: answer now, drop it when it gets one
  }

  /** The response closed (sent, cut or the scraper hung up): if before the end, stop reading from the plugin. */
  private closed(): void {
    clearTimeout(this.timer);
    this.settled(this);
    if (!this.res.writableFinished) {
      this.done = true;
      this.abort?.();
    }
    this.deps.metrics.proxyRequest(this.plugin, this.res.statusCode, since(this.started), this.bytes);
  }

  private cut(why: string): void {
    if (this.done) return;
    this.done = true;
    this.deps.log.warn("scrape cut mid-stream", { plugin: this.plugin, reason: this.timedOut ? "the scrape timeout passed" : why });
    this.res.destroy();
    if (this.sink !== this.res) this.sink?.destroy();
    this.abort?.();
  }
}

function uncork(res: ServerResponse): void {
  res.uncork();
}

/** Seconds since a performance.now() reading. */
function since(started: number): number {
  return (performance.now() - started) / 1e3;
}

function expire(scrape: ProxiedScrape): void {
  scrape.expire();
}

/** Whether a flat [name, value, …] list has the name. */
function has(flat: string[], name: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return true;
  return false;
}

export function createScrapeProxy(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse, name: string) => void {
  // Pools as large as the per-plugin limit: scrapes past it are refused (429), so none ever
  // waits here for a connection.
  const pools = new UpstreamPools(deps.maxConcurrentScrapes);
  const failures = new UpstreamFailures(deps.log, deps.metrics);
  const inFlight = new Map<string, number>();
  const settled = (scrape: ProxiedScrape) => {
    const n = (inFlight.get(scrape.plugin) ?? 1) - 1;
    if (n === 0) inFlight.delete(scrape.plugin);
    else inFlight.set(scrape.plugin, n);
  };
  return (req: IncomingMessage, res: ServerResponse, name: string) => {
    const started = performance.now();
    if (checkInstanceName(name) !== undefined) return unknown(deps, res, 400, "invalid plugin name\n", since(started));
    const inst = deps.directory.get(name);
    if (!inst) return unknown(deps, res, 404, `plugin ${JSON.stringify(name)} not found\n`, since(started));
    const busy = inFlight.get(name) ?? 0;
    if (busy >= deps.maxConcurrentScrapes) {
      plain(res, 429, `plugin ${JSON.stringify(name)} already has ${busy} scrapes in flight\n`, { "retry-after": "1" });
      deps.metrics.proxyRequest(name, 429, 0);
      return;
    }
    if (inst.state === PluginState.RUNNING && inst.noMetrics) {
      // An uninstrumented plugin: its process, as the daemon sees it in /proc.
      const body = processExposition(inst.pid);
      if (body !== undefined) {
        plain(res, 200, body, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        deps.metrics.proxyRequest(name, 200, since(started), Buffer.byteLength(body));
        return;
      }
    }
    if (inst.state !== PluginState.RUNNING || !inst.metricsEndpoint) {
      plain(res, 503, `plugin ${JSON.stringify(name)} is ${PluginState[inst.state]}, not RUNNING\n`);
      deps.metrics.proxyRequest(name, 503, since(started));
      return;
    }
    inFlight.set(name, busy + 1);
    const scrape = new ProxiedScrape(req, res, name, deps, failures, started, settled);
    const forwarded: string[] = [];
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === "string") forwarded.push(h, v);
    }
    pools.for(inst.metricsEndpoint).dispatch({ path: UPSTREAM_PATH, method: req.method === "HEAD" ? "HEAD" : "GET", headers: forwarded }, scrape);
  };
}

/** A request for a name that matches no instance: counted, but never under the requested name (scanners must not mint series). */
function unknown(deps: ProxyDeps, res: ServerResponse, status: number, body: string, seconds: number): void {
  plain(res, status, body);
  deps.metrics.proxyRequest(UNKNOWN_PLUGIN, status, seconds);
}
