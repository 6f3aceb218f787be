// How the daemon reaches a plugin's private metrics endpoint: one keep-alive agent for all
// plugins (connections are pooled per socket path or port), and a streaming GET used by the
// control API's Scrape. The upstream path is always /metrics; no request data reaches it.
import { Agent, request, type IncomingMessage, type RequestOptions } from "node:http";
import type { Address } from "../../shared/address.js";
import { canceled, timedOut as timeoutError, unreachable } from "../errors.js";

export const UPSTREAM_PATH = "/metrics";

/**
 * A keep-alive agent for plugin endpoints, pooled per socket path or port. As many idle
 * connections may stay as may be open: with fewer, a burst closes and reopens connections for
 * most of its scrapes (the proxy's profile showed connect and close as a tenth of its CPU).
 * Idle ones are closed after a minute.
 */
export function createUpstreamAgent(maxSocketsPerPlugin: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: maxSocketsPerPlugin, maxFreeSockets: maxSocketsPerPlugin, timeout: 60_000, scheduling: "lifo" });
}

/** For the control API's Scrape and for /federate: a few at a time per plugin. */
export const upstreamAgent = createUpstreamAgent(8);

/** Connection options for an endpoint, shared by the proxy and openScrape. */
export function upstreamTarget(endpoint: Address): { socketPath?: string; host: string; port?: number; protocol: "http:" } {
  return endpoint.kind === "unix"
    ? { socketPath: endpoint.path, host: "localhost", protocol: "http:" }
    : { host: endpoint.host, port: endpoint.port, protocol: "http:" };
}

export interface ScrapeOptions {
  accept?: string;
  acceptEncoding?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Opens GET /metrics on the endpoint and resolves with the response, still streaming.
 * Refused or broken connections reject as "unreachable", no answer in time as "timeout"; a
 * non-200 answer is "unreachable" with its status; an aborted signal is "canceled". The
 * deadline covers the body too: past it the response is destroyed with a "timeout" error, so
 * a reader of the stream sees that error rather than a short body.
 */
export function openScrape(endpoint: Address, opts: ScrapeOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.accept) headers.accept = opts.accept;
    if (opts.acceptEncoding) headers["accept-encoding"] = opts.acceptEncoding;
    const options: RequestOptions = { ...upstreamTarget(endpoint), path: UPSTREAM_PATH, method: "GET", headers, agent: upstreamAgent, signal: opts.signal };
    const deadline = () => timeoutError(`plugin metrics endpoint did not answer within ${opts.timeoutMs} ms`);
    let timedOut = false;
    let response: IncomingMessage | undefined;
    const req = request(options, (res) => {
      if (res.statusCode !== 200) {
        clearTimeout(timer);
        res.resume();
        reject(unreachable(`plugin metrics endpoint answered HTTP ${res.statusCode}`));
        return;
      }
      response = res;
      res.once("close", () => clearTimeout(timer));
      resolve(res);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (response) response.destroy(deadline());
      else req.destroy();
    }, opts.timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (response) return; // the response stream reports it; the promise is settled
      if (timedOut) reject(deadline());
      else if (opts.signal?.aborted) reject(canceled("scrape canceled"));
      else reject(unreachable(`plugin metrics endpoint unreachable: ${err.code ?? err.message}`, err));
    });
    req.end();
  });
}
