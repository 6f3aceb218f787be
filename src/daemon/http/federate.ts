// GET /federate: every advertised plugin's metrics in one exposition, for a Prometheus that
// can scrape only one static target. Plugins are scraped in parallel (a bounded number at a
// time) within the scraper's own timeout; a plugin that fails, answers too late or too much
// adds plugprom_federate_plugin_up{plugin} 0 instead of failing the whole answer.
//
// Unlike the per-plugin proxy this has to hold bodies: families are merged across plugins,
// so nothing can be written before every plugin has answered. What it holds is bounded by
// --max-federate-bytes in total and --max-scrape-bytes per plugin.
import type { IncomingMessage, ServerResponse } from "node:http";
import { constants as zlibConstants, createGzip } from "node:zlib";
import { once } from "node:events";
import { errorMessage } from "../../shared/errors.js";
import { PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import { ExpositionError, ExpositionMerger, stageExposition, type StagedExposition } from "../scrape/exposition-merge.js";
import type { InstanceView } from "../instance.js";
import { processExposition } from "../scrape/process-exposition.js";
import type { GzipPolicy } from "../options.js";
import type { ProxyDeps } from "./proxy.js";
import { acceptsGzip, gzipPays, timeoutFor } from "./response.js";
import { openScrape } from "../scrape/upstream.js";

/** Plugins scraped at once for one /federate request. */
export const FEDERATE_CONCURRENCY = 8;
/** Kept back from the scraper's timeout for merging and writing the answer. */
const WRITE_MARGIN = 0.1;

/** The proxy's settings (one plugin's body is capped by its --max-scrape-bytes), plus a total. */
export interface FederateDeps extends Pick<ProxyDeps, "directory" | "metrics" | "defaultScrapeTimeoutMs" | "log" | "gzip" | "maxScrapeBytes"> {
  /** All plugins' expositions together; a plugin that would go past it is left out. */
  maxFederateBytes: number;
}

type Outcome = { ok: true; staged: StagedExposition } | { ok: false; reason: string; unparsable?: boolean };

export function createFederateHandler(deps: FederateDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const timeoutMs = timeoutFor(req, deps.defaultScrapeTimeoutMs);
    const deadline = Date.now() + timeoutMs * (1 - WRITE_MARGIN);
    const targets = deps.directory.list().filter((i) => i.advertised);
    // The scraper hung up: stop every scrape still running for it.
    const abort = new AbortController();
    res.once("close", () => abort.abort());

    // Bytes held for this answer, all plugins together; a plugin left out gives its back.
    let budget = deps.maxFederateBytes;
    const take = (n: number) => {
      if (n > budget) return false;
      budget -= n;
      return true;
    };
    const giveBack = (n: number) => void (budget += n);
    const outcomes = new Array<Outcome>(targets.length);
    let next = 0;
    const worker = async () => {
      while (next < targets.length && !abort.signal.aborted) {
        const i = next++;
        outcomes[i] = await collect(targets[i], deadline - Date.now(), { take, giveBack }, abort.signal, deps);
      }
    };
    await Promise.all(Array.from({ length: Math.min(FEDERATE_CONCURRENCY, targets.length) }, worker));
    if (abort.signal.aborted) return;

    const merger = new ExpositionMerger();
    targets.forEach((inst, i) => {
      const outcome = outcomes[i];
      if (!outcome.ok) {
        if (outcome.unparsable) deps.log.warn("plugin left out of /federate: its exposition does not parse", { plugin: inst.name, error: outcome.reason });
        else deps.log.debug("plugin left out of /federate", { plugin: inst.name, reason: outcome.reason });
        merger.markUp(inst.name, false);
        return;
      }
      const dropped = merger.commit(outcome.staged);
      if (dropped.length > 0) {
        deps.metrics.federateFamiliesDropped(inst.name, dropped.length);
        deps.log.warn("families left out of /federate: another plugin's family of that name has another type", { plugin: inst.name, families: dropped.slice(0, 10).join(",") });
      }
      merger.markUp(inst.name, true);
    });
    await write(req, res, merger.render(), deps.gzip);
  };
}

