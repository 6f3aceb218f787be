// The daemon's HTTP/1.1 server: routes for service discovery, the scrape proxy, the
// daemon's own metrics and health. Paths are matched on the raw URL, never decoded, so an
// encoded name cannot become another resource.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { errorMessage } from "../../shared/errors.js";
import { bearerMatches } from "../../shared/token.js";
import { buildTargetGroups, renderSdDocument } from "./discovery.js";
import type { InstanceDirectory } from "../instance.js";
import type { Logger } from "../log.js";
import type { DaemonMetrics } from "../metrics.js";
import { createFederateHandler } from "./federate.js";
import type { GzipPolicy } from "../options.js";
import { createScrapeProxy } from "./proxy.js";
import { errorAnswer, plain } from "./response.js";
import { renderStatusPage, statusModel } from "./status-page.js";

export interface HttpServerDeps {
  directory: InstanceDirectory;
  metrics: DaemonMetrics;
  advertiseAddr: () => string;
  defaultScrapeTimeoutMs: number;
  log: Logger;
  /** See ProxyDeps.gzip. */
  gzip: GzipPolicy;
  /** See ProxyDeps.maxScrapeBytes. */
  maxScrapeBytes: number;
  /** See ProxyDeps.maxConcurrentScrapes. */
  maxConcurrentScrapes: number;
  /** See FederateDeps.maxFederateBytes. */
  maxFederateBytes: number;
  /** Everything but /healthz requires this bearer token, when set. */
  scrapeToken?: string;
  /** A client must send its request headers (and, over TLS, finish its handshake) within this. */
  headersTimeoutMs: number;
  /** Serve HTTPS with this certificate and key (PEM); SD then advertises __scheme__: https. */
  tls?: { cert: Buffer; key: Buffer };
  /** For the status page. */
  daemonInfo?: () => { version: string; grpcAddr: string; httpAddr: string; advertiseAddr: string };
}

/** Routes that stay open without the scrape token: liveness probes carry no credentials. */
const OPEN_PATHS = new Set(["/healthz"]);

const PLUGIN_METRICS_PATH = /^\/plugins\/([^/]*)\/metrics$/;

function send(res: ServerResponse, status: number, contentType: string, method: string | undefined, body: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), "x-content-type-options": "nosniff" });
  res.end(method === "HEAD" ? undefined : body);
}

export function createHttpServer(deps: HttpServerDeps): Server {
  const proxyScrape = createScrapeProxy(deps);
  const federate = createFederateHandler(deps);

  type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  const routes = new Map<string, Route>([
    ["/sd_config", serveDiscovery],
    ["/discovery", serveDiscovery],
    [
      "/metrics",
      async (req, res) => {
        const body = await deps.metrics.registry.metrics();
        res.writeHead(200, { "content-type": deps.metrics.registry.contentType, "content-length": Buffer.byteLength(body) });
        res.end(req.method === "HEAD" ? undefined : body);
      },
    ],
    ["/federate", federate],
    ["/healthz", (_req, res) => plain(res, 200, "ok\n")],
    ["/", (req, res) => send(res, 200, "text/html; charset=utf-8", req.method, renderStatusPage(status()))],
    ["/status.json", (req, res) => send(res, 200, "application/json; charset=utf-8", req.method, `${JSON.stringify(status())}\n`)],
  ]);

  // The SD document is rendered once per change, not once per request: Prometheus servers
  // (several, in HA pairs) ask every refresh interval, and with hundreds of plugins the
  // rendering is most of the request's cost.
  let sdCache: { advertise: string; doc: string } | undefined;
  deps.directory.onChange?.(() => (sdCache = undefined));
  const sdDocument = () => {
    const advertise = deps.advertiseAddr();
    if (sdCache?.advertise === advertise && deps.directory.onChange) return sdCache.doc;
    const doc = renderSdDocument(buildTargetGroups(deps.directory.list(), advertise, { scheme: deps.tls ? "https" : undefined }));
    sdCache = { advertise, doc };
    return doc;
  };
  const status = () =>
    statusModel(
      deps.directory.list(),
      deps.daemonInfo?.() ?? { version: "", grpcAddr: "", httpAddr: "", advertiseAddr: deps.advertiseAddr() },
      (name) => deps.metrics.lastScrape(name),
      sdDocument(),
    );

  function serveDiscovery(req: IncomingMessage, res: ServerResponse): void {
    const refresh = Number(req.headers["x-prometheus-refresh-interval-seconds"]);
    const refreshSeconds = Number.isFinite(refresh) && refresh > 0 && refresh < 1e6 ? refresh : undefined;
    deps.log.debug("service discovery request", { refreshIntervalSeconds: refreshSeconds });
    deps.metrics.sdRequest(refreshSeconds);
    send(res, 200, "application/json; charset=utf-8", req.method, sdDocument());
  }

  // Not async: a scrape is answered without a promise of its own (two fewer allocations and a
  // microtask per request); only routes that await return one.
  const handle = (req: IncomingMessage, res: ServerResponse): void | Promise<void> => {
    const rawUrl = req.url ?? "/";
    const query = rawUrl.indexOf("?");
    const path = query === -1 ? rawUrl : rawUrl.slice(0, query);
    const route = routes.get(path);
    const pluginMatch = route ? undefined : PLUGIN_METRICS_PATH.exec(path);
    if (!route && !pluginMatch) return plain(res, 404, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") return plain(res, 405, "method not allowed\n", { allow: "GET, HEAD" });
    if (deps.scrapeToken !== undefined && !OPEN_PATHS.has(path) && !bearerMatches(req.headers.authorization, deps.scrapeToken)) {
      return plain(res, 401, "missing or wrong bearer token (see --scrape-token-file)\n", { "www-authenticate": 'Bearer realm="plugprom"' });
    }
    if (route) return route(req, res);
    proxyScrape(req, res, pluginMatch![1]);
  };

  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown) => {
    const answer = errorAnswer(err);
    if (answer.status >= 500) deps.log.error("HTTP handler failed", { path: req.url, error: errorMessage(err) });
    if (!res.headersSent) plain(res, answer.status, answer.body);
    else res.destroy();
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    let pending: void | Promise<void>;
    try {
      pending = handle(req, res);
    } catch (err) {
      return failed(req, res, err);
    }
    pending?.catch((err: unknown) => failed(req, res, err));
  };
  // Node enforces the header and request timeouts by a check every connectionsCheckingInterval
  // (30 s by default, which would make a 10 s bound act at up to 40 s); checked every second,
  // they act within a second of their value.
  const bounds = { connectionsCheckingInterval: 1_000, headersTimeout: deps.headersTimeoutMs, requestTimeout: Math.max(30_000, deps.headersTimeoutMs) };
  const server: Server = deps.tls
    ? createTlsServer({ ...bounds, cert: deps.tls.cert, key: deps.tls.key, handshakeTimeout: deps.headersTimeoutMs }, listener)
    : createServer(bounds, listener);
  // Bounded against slow or idle clients (slowloris) and oversized requests.
  server.keepAliveTimeout = 65_000;
  server.maxHeadersCount = 64;
  server.maxConnections = 1024;
  return server;
}
