// `plugprom daemon`: wires the registry, the control API and the HTTP server together, and
// owns the daemon's startup and shutdown. No behaviour of its own beyond that wiring.
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import http2 from "node:http2";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { formatAddress, formatHost, isWildcardHost, parseAddress, type Address } from "../shared/address.js";
import { errorMessage, invalidArgument } from "../shared/errors.js";
import { VERSION } from "../shared/version.js";
import { CatalogError, loadCatalog, type Catalog } from "./catalog.js";
import { controlRoutes } from "./control.js";
import { createHttpServer } from "./http.js";
import { createLogger, type Logger } from "./log.js";
import { DaemonMetrics } from "./metrics.js";
import type { DaemonOptions } from "./options.js";
import { Registry } from "./registry.js";
import { DAEMON_STATE_FILE, type DaemonStateFile } from "./state-file.js";

/** Limits on what one control request may carry; Start requests are small. */
const CONTROL_READ_MAX_BYTES = 1024 * 1024;

/** Runs the daemon until SIGINT/SIGTERM, then stops every plugin and resolves. */
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

  const socketDir = join(opts.stateDir, "sockets");
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  // mkdir's mode does not apply to a directory that already exists.
  await chmod(socketDir, 0o700);

  let metrics: DaemonMetrics | undefined;
  const registry = new Registry({
    log,
    catalog,
    supervisor: { socketDir, daemonEnv: process.env, portRange: opts.pluginPortRange, healthIntervalMs: opts.healthIntervalMs },
    defaults: { stopGraceMs: opts.stopGraceMs, startTimeoutMs: opts.startTimeoutMs },
    events: {
      pluginStarted: (name) => metrics?.pluginStarted(name),
      pluginStopped: (name) => metrics?.pluginStopped(name),
    },
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
  });
  const boundHttp = await listen(httpServer, httpAddr, "--http-addr");
  if (!advertiseAddr) {
    const a = boundHttp as Extract<Address, { kind: "tcp" }>;
    // Prometheus runs elsewhere (another container, another host): never advertise a
    // wildcard or a silent localhost it could not reach.
    advertiseAddr = `${formatHost(isWildcardHost(httpAddr.host) ? hostname() : a.host)}:${a.port}`;
  }

  const sessions = new Set<http2.Http2Session>();
  const controlServer = http2.createServer(
    connectNodeAdapter({
      routes: controlRoutes({
        registry,
        advertiseAddr: () => advertiseAddr,
        addresses: () => ({ grpcAddr: formatAddress(boundGrpc), httpAddr: formatAddress(boundHttp) }),
        stateDir: opts.stateDir,
        startedAt,
        scrapeTimeoutMs: opts.scrapeTimeoutMs,
      }),
      readMaxBytes: CONTROL_READ_MAX_BYTES,
    }),
  );
  controlServer.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  let boundGrpc: Address;
  try {
    boundGrpc = await listen(controlServer, grpcAddr, "--grpc-addr");
  } catch (err) {
    httpServer.close();
    throw err;
  }
  if (boundGrpc.kind === "unix") await chmod(boundGrpc.path, 0o600);

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
  await writeFileAtomic(stateFilePath, `${JSON.stringify(stateFile, null, 2)}\n`);
  log.info("plugprom daemon ready", {
    version: VERSION,
    grpc: stateFile.grpcAddr,
    http: stateFile.httpAddr,
    advertise: advertiseAddr,
    stateDir: opts.stateDir,
  });

  await new Promise<void>((resolve) => {
    let shuttingDown = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (shuttingDown) {
        log.warn("second signal: killing plugins now", { signal });
        void Promise.allSettled(registry.list().map((s) => s.kill())).then(() => process.exit(1));
        return;
      }
      shuttingDown = true;
      log.info("shutting down: stopping all plugins", { signal, plugins: registry.list().length });
      void shutdown(log, registry, opts.stopGraceMs, httpServer, controlServer, sessions, boundGrpc, stateFilePath).finally(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        resolve();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

async function shutdown(
  log: Logger,
  registry: Registry,
  graceMs: number,
  httpServer: HttpServer,
  controlServer: http2.Http2Server,
  sessions: Set<http2.Http2Session>,
  boundGrpc: Address,
  stateFilePath: string,
): Promise<void> {
  await registry.stopAll(graceMs);
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
  await rm(stateFilePath, { force: true });
  if (boundGrpc.kind === "unix") await rm(boundGrpc.path, { force: true });
  log.info("plugprom daemon stopped");
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
      // A socket file left by a daemon that died is stale; a live daemon would hold the state dir lock.
      void rm(addr.path, { force: true }).then(() => server.listen(addr.path, done));
    } else {
      server.listen(addr.port, addr.host, done);
    }
  });
}

async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, path);
}
