// How the daemon reaches a plugin's private metrics endpoint: a bounded keep-alive pool of
// connections per endpoint (undici), and a streaming GET used by the control API's Scrape and
// by /federate. The upstream path is always /metrics; no request data reaches it. Plugin
// endpoints are plain HTTP on a Unix socket or loopback TCP: never TLS (go-plugin's mTLS is
// for its gRPC channel, not for the metrics endpoint).
//
// undici rather than node:http's Agent: on the bench's 57 KB scrape its client costs about a
// third of the CPU of http.request + IncomingMessage, and a Pool takes a socketPath, so Unix
// sockets and TCP share one code path.
import { Pool } from "undici";
import type { Readable } from "node:stream";
import type { Address } from "../../shared/address.js";
import { formatHost } from "../../shared/address.js";
import { canceled, DaemonError, timedOut as timeoutError, unreachable } from "../errors.js";

export const UPSTREAM_PATH = "/metrics";

/** How long an unused connection (and an unused endpoint's pool) is kept. */
const IDLE_MS = 60_000;

/**
 * One keep-alive pool per endpoint, each at most `connectionsPerPlugin` connections. As many
 * idle connections may stay as may be open: with fewer, a burst closes and reopens
 * connections for most of its scrapes (connect and close were a tenth of the proxy's CPU).
 * An endpoint unused for a minute loses its pool, so endpoints of restarted or removed
 * plugins do not accumulate.
 */
export class UpstreamPools {
  readonly #pools = new Map<string, { pool: Pool; used: boolean }>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(readonly connectionsPerPlugin: number) {}

  /** The pool for an endpoint, made on first use. */
  for(endpoint: Address): Pool {
    const key = endpoint.kind === "unix" ? endpoint.path : `${formatHost(endpoint.host)}:${endpoint.port}`;
    let entry = this.#pools.get(key);
    if (!entry) {
      // No headers or body timeout of undici's own: every caller sets a total deadline (the
      // proxy's timer, openScrape's signal), and undici's would cost a timer per request.
      const options = { connections: this.connectionsPerPlugin, pipelining: 1, keepAliveTimeout: IDLE_MS, keepAliveMaxTimeout: IDLE_MS, headersTimeout: 0, bodyTimeout: 0 };
      const pool = endpoint.kind === "unix" ? new Pool("http://localhost", { ...options, socketPath: endpoint.path }) : new Pool(`http://${key}`, options);
      entry = { pool, used: true };
      this.#pools.set(key, entry);
      this.#sweeper ??= setInterval(() => this.#sweep(), IDLE_MS).unref();
    }
    entry.used = true;
    return entry.pool;
  }

  /** Closes the pools not used since the last sweep (gracefully: a running scrape ends first). */
  #sweep(): void {
    for (const [key, entry] of this.#pools) {
      if (entry.used) entry.used = false;
      else {
        this.#pools.delete(key);
        void entry.pool.close().catch(() => undefined);
      }
    }
    if (this.#pools.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

/** For the control API's Scrape and for /federate: a few at a time per plugin. */
export const sharedPools = new UpstreamPools(8);

export interface ScrapeOptions {
  accept?: string;
  acceptEncoding?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * The body, still streaming, with the response headers (names in lower case), as an
 * IncomingMessage has them. Destroy it to stop reading: that connection is not reused.
 */
export type ScrapeResponse = Readable & { headers: Record<string, string | undefined> };

/**
 * Opens GET /metrics on the endpoint and resolves with the response, still streaming.
 * Refused or broken connections reject as "unreachable", no answer in time as "timeout"; a
 * non-200 answer is "unreachable" with its status; an aborted signal is "canceled". The
 * deadline covers the wait for a pooled connection and the body too: past it the body fails
 * with a "timeout" error, so a reader sees that error rather than a short body.
 */
export async function openScrape(endpoint: Address, opts: ScrapeOptions): Promise<ScrapeResponse> {
  const headers: Record<string, string> = {};
  if (opts.accept) headers.accept = opts.accept;
  if (opts.acceptEncoding) headers["accept-encoding"] = opts.acceptEncoding;
  // One signal for the deadline and the caller's cancellation; its reason is what the
  // promise rejects with, or what the body fails with once it streams.
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(timeoutError(`plugin metrics endpoint did not answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
  const cancel = () => ctl.abort(canceled("scrape canceled"));
  if (opts.signal?.aborted) cancel();
  opts.signal?.addEventListener("abort", cancel, { once: true });
  const done = () => {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", cancel);
  };
  // The queue of a pool has no deadline of its own: race it, so a scrape waiting behind a
  // stuck plugin fails in time (undici drops it, unsent, when a connection frees up).
  const aborted = new Promise<never>((_, reject) => ctl.signal.addEventListener("abort", () => reject(ctl.signal.reason), { once: true }));
  aborted.catch(() => undefined);
  let res;
  try {
    res = await Promise.race([sharedPools.for(endpoint).request({ path: UPSTREAM_PATH, method: "GET", headers, signal: ctl.signal }), aborted]);
  } catch (err) {
    done();
    if (err instanceof DaemonError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw unreachable(`plugin metrics endpoint unreachable: ${e.code ?? e.message}`, err);
  }
  // undici's body reports destroy() by the reader as an error: readers see errors through
  // their iterator; this listener only keeps a reader's own destroy() from being uncaught.
  res.body.on("error", () => undefined);
  if (res.statusCode !== 200) {
    done();
    res.body.destroy(); // an error page is not read: that connection is not reused
    throw unreachable(`plugin metrics endpoint answered HTTP ${res.statusCode}`);
  }
  res.body.once("close", done);
  const flat: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(", ") : v;
  return Object.assign(res.body, { headers: flat });
}
