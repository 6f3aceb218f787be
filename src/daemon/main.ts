// `plugprom daemon`: wires the state dir, the registry, the control API and the HTTP server
// together, and owns the daemon's startup and shutdown. No behaviour of its own beyond that.
import { chmod, mkdir, readFile, rm } from "node:fs/promises";
import type { Server as HttpsServer } from "node:https";
import { createSecureContext } from "node:tls";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { bearerMatches, readTokenFile } from "../shared/token.js";
import http2 from "node:http2";
import type { Server as HttpServer } from "node:http";
import { connect as netConnect, type AddressInfo, type Server as NetServer } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { formatAddress, formatHost, isWildcardHost, parseAddress, type Address } from "../shared/address.js";
import { describeSystemError, errorMessage, invalidArgument } from "../shared/errors.js";
import { VERSION } from "../shared/version.js";
import { CatalogError, loadCatalog, type Catalog } from "./supervision/catalog.js";
import { controlRoutes } from "./control/service.js";
import { CoalescingFileWriter, writeAtomic } from "./state/atomic-file.js";
import { DesiredStateWriter, loadDesiredState, StateFileError } from "./state/instances-file.js";
import { buildTargetGroups, renderSdDocument } from "./http/discovery.js";
import { createHttpServer } from "./http/server.js";
import { acquireStateDirLock } from "./state/lock.js";
import { createLogger } from "./log.js";
import { DaemonMetrics } from "./metrics.js";
import type { DaemonOptions } from "./options.js";
import { Registry } from "./supervision/registry.js";
import { DAEMON_STATE_FILE, type DaemonStateFile } from "./state/daemon-file.js";

/** Limits on what one control request may carry; Start requests are small. */
const CONTROL_READ_MAX_BYTES = 1024 * 1024;

