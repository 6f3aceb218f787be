// `plugprom daemon`: wires the state dir, the registry, the control API and the HTTP server
// together, and owns the daemon's startup and shutdown. No behaviour of its own beyond that.
import { chmod, readFile, rm } from "node:fs/promises";
import type { Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import { hostname } from "node:os";
import { join } from "node:path";
import { formatAddress, formatHost, isWildcardHost, parseAddress, type Address } from "../shared/address.js";
import { errorMessage } from "../shared/errors.js";
import { readTokenFile } from "../shared/token.js";
import { VERSION } from "../shared/version.js";
import { toConnectError } from "./control/errors.js";
import { createControlServer, type ControlServer } from "./control/server.js";
import { describeSystemError, invalid, systemFailure } from "./errors.js";
import { buildTargetGroups, renderSdDocument } from "./http/discovery.js";
import { createHttpServer } from "./http/server.js";
import { readTls, type TlsFiles } from "./http/tls.js";
import { listen } from "./listen.js";
import { createLogger, type Logger } from "./log.js";
import { openFdCount, readFdLimit, startRefusal, watchFdUsage } from "./fd-limit.js";
import { DaemonMetrics } from "./metrics.js";
import type { DaemonOptions } from "./options.js";
import { CoalescingFileWriter } from "./state/atomic-file.js";
import { writeDaemonFile, type DaemonStateFile } from "./state/daemon-file.js";
import { DesiredStateWriter } from "./state/instances-file.js";
import { openStateDir } from "./state/state-dir.js";
import { loadCatalog, type Catalog } from "./supervision/catalog.js";
import { Cgroups } from "./supervision/cgroups.js";
import { stopOrphans } from "./supervision/orphans.js";
import { ProcessRunner } from "./supervision/process-runner.js";
import { Registry } from "./supervision/registry.js";
import { Applier, desiredSpecs, type InstanceOutcome } from "./supervision/converge.js";
import { LIMITS } from "../shared/names.js";

/**
 * Runs the daemon until SIGINT/SIGTERM or a Shutdown RPC, then resolves. A startup error
 * reaches the CLI as the control API would report it (so its exit code follows the same table).
 */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const held = holdStartupSignals();
  try {
    await serve(opts, held);
  } catch (err) {
    throw toConnectError(err);
  } finally {
    held.release();
  }
}

/**
 * A SIGTERM or SIGINT before the daemon's shutdown handlers exist would kill it by the
 * default action (a death by signal for its supervisor, the lock and daemon.json left
 * behind). From the first line of start-up it is held instead, and acted on as soon as the
 * daemon can shut down cleanly; a second one ends a start-up that hangs, at once.
 */
interface HeldSignals {
  /** The first signal held so far; stops holding (the caller has its own handlers now). */
  take(): NodeJS.Signals | undefined;
  release(): void;
}

function holdStartupSignals(): HeldSignals {
  let first: NodeJS.Signals | undefined;
  const hold = (signal: NodeJS.Signals) => {
    if (first) process.exit(1);
    first = signal;
  };
  const release = () => {
    process.off("SIGINT", hold);
    process.off("SIGTERM", hold);
  };
  process.on("SIGINT", hold);
  process.on("SIGTERM", hold);
  return {
    take() {
      release();
      return first;
    },
    release,
  };
}

