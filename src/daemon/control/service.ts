// The Connect implementation of plugprom.v1.ControlService: translates RPCs into registry
// calls. CLI → control API → registry → supervisor → process.
import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { isAbsolute } from "node:path";
import { ApplyAction, ApplyResultSchema, ControlService, LastApplySchema, PluginState, type ApplyResult } from "../../shared/gen/plugprom/v1/control_pb.js";
import { errorMessage } from "../../shared/errors.js";
import { conflict, DaemonError, invalid, unreachable } from "../errors.js";
import { VERSION } from "../../shared/version.js";
import { buildTargetGroups, renderSdDocument } from "../http/discovery.js";
import type { OutputLine } from "../supervision/plugin-output.js";
import type { Registry } from "../supervision/registry.js";
import type { Applier, InstanceOutcome } from "../supervision/converge.js";
import { openScrape } from "../scrape/upstream.js";
import { pluginInfo } from "./plugin-info.js";
import { mapInSlices } from "../proc.js";

export interface ControlDeps {
  registry: Registry;
  applier: Applier;
  /** The daemon's --apply file, if any. */
  applyFile?: string;
  advertiseAddr: () => string;
  addresses: () => { grpcAddr: string; httpAddr: string };
  stateDir: string;
  startedAt: Date;
  scrapeTimeoutMs: number;
  /** The last scrape's duration per plugin (list shows it; `plugprom top` uses it). */
  lastScrapeSeconds?: (name: string) => number | undefined;
  /** The HTTP side serves TLS: targets are advertised with __scheme__: https. */
  httpsScheme: boolean;
  /** Asks the daemon to exit (after answering). */
  shutdown(keepPlugins: boolean): void;
  /** instances.json could not be parsed at start-up and was moved to `path` (status shows it). */
  instancesSetAside?: { path: string; reason: string };
}

/** Bounds a `logs -f` subscriber: a client that stops reading loses lines, not daemon memory. */
const MAX_PENDING_LOG_LINES = 1_000;

export function controlRoutes(deps: ControlDeps): (router: ConnectRouter) => void {
  return (router) => router.service(ControlService, controlService(deps));
}