/** The bytes one /federate answer may hold, shared by its fan-out. */
interface Budget {
  take(n: number): boolean;
  giveBack(n: number): void;
}

/** One plugin's exposition, parsed as soon as it has arrived, or why there is none. */
async function collect(inst: InstanceView, timeoutMs: number, budget: Budget, signal: AbortSignal, deps: FederateDeps): Promise<Outcome> {
  const text = await fetchText(inst, timeoutMs, budget, signal, deps);
  if (typeof text !== "string") return text;
  try {
    return { ok: true, staged: stageExposition(inst.name, text) };
  } catch (err) {
    if (!(err instanceof ExpositionError)) throw err;
    return { ok: false, reason: err.message, unparsable: true };
  }
}

/** The plugin's exposition as text (or /proc's, for --no-metrics), or why there is none. */
async function fetchText(inst: InstanceView, timeoutMs: number, budget: Budget, signal: AbortSignal, deps: FederateDeps): Promise<string | Outcome> {
  if (inst.state !== PluginState.RUNNING) return { ok: false, reason: `${PluginState[inst.state]}, not RUNNING` };
  if (inst.noMetrics) {
    const text = processExposition(inst.pid);
    if (text === undefined) return { ok: false, reason: "process gone" };
    return budget.take(text.length) ? text : { ok: false, reason: "over --max-federate-bytes" };
  }
  if (!inst.metricsEndpoint) return { ok: false, reason: "no metrics endpoint" };
  if (timeoutMs <= 0) return { ok: false, reason: "no time left before the scrape timeout" };
  let held = 0;
  try {
    // Text format only: the merge parses it. Identity, so that the size cap is the text's.
    const res = await openScrape(inst.metricsEndpoint, { accept: "text/plain;version=0.0.4", acceptEncoding: "identity", timeoutMs, signal });
    const type = res.headers["content-type"] ?? "text/plain";
    const encoding = res.headers["content-encoding"] ?? "identity";
    if (!type.startsWith("text/plain") || encoding !== "identity") {
      res.destroy();
      return { ok: false, reason: `unsupported answer: ${type}, ${encoding}` };
    }
    const chunks: Buffer[] = [];
    let tooLarge: string | undefined;
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (held + chunk.length > deps.maxScrapeBytes) tooLarge = "larger than --max-scrape-bytes";
        else if (!budget.take(chunk.length)) tooLarge = "over --max-federate-bytes";
        if (tooLarge) break; // destroys the response: that connection is not reused
        held += chunk.length;
        chunks.push(chunk);
      }
    } catch (err) {
      budget.giveBack(held);
      throw err;
    }
    if (tooLarge) {
      budget.giveBack(held);
      return { ok: false, reason: tooLarge };
    }
    return Buffer.concat(chunks, held).toString("utf8");
  } catch (err) {
    return { ok: false, reason: errorMessage(err) };
  }
}

async function write(req: IncomingMessage, res: ServerResponse, chunks: Iterable<string>, policy: GzipPolicy): Promise<void> {
  const gzip = req.method !== "HEAD" && acceptsGzip(req.headers["accept-encoding"]) && gzipPays(policy, req.socket.remoteAddress, undefined);
  const headers: Record<string, string> = { "content-type": "text/plain; version=0.0.4; charset=utf-8" };
  if (gzip) Object.assign(headers, { "content-encoding": "gzip", vary: "Accept-Encoding" });
  res.writeHead(200, headers);
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  const out = gzip ? createGzip({ level: 1, flush: zlibConstants.Z_NO_FLUSH }) : res;
  if (gzip) out.pipe(res);
  for (const chunk of chunks) {
    if (res.destroyed) return;
    if (!out.write(chunk)) await Promise.race([once(out, "drain"), once(res, "close")]);
  }
  out.end();
}