async function serve(opts: DaemonOptions, held: HeldSignals): Promise<void> {
  const log = createLogger({ level: opts.logLevel, format: opts.logFormat });
  log.debug("starting", { version: VERSION, stateDir: opts.stateDir });
  const startedAt = new Date();
  const httpAddr = parseAddress(opts.httpAddr);
  const grpcAddr = parseAddress(opts.grpcAddr);
  if (httpAddr.kind !== "tcp") throw invalid(`--http-addr ${opts.httpAddr}: must be host:port (Prometheus scrapes it over TCP)`);
  const catalog = await readCatalog(opts.configFile);
  const { controlToken, scrapeToken, tls } = await readCredentials(opts);
  const stateDir = await openStateDir(opts.stateDir);
  if (stateDir.setAside) {
    // Before anything can write a new instances.json, and before the orphan sweep stops
    // whatever the unreadable file named: the one line that explains both.
    log.error("instances.json could not be parsed: starting with no instances; it is kept aside, and plugins it named are stopped", {
      file: join(opts.stateDir, "instances.json"),
      problem: stateDir.setAside.reason,
      keptAs: stateDir.setAside.path,
    });
  }
  const fdLimit = readFdLimit();
  const fdBaseline = openFdCount();

  const writer = new DesiredStateWriter(opts.stateDir, (err) =>
    log.error("cannot save instances.json", { file: join(opts.stateDir, "instances.json"), error: describeSystemError(err) }),
  );
  let persisting = true;
  let metrics: DaemonMetrics | undefined;
  const cgroups = await Cgroups.open({ root: process.env.PLUGPROM_CGROUP_ROOT || "/sys/fs/cgroup", stateDir: opts.stateDir, log });
  const registry = new Registry({
    log,
    catalog,
    supervisor: {
      runner: new ProcessRunner({
        stateDir: opts.stateDir,
        socketDir: stateDir.socketDir,
        logDir: stateDir.logDir,
        daemonEnv: process.env,
        portRange: opts.pluginPortRange,
        onOutputSkipped: (name, stream, bytes) => metrics?.outputSkipped(name, stream, bytes),
        cgroups,
      }),
      supervision: { healthIntervalMs: opts.healthIntervalMs, livenessFailures: opts.livenessFailures },
      backoff: opts.backoff,
      limits: opts.limits,
    },
    defaults: { stopGraceMs: opts.stopGraceMs, startTimeoutMs: opts.startTimeoutMs },
    events: {
      pluginStarted: (name) => metrics?.pluginStarted(name),
      pluginStopped: (name) => metrics?.pluginStopped(name),
      pluginRestarted: (name) => metrics?.pluginRestarted(name),
      pluginLivenessRestarted: (name) => metrics?.pluginLivenessRestarted(name),
      pluginMemoryRestarted: (name) => metrics?.pluginMemoryRestarted(name),
    },
    persist: (snapshot) => {
      if (persisting) writer.save(snapshot);
    },
    flushPersisted: () => writer.flush(),
    admitStart: (instances) => startRefusal({ limit: fdLimit, open: openFdCount(), baseline: fdBaseline, plugins: instances }),
    stopOrphans: async (adoptable) => {
      const stopped = await stopOrphans(opts.stateDir, adoptable, log);
      if (stopped.length > 0) log.warn("stopped plugin processes no instance owned", { count: stopped.length });
      await cgroups.removeEmpty(); // theirs, now that they are gone
    },
  });
  metrics = new DaemonMetrics(registry);
  const applier = new Applier(registry, catalog);
  if (opts.applyFile) {
    // Like --config: a file that cannot be applied is a start-up error, before anything listens.
    try {
      desiredSpecs(registry, catalog, await readPluginsFile(opts.applyFile), opts.applyFile);
    } catch (err) {
      await stateDir.releaseLock();
      throw err;
    }
  }

  let advertiseAddr = opts.advertiseAddr ?? "";
  let boundHttp: Address | undefined;
  let boundGrpc: Address | undefined;
  const httpServer = createHttpServer({
    directory: registry,
    metrics,
    advertiseAddr: () => advertiseAddr,
    defaultScrapeTimeoutMs: opts.scrapeTimeoutMs,
    log,
    gzip: opts.gzip,
    maxScrapeBytes: opts.maxScrapeBytes,
    maxConcurrentScrapes: opts.maxConcurrentScrapes,
    maxFederateBytes: opts.maxFederateBytes,
    scrapeToken,
    headersTimeoutMs: opts.httpHeaderTimeoutMs,
    tls,
    daemonInfo: () => ({ version: VERSION, grpcAddr: addressOrEmpty(boundGrpc), httpAddr: addressOrEmpty(boundHttp), advertiseAddr }),
  });
  let applying: Promise<void> = Promise.resolve();
  /** Converges to --apply's file; one run at a time, an invalid file logged and nothing changed. */
  const applyFile = (why: string) => {
    const file = opts.applyFile;
    if (!file) return;
    applying = applying.then(async () => {
      try {
        const outcomes = await applier.apply(await readPluginsFile(file), file, { prune: "origin", dryRun: false });
        logOutcomes(log, file, why, outcomes);
      } catch (err) {
        log.error("plugins file not applied; nothing changed", { file, reason: why, error: errorMessage(err).replace(/\n/g, "; ") });
      }
    });
  };
  const onSighup = () => {
    applyFile("SIGHUP");
    reloadTls(opts, httpServer as HttpsServer, log);
  };
  process.on("SIGHUP", onSighup);
  let shutdownRequested: (keepPlugins: boolean) => void = () => undefined;
  const control = createControlServer(
    {
      registry,
      applier,
      applyFile: opts.applyFile,
      advertiseAddr: () => advertiseAddr,
      addresses: () => ({ grpcAddr: addressOrEmpty(boundGrpc), httpAddr: addressOrEmpty(boundHttp) }),
      stateDir: opts.stateDir,
      startedAt,
      scrapeTimeoutMs: opts.scrapeTimeoutMs,
      shutdown: (keepPlugins) => shutdownRequested(keepPlugins),
      httpsScheme: tls !== undefined,
      lastScrapeSeconds: (name) => metrics?.lastScrape(name)?.seconds,
      instancesSetAside: stateDir.setAside,
    },
    controlToken,
  );

  // A request that comes before restore begins (a CLI retrying the default address) waits too.
  let restoreCalled!: () => void;
  registry.holdRequests(new Promise<void>((resolve) => (restoreCalled = resolve)));
  try {
    boundHttp = await listen(httpServer, httpAddr, "--http-addr");
    boundGrpc = await listen(control.server, grpcAddr, "--grpc-addr");
  } catch (err) {
    httpServer.close();
    await stateDir.releaseLock();
    throw err;
  }
  if (boundGrpc.kind === "unix") await chmod(boundGrpc.path, 0o600);
  advertiseAddr ||= derivedAdvertiseAddr(httpAddr, boundHttp);

  const stateFile: DaemonStateFile = {
    pid: process.pid,
    version: VERSION,
    grpcAddr: formatAddress(boundGrpc),
    httpAddr: formatAddress(boundHttp),
    advertiseAddr,
    stateDir: opts.stateDir,
    startedAt: startedAt.toISOString(),
  };
  let stateFilePath: string;
  try {
    stateFilePath = await writeDaemonFile(opts.stateDir, stateFile);
  } catch (err) {
    await closeServers(httpServer, control);
    await stateDir.releaseLock();
    throw err;
  }
  const announceReady = () =>
    log.info("plugprom daemon ready", {
      version: VERSION,
      grpc: stateFile.grpcAddr,
      http: stateFile.httpAddr,
      advertise: advertiseAddr,
      stateDir: opts.stateDir,
      restoring: stateDir.saved.length,
    });
  cgroups.logMode();
  const stopFdWatch = watchFdUsage(log, fdLimit);
  if (opts.fileSd) writeFileSd(opts.fileSd, registry, () => advertiseAddr, tls !== undefined, log);
  const saved = stateDir.saved;
  const restoring = registry.restore(saved).then(
    // Logged also when there was nothing to restore: the orphan sweep ran all the same, and
    // this line is what says that both are over.
    () => log.info("instances restored", { count: saved.length }),
    (err: unknown) => log.error("restoring instances failed", { error: errorMessage(err) }),
  );
  restoreCalled(); // restore holds requests itself from here on
  // Every apply (this file's, and the CLI's) works on what was restored and reattached.
  applier.holdUntil(restoring);
  applyFile("start-up");

  const grpcSocket = boundGrpc.kind === "unix" ? boundGrpc.path : undefined;
  await untilShutdown({
    log,
    registry,
    keepPluginsOnSignal: opts.keepPlugins,
    onShutdownRpc: (begin) => (shutdownRequested = begin),
    onSighup,
    announceReady,
    held,
    async shutDown(keepPlugins) {
      await restoring;
      await applying;
      // A save that fails (a full disk) does not stop the shutdown half-way: what the file last
      // held is consistent (nothing runs that it does not know), so the plugins are still
      // stopped or left as asked, and the daemon exits 1 saying what was not saved.
      let unsaved: unknown;
      const flush = () => writer.flush().catch((err: unknown) => void (unsaved = err));
      if (keepPlugins) {
        // The snapshot with reattach data is what the next daemon adopts.
        await flush();
        persisting = false;
        await registry.detachAll();
      } else {
        // The set of instances survives a daemon restart; only their processes stop.
        writer.save(() => registry.list().map((s) => ({ ...s.persisted(), reattach: undefined })));
        await flush();
        persisting = false;
        await registry.stopAll(opts.stopGraceMs, { forget: false });
        await cgroups.close();
      }
      stopFdWatch();
      await closeServers(httpServer, control);
      await rm(stateFilePath, { force: true });
      if (grpcSocket) await rm(grpcSocket, { force: true });
      await stateDir.releaseLock();
      if (unsaved !== undefined) {
        throw systemFailure(
          `the daemon ${keepPlugins ? "left its plugins running" : "stopped its plugins"}, but the last changes to instances.json were not saved ` +
            "(a daemon started on this state dir restores what it held before them)",
          unsaved,
        );
      }
    },
  });
}

