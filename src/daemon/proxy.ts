// The scrape proxy: streams GET /plugins/<name>/metrics to the instance's private endpoint
// with http-proxy, never buffering the body. The upstream is chosen by an exact lookup of a
// validated name; the path is fixed; only an allowlist of request headers goes upstream.
import type { IncomingMessage, ServerResponse } from "node:http";
import httpProxy from "http-proxy";
import { PluginState } from "../shared/gen/plugprom/v1/control_pb.js";
import type { InstanceDirectory } from "./instance.js";
import type { Logger } from "./log.js";
import type { DaemonMetrics } from "./metrics.js";
import { UPSTREAM_PATH, upstreamAgent, upstreamTarget } from "./upstream.js";

/** What a scrape may tell the plugin; everything else (cookies, auth, hop-by-hop) stays here. */
const FORWARDED_REQUEST_HEADERS = ["accept", "accept-encoding", "user-agent", "x-prometheus-scrape-timeout-seconds"];
/** RFC 9110 hop-by-hop headers, plus set-cookie which has no business in a scrape. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade", "set-cookie"];

const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 300_000;

export interface ProxyDeps {
  directory: InstanceDirectory;
  metrics: DaemonMetrics;
  defaultScrapeTimeoutMs: number;
  log: Logger;
}

interface ScrapeState {
  plugin: string;
  timedOut: boolean;
  timer?: NodeJS.Timeout;
}

export function createScrapeProxy(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse, name: string) => void {
  const proxy = httpProxy.createProxyServer({ agent: upstreamAgent, ignorePath: true, xfwd: false, changeOrigin: false });
  const states = new WeakMap<IncomingMessage, ScrapeState>();

  proxy.on("proxyReq", (proxyReq, req) => {
    const state = states.get(req);
    if (!state) return;
    // A total deadline, as Prometheus' scrape timeout is: headers and body included.
    state.timer = setTimeout(() => {
      state.timedOut = true;
      proxyReq.destroy();
    }, timeoutFor(req, deps.defaultScrapeTimeoutMs));
    state.timer.unref();
  });
  proxy.on("proxyRes", (proxyRes, req, res) => {
    for (const h of HOP_BY_HOP) delete proxyRes.headers[h];
    // http-proxy pipes the body but does not notice an upstream that dies mid-body: end the
    // client's response abnormally so Prometheus fails the scrape instead of ingesting a
    // truncated exposition.
    proxyRes.once("close", () => {
      if (proxyRes.complete) return;
      const state = states.get(req);
      deps.log.warn("scrape cut mid-stream", { plugin: state?.plugin, timedOut: state?.timedOut ?? false });
      res.destroy();
    });
  });

  return (req, res, name) => {
    const started = process.hrtime.bigint();
    const inst = deps.directory.get(name);
    if (!inst) {
      plain(res, 404, `plugin ${JSON.stringify(name)} not found\n`);
      return;
    }
    const record = () => deps.metrics.proxyRequest(name, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    if (inst.state !== PluginState.RUNNING || !inst.metricsEndpoint) {
      plain(res, 503, `plugin ${JSON.stringify(name)} is ${PluginState[inst.state]}, not RUNNING\n`);
      record();
      return;
    }
    const state: ScrapeState = { plugin: name, timedOut: false };
    states.set(req, state);
    res.once("close", () => {
      clearTimeout(state.timer);
      record();
    });

    const forwarded: Record<string, string | string[] | undefined> = {};
    for (const h of FORWARDED_REQUEST_HEADERS) if (req.headers[h] !== undefined) forwarded[h] = req.headers[h];
    req.headers = forwarded;

    proxy.web(req, res, { target: { ...upstreamTarget(inst.metricsEndpoint), path: UPSTREAM_PATH } as never }, (err: NodeJS.ErrnoException) => {
      clearTimeout(state.timer);
      if (res.headersSent) {
        res.destroy(); // cut mid-stream: see the proxyRes handler
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