/** Runs the daemon until SIGINT/SIGTERM or a Shutdown RPC, then resolves. */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const log = createLogger({ level: opts.logLevel, format: opts.logFormat });
  const startedAt = new Date();
  const httpAddr = parseAddress(opts.httpAddr);
  const grpcAddr = parseAddress(opts.grpcAddr);
  if (httpAddr.kind !== "tcp") throw invalidArgument(`--http-addr ${opts.httpAddr}: must be host:port (Prometheus scrapes it over TCP)`);

  let catalog: Catalog = new Map();
  if (opts.configFile) {
    try {
      catalog = await loadCatalog(opts.configFile);
    } catch (err) {
      if (err instanceof CatalogError) throw invalidArgument(err.message);
      throw err;
    }
  }

  // Credentials and certificates are read before anything listens: a typo is a startup error.
  let controlToken: string | undefined;
  let scrapeToken: string | undefined;
  let tls: { cert: Buffer; key: Buffer } | undefined;
  try {
    if (opts.controlTokenFile) controlToken = readTokenFile(opts.controlTokenFile, "--control-token-file");
    if (opts.scrapeTokenFile) scrapeToken = readTokenFile(opts.scrapeTokenFile, "--scrape-token-file");
    if (opts.tlsCertFile && opts.tlsKeyFile) tls = await readTls(opts.tlsCertFile, opts.tlsKeyFile);
  } catch (err) {
    throw invalidArgument(errorMessage(err));
  }

  const socketDir = join(opts.stateDir, "sockets");
  const logDir = join(opts.stateDir, "logs");
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  for (const dir of [socketDir, logDir]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode does not apply to a directory that already exists.
    await chmod(dir, 0o700);
  }
  const releaseLock = await acquireStateDirLock(opts.stateDir);
  let saved;
  try {
    saved = await loadDesiredState(opts.stateDir);
  } catch (err) {
    await releaseLock();
    if (err instanceof StateFileError) throw new Error(err.message);
    throw err;
  }

  const writer = new DesiredStateWriter(opts.stateDir, (err) =>
    log.error("cannot save instances.json", { file: join(opts.stateDir, "instances.json"), error: describeSystemError(err) }),
  );
  let persisting = true;
  let metrics: DaemonMetrics | undefined;
  const registry = new Registry({
    log,
    catalog,
    supervisor: {
      stateDir: opts.stateDir,
      socketDir,
      logDir,
      daemonEnv: process.env,
      portRange: opts.pluginPortRange,
      healthIntervalMs: opts.healthIntervalMs,
      backoff: opts.backoff,
    },
    defaults: { stopGraceMs: opts.stopGraceMs, startTimeoutMs: opts.startTimeoutMs },
    events: {
      pluginStarted: (name) => metrics?.pluginStarted(name),
      pluginStopped: (name) => metrics?.pluginStopped(name),
      pluginRestarted: (name) => metrics?.pluginRestarted(name),
      outputSkipped: (name, stream, bytes) => metrics?.outputSkipped(name, stream, bytes),
    },
    persist: (snapshot) => {
      if (persisting) writer.save(snapshot);
    },
    flushPersisted: () => writer.flush(),
  });
  metrics = new DaemonMetrics(registry);

  let advertiseAddr = opts.advertiseAddr ?? "";
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
    tls,
    daemonInfo: () => ({ version: VERSION, grpcAddr: stateFileAddr(boundGrpc), httpAddr: stateFileAddr(boundHttp), advertiseAddr }),
  });
  const onSighup = () => {
    if (!opts.tlsCertFile || !opts.tlsKeyFile) return;
    readTls(opts.tlsCertFile, opts.tlsKeyFile).then(
      (fresh) => {
        (httpServer as HttpsServer).setSecureContext(fresh);
        log.info("TLS certificate reloaded", { cert: opts.tlsCertFile });
      },
      (err: unknown) => log.error("TLS reload failed; keeping the current certificate", { error: errorMessage(err) }),
    );
  };
  process.on("SIGHUP", onSighup);
  let shutdownRequested: (keepPlugins: boolean) => void = () => undefined;
  const sessions = new Set<http2.Http2Session>();
  const controlServer = http2.createServer(
    {
      // Bounds per client: concurrent streams, header size, session memory.
      settings: { maxConcurrentStreams: 64, maxHeaderListSize: 16 * 1024 },
      maxSessionMemory: 16,
    },
    connectNodeAdapter({
      routes: controlRoutes({
        registry,
        advertiseAddr: () => advertiseAddr,
        addresses: () => ({ grpcAddr: formatAddress(boundGrpc), httpAddr: formatAddress(boundHttp) }),
        stateDir: opts.stateDir,
        startedAt,
        scrapeTimeoutMs: opts.scrapeTimeoutMs,
        shutdown: (keepPlugins) => shutdownRequested(keepPlugins),
        httpsScheme: tls !== undefined,
        lastScrapeSeconds: (name) => metrics?.lastScrape(name)?.seconds,
      }),
      readMaxBytes: CONTROL_READ_MAX_BYTES,
      interceptors: controlToken ? [requireToken(controlToken)] : [],
    }),
  );
  controlServer.on("session", (s) => {
    // An idle client connection is closed after a minute; `logs -f` streams keep it busy.
    s.setTimeout(60_000, () => s.close());
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });

  let boundHttp: Address;
  let boundGrpc: Address;
  try {
    boundHttp = await listen(httpServer, httpAddr, "--http-addr");
    boundGrpc = await listen(controlServer, grpcAddr, "--grpc-addr");
  } catch (err) {
    httpServer.close();
    await releaseLock();
    throw err;
  }
  if (boundGrpc.kind === "unix") await chmod(boundGrpc.path, 0o600);
  if (!advertiseAddr) {
    const a = boundHttp as Extract<Address, { kind: "tcp" }>;
    // Prometheus runs elsewhere (another container, another host): never advertise a
    // wildcard or a silent localhost it could not reach.
    advertiseAddr = `${formatHost(isWildcardHost(httpAddr.host) ? hostname() : a.host)}:${a.port}`;
  }

  const stateFile: DaemonStateFile = {
    pid: process.pid,
    version: VERSION,
    grpcAddr: formatAddress(boundGrpc),
    httpAddr: formatAddress(boundHttp),
    advertiseAddr,
    stateDir: opts.stateDir,
    startedAt: startedAt.toISOString(),
  };
  const stateFilePath = join(opts.stateDir, DAEMON_STATE_FILE);
  await writeAtomic(stateFilePath, `${JSON.stringify(stateFile, null, 2)}\n`);
  const announceReady = () =>
    log.info("plugprom daemon ready", {
      version: VERSION,
      grpc: stateFile.grpcAddr,
      http: stateFile.httpAddr,
      advertise: advertiseAddr,
      stateDir: opts.stateDir,
      restoring: saved.length,
    });
  if (opts.fileSd) {
    // The same document as /sd_config, for a Prometheus that shares a filesystem instead.
    const fileSd = new CoalescingFileWriter(opts.fileSd, (err) => log.error("cannot write --file-sd", { file: opts.fileSd, error: errorMessage(err) }));
    const render = () => renderSdDocument(buildTargetGroups(registry.list(), advertiseAddr, { scheme: tls ? "https" : undefined }));
    registry.onChange(() => fileSd.save(render));
    fileSd.save(render);
  }
  const restoring = registry.restore(saved).then(
    () => saved.length > 0 && log.info("instances restored", { count: saved.length }),
    (err: unknown) => log.error("restoring instances failed", { error: errorMessage(err) }),
  );

  await new Promise<void>((resolve) => {
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
      void (async () => {
        await restoring;
        if (keepPlugins) {
          // The snapshot with reattach data is what the next daemon adopts.
          await writer.flush();
          persisting = false;
          await registry.detachAll();
        } else {
          // The set of instances survives a daemon restart; only their processes stop.
          writer.save(() => registry.list().map((s) => ({ ...s.persisted(), reattach: undefined })));
          await writer.flush();
          persisting = false;
          await registry.stopAll(opts.stopGraceMs, { forget: false });
        }
        await closeServers(httpServer, controlServer, sessions);
        await rm(stateFilePath, { force: true });
        if (boundGrpc.kind === "unix") await rm(boundGrpc.path, { force: true });
        await releaseLock();
        log.info("plugprom daemon stopped");
      })().finally(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        process.off("SIGHUP", onSighup);
        resolve();
      });
    };
    const onSignal = (signal: NodeJS.Signals) => begin(opts.keepPlugins, signal);
    shutdownRequested = (keepPlugins) => begin(keepPlugins, "Shutdown RPC");
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // Only now: a SIGTERM sent the moment the daemon says it is ready must find the handler.
    announceReady();
  });
}