/**
 * Resolves once the daemon has shut down, begun by SIGINT/SIGTERM or a Shutdown RPC; rejects
 * when the shutdown finished but failed at something (instances.json not saved). A second
 * signal during a shutdown kills the plugins and exits at once.
 */
function untilShutdown(o: {
  log: Logger;
  registry: Registry;
  keepPluginsOnSignal: boolean;
  onShutdownRpc: (begin: (keepPlugins: boolean) => void) => void;
  onSighup: () => void;
  /** Called once the signal handlers are in place. */
  announceReady: () => void;
  /** Signals received during start-up: the first one begins the shutdown at once. */
  held: HeldSignals;
  shutDown: (keepPlugins: boolean) => Promise<void>;
}): Promise<void> {
  const { log, registry } = o;
  return new Promise<void>((resolve, reject) => {
    let shuttingDown = false;
    const begin = (keepPlugins: boolean, why: string) => {
      if (shuttingDown) {
        if (why.startsWith("SIG")) {
          log.warn("second signal: killing plugins now", { signal: why });
          void Promise.allSettled(registry.list().map((s) => s.kill())).then(() => process.exit(1));
        }
        return;
      }
      shuttingDown = true;
      log.info(keepPlugins ? "shutting down, leaving plugins running" : "shutting down: stopping all plugins", { reason: why, plugins: registry.list().length });
      void o.shutDown(keepPlugins).then(
        () => {
          release();
          log.info("plugprom daemon stopped");
          resolve();
        },
        (err: unknown) => {
          release();
          reject(err);
        },
      );
    };
    const onSignal = (signal: NodeJS.Signals) => begin(o.keepPluginsOnSignal, signal);
    const release = () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.off("SIGHUP", o.onSighup);
    };
    o.onShutdownRpc((keepPlugins) => begin(keepPlugins, "Shutdown RPC"));
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // Only now: a SIGTERM sent the moment the daemon says it is ready must find the handler.
    o.announceReady();
    const early = o.held.take();
    if (early) onSignal(early);
  });
}