export function controlService(deps: ControlDeps): ServiceImpl<typeof ControlService> {
  const { registry } = deps;
  const graceOf = (grace: { seconds: bigint; nanos: number } | undefined) => {
    if (!grace) return undefined;
    const ms = durationMs(grace as Parameters<typeof durationMs>[0]);
    if (!(ms >= 0 && ms <= 10 * 60_000)) throw invalid("grace must be between 0 and 10m");
    return ms;
  };
  return {
    async start(req) {
      return { plugin: pluginInfo(await registry.start(req)) };
    },
    async stop(req) {
      return { plugin: pluginInfo(await registry.stop(req.name, graceOf(req.grace))) };
    },
    async kill(req) {
      return { plugin: pluginInfo(await registry.kill(req.name)) };
    },
    async restart(req) {
      return { plugin: pluginInfo(await registry.restart(req.name, graceOf(req.grace))) };
    },
    async apply(req) {
      if (!isAbsolute(req.path)) throw invalid("path must be the plugins file's absolute path");
      const outcomes = await deps.applier.apply(req.content, req.path, { prune: req.prune ? "all" : "none", dryRun: req.dryRun });
      return { results: outcomes.map(applyResult) };
    },
    async list() {
      // Each plugin's /proc stat is read synchronously: in slices, so that thousands of
      // plugins do not hold up scrapes for the whole list.
      return { plugins: await mapInSlices(registry.list(), (s) => pluginInfo(s, deps.lastScrapeSeconds?.(s.name))) };
    },
    get(req) {
      return { plugin: pluginInfo(registry.require(req.name)) };
    },
    targets() {
      return { json: renderSdDocument(buildTargetGroups(registry.list(), deps.advertiseAddr(), { scheme: deps.httpsScheme ? "https" : undefined })) };
    },
    async *scrape(req, ctx) {
      const sup = registry.require(req.name);
      if (sup.state !== PluginState.RUNNING || !sup.metricsEndpoint) {
        throw conflict(`plugin "${req.name}" is ${PluginState[sup.state]}, not RUNNING`);
      }
      const res = await openScrape(sup.metricsEndpoint, {
        accept: req.accept || undefined,
        timeoutMs: deps.scrapeTimeoutMs,
        signal: ctx.signal,
      });
      let first = true;
      try {
        for await (const chunk of res) {
          yield { contentType: first ? (res.headers["content-type"] ?? "") : "", chunk: chunk as Buffer };
          first = false;
        }
      } catch (err) {
        // A connection that breaks mid-body is the plugin's failure, not the daemon's.
        if (err instanceof DaemonError) throw err;
        throw unreachable(`plugin "${req.name}" metrics stream broke: ${errorMessage(err)}`, err);
      }
      if (first) yield { contentType: res.headers["content-type"] ?? "", chunk: new Uint8Array() };
    },
    status() {
      const plugins: Record<string, number> = {};
      for (const s of registry.list()) {
        const name = PluginState[s.state];
        plugins[name] = (plugins[name] ?? 0) + 1;
      }
      const { grpcAddr, httpAddr } = deps.addresses();
      return {
        version: VERSION,
        pid: process.pid,
        grpcAddr,
        httpAddr,
        advertiseAddr: deps.advertiseAddr(),
        stateDir: deps.stateDir,
        startedAt: timestampFromDate(deps.startedAt),
        plugins,
        applyFile: deps.applyFile ?? "",
        lastApply: deps.applier.last && create(LastApplySchema, { ...deps.applier.last, time: timestampFromDate(deps.applier.last.time) }),
        instancesSetAside: deps.instancesSetAside?.path ?? "",
        instancesSetAsideReason: deps.instancesSetAside?.reason ?? "",
      };
    },
    shutdown(req) {
      // Answer first: the caller learns the daemon accepted before it goes away.
      setImmediate(() => deps.shutdown(req.keepPlugins));
      return {};
    },
    async *logs(req, ctx) {
      const sup = registry.require(req.name);
      const n = req.lines === 0 ? 50 : Math.min(req.lines, sup.output.capacity);
      const toMessage = (l: OutputLine) => ({ line: { time: timestampFromDate(l.time), stream: l.stream, text: l.text } });
      if (!req.follow) {
        for (const l of sup.output.tail(n)) yield toMessage(l);
        return;
      }
      yield* follow(sup.output.tail(n), (push) => sup.output.subscribe(push), ctx, toMessage);
    },
  };
}

const ACTIONS = {
  created: ApplyAction.CREATED,
  updated: ApplyAction.UPDATED,
  unchanged: ApplyAction.UNCHANGED,
  deleted: ApplyAction.DELETED,
  failed: ApplyAction.FAILED,
} as const;

function applyResult(o: InstanceOutcome): ApplyResult {
  return create(ApplyResultSchema, {
    name: o.name,
    action: ACTIONS[o.action],
    attempted: o.attempted ? ACTIONS[o.attempted] : ApplyAction.UNSPECIFIED,
    error: o.error ?? "",
    changes: o.changes,
  });
}

/** Replays `backlog`, then yields new lines until the client goes away. */
async function* follow<T>(
  backlog: OutputLine[],
  subscribe: (push: (l: OutputLine) => void) => () => void,
  ctx: HandlerContext,
  toMessage: (l: OutputLine) => T,
): AsyncGenerator<T> {
  const pending: OutputLine[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = subscribe((l) => {
    if (pending.length < MAX_PENDING_LOG_LINES) pending.push(l);
    wake?.();
  });
  const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
  try {
    for (const l of backlog) yield toMessage(l);
    while (!ctx.signal.aborted) {
      while (pending.length > 0) yield toMessage(pending.shift()!);
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
      wake = undefined;
    }
  } finally {
    unsubscribe();
  }
}