/** Every control RPC must carry the bearer token; compared in constant time. */
function requireToken(token: string): Interceptor {
  return (next) => async (req) => {
    if (!bearerMatches(req.header.get("authorization"), token)) {
      throw new ConnectError("missing or wrong control token: set PLUGPROM_TOKEN or --token-file", Code.Unauthenticated);
    }
    return next(req);
  };
}

async function readTls(certFile: string, keyFile: string): Promise<{ cert: Buffer; key: Buffer }> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  // Fails here, with the file named, rather than on the first handshake.
  createSecureContext({ cert, key });
  return { cert, key };
}

/** An address for display; "" before the server listens. */
function stateFileAddr(addr: Address | undefined): string {
  return addr ? formatAddress(addr) : "";
}

function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function closeServers(httpServer: HttpServer, controlServer: http2.Http2Server, sessions: Set<http2.Http2Session>): Promise<void> {
  const closed = Promise.all([
    new Promise<void>((resolve) => httpServer.close(() => resolve())),
    new Promise<void>((resolve) => controlServer.close(() => resolve())),
  ]);
  httpServer.closeAllConnections();
  for (const s of sessions) s.close();
  // Sessions that do not close within a moment (a `logs -f` stream) are cut.
  const cut = setTimeout(() => {
    for (const s of sessions) s.destroy();
  }, 1_000);
  await closed;
  clearTimeout(cut);
}

function listen(server: NetServer | HttpServer | http2.Http2Server, addr: Address, flag: string): Promise<Address> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const what = formatAddress(addr);
      reject(
        new Error(
          err.code === "EADDRINUSE"
            ? `${flag} ${what}: address already in use (another plugprom daemon? pick another address, or port 0)`
            : `${flag} ${what}: cannot listen: ${errorMessage(err)}`,
        ),
      );
    };
    server.once("error", onError);
    const done = () => {
      server.off("error", onError);
      if (addr.kind === "unix") return resolve(addr);
      const info = server.address() as AddressInfo;
      resolve({ kind: "tcp", host: info.address, port: info.port });
    };
    if (addr.kind === "unix") {
      // A socket file nobody answers on was left by a daemon that died; one that answers is
      // another daemon's, and stays.
      void socketInUse(addr.path).then(async (inUse) => {
        if (inUse) return onError(Object.assign(new Error("in use"), { code: "EADDRINUSE" }));
        await rm(addr.path, { force: true });
        server.listen(addr.path, done);
      });
    } else {
      server.listen(addr.port, addr.host, done);
    }
  });
}