/** Reads a plugins file, refusing one too large for the control API to carry. */
async function readPluginsFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw invalid(`--apply ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, err);
  }
  if (Buffer.byteLength(text) > LIMITS.pluginsFileBytes) throw invalid(`--apply ${file}: larger than ${LIMITS.pluginsFileBytes / 1024} KiB`);
  return text;
}

function logOutcomes(log: Logger, file: string, why: string, outcomes: InstanceOutcome[]): void {
  const count = (action: string) => outcomes.filter((o) => o.action === action).length;
  for (const o of outcomes) {
    if (o.action === "failed") log.warn("plugins file: instance failed", { file, plugin: o.name, attempted: o.attempted, error: o.error });
    else if (o.action !== "unchanged") log.info(`plugins file: ${o.action}`, { file, plugin: o.name, changes: o.changes.join("; ") || undefined });
  }
  log.info("plugins file applied", {
    file,
    reason: why,
    created: count("created"),
    updated: count("updated"),
    unchanged: count("unchanged"),
    deleted: count("deleted"),
    failed: count("failed"),
  });
}

async function readCatalog(configFile: string | undefined): Promise<Catalog> {
  return configFile ? loadCatalog(configFile) : new Map();
}

/** Credentials and certificates are read before anything listens: a typo is a startup error. */
async function readCredentials(opts: DaemonOptions): Promise<{ controlToken?: string; scrapeToken?: string; tls?: TlsFiles }> {
  try {
    return {
      controlToken: opts.controlTokenFile ? readTokenFile(opts.controlTokenFile, "--control-token-file") : undefined,
      scrapeToken: opts.scrapeTokenFile ? readTokenFile(opts.scrapeTokenFile, "--scrape-token-file") : undefined,
      tls: opts.tlsCertFile && opts.tlsKeyFile ? await readTls(opts.tlsCertFile, opts.tlsKeyFile) : undefined,
    };
  } catch (err) {
    throw invalid(errorMessage(err), err);
  }
}

/** SIGHUP: a renewed certificate is used for new connections; a bad one keeps the old. */
function reloadTls(opts: DaemonOptions, server: HttpsServer, log: Logger): void {
  if (!opts.tlsCertFile || !opts.tlsKeyFile) return;
  readTls(opts.tlsCertFile, opts.tlsKeyFile).then(
    (fresh) => {
      server.setSecureContext(fresh);
      log.info("TLS certificate reloaded", { cert: opts.tlsCertFile });
    },
    (err: unknown) => log.error("TLS reload failed; keeping the current certificate", { error: errorMessage(err) }),
  );
}

/**
 * Prometheus runs elsewhere (another container, another host): never advertise a wildcard
 * or a silent localhost it could not reach.
 */
function derivedAdvertiseAddr(asked: Address, bound: Address): string {
  const a = bound as Extract<Address, { kind: "tcp" }>;
  const host = asked.kind === "tcp" && isWildcardHost(asked.host) ? hostname() : a.host;
  return `${formatHost(host)}:${a.port}`;
}

/** The same document as /sd_config, for a Prometheus that shares a filesystem instead. */
function writeFileSd(file: string, registry: Registry, advertiseAddr: () => string, https: boolean, log: Logger): void {
  const fileSd = new CoalescingFileWriter(file, (err) => log.error("cannot write --file-sd", { file, error: errorMessage(err) }));
  const render = () => renderSdDocument(buildTargetGroups(registry.list(), advertiseAddr(), { scheme: https ? "https" : undefined }));
  registry.onChange(() => fileSd.save(render));
  fileSd.save(render);
}

/** An address for display; "" before the server listens. */
function addressOrEmpty(addr: Address | undefined): string {
  return addr ? formatAddress(addr) : "";
}

async function closeServers(httpServer: HttpServer, control: ControlServer): Promise<void> {
  const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
  httpServer.closeAllConnections();
  await Promise.all([httpClosed, control.close()]);
}
