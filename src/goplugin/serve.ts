// The serving side of go-plugin's gRPC protocol for TypeScript plugins: what go-plugin's
// plugin.Serve does (cookie check, version negotiation, listener, AutoMTLS, health,
// controller, stdio, broker, handshake line), plus plugprom's private metrics endpoint.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { chmod, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create, type DescService } from "@bufbuild/protobuf";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../shared/gen/grpc/health/v1/health_pb.js";
import { GRPCBroker } from "../shared/gen/plugin/grpc_broker_pb.js";
import { EmptySchema, GRPCController } from "../shared/gen/plugin/grpc_controller_pb.js";
import { GRPCStdio } from "../shared/gen/plugin/grpc_stdio_pb.js";
import { parseAddress, type Address } from "../shared/address.js";
import { contentTypeOf, negotiateFormat, renderMetrics, type MetricsSource } from "../shared/exposition-format.js";
import { formatHandshake } from "./handshake.js";
import { generateCertificate, parsePemCertificate } from "./mtls.js";
import { serviceDefinition } from "./grpc-service.js";

export interface ServiceRegistration {
  service: DescService;
  implementation: grpc.UntypedServiceImplementation;
}

export interface ServePluginOptions {
  magicCookieKey: string;
  magicCookieValue: string;
  /** The services served at each app protocol version (go-plugin's VersionedPlugins). */
  versions: Record<number, ServiceRegistration[]>;
  /**
   * Served at GET /metrics on PLUGPROM_METRICS_ADDR when the host sets it: a prom-client
   * `Registry` (read through `getMetricsAsJSON`, never modified), as text or OpenMetrics.
   */
  registry?: MetricsSource;
  /** "unix" (default, as go-plugin on Unix) or "tcp" within PLUGIN_MIN_PORT..PLUGIN_MAX_PORT. */
  transport?: "unix" | "tcp";
  /** Called once while the plugin shuts down (Shutdown RPC, SIGTERM, SIGINT). */
  onShutdown?: () => void | Promise<void>;
  env?: NodeJS.ProcessEnv;
  /** Where the handshake line goes; only tests change it. */
  writeHandshake?: (line: string) => void;
  /** What happens after a graceful shutdown or a refused start; only tests change it. */
  exit?: (code: number) => void;
}

export interface ServedPlugin {
  version: number;
  address: Address;
  log: PluginLogger;
  /** Stops serving, runs onShutdown; idempotent. */
  shutdown(): Promise<void>;
}

export type LogFields = Record<string, unknown>;
export interface PluginLogger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** hclog-style JSON on stderr: go-plugin hosts (and plugprom) re-log these with their level. */
export function createPluginLogger(module = "plugin", write = (s: string) => void process.stderr.write(s)): PluginLogger {
  const emit = (level: string) => (msg: string, fields: LogFields = {}) =>
    write(`${JSON.stringify({ "@level": level, "@message": msg, "@module": module, "@timestamp": new Date().toISOString(), ...fields })}\n`);
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

export class ServeError extends Error {
  override name = "ServeError";
}

export async function servePlugin(opts: ServePluginOptions): Promise<ServedPlugin> {
  const env = opts.env ?? process.env;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const log = createPluginLogger();

  if (env[opts.magicCookieKey] !== opts.magicCookieValue) {
    process.stderr.write(
      "This program is a plugin. It is not meant to be run by hand: a go-plugin host such as\n" +
        '"plugprom start <name> -- <this program>" launches it and talks to it over gRPC.\n' +
        `(${opts.magicCookieKey} is not set to the expected value.)\n`,
    );
    exit(1);
    throw new ServeError("magic cookie mismatch");
  }

  const version = negotiateVersion(Object.keys(opts.versions).map(Number), env.PLUGIN_PROTOCOL_VERSIONS);
  if (version === undefined) {
    const msg = `plugin serves protocol versions ${Object.keys(opts.versions).join(", ")}, host offered ${env.PLUGIN_PROTOCOL_VERSIONS}: no version in common`;
    log.error(msg);
    process.stderr.write(`${msg}\n`);
    exit(1);
    throw new ServeError(msg);
  }

  const clientCertPem = env.PLUGIN_CLIENT_CERT;
  let credentials = grpc.ServerCredentials.createInsecure();
  let serverCertDer: Buffer | undefined;
  if (clientCertPem) {
    parsePemCertificate(clientCertPem);
    const cert = await generateCertificate();
    serverCertDer = cert.certDer;
    credentials = grpc.ServerCredentials.createSsl(
      Buffer.from(clientCertPem),
      [{ private_key: Buffer.from(cert.keyPem), cert_chain: Buffer.from(cert.certPem) }],
      true,
    );
  }

  const server = new grpc.Server();
  const streams = new Set<grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>>();
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      log.debug("plugin shutting down");
      for (const s of streams) s.end();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      if (metricsServer) await new Promise<void>((resolve) => metricsServer!.close(() => resolve()));
      if (metricsServer) metricsServer.closeAllConnections();
      if (listenAddr.kind === "unix") await rm(listenAddr.path, { force: true });
      await opts.onShutdown?.();
    })();
    return shuttingDown;
  };
  const shutdownAndExit = () => void shutdown().then(() => exit(0));

  server.addService(serviceDefinition(Health), {
    check: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING })),
    watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      streams.add(call);
      call.on("cancelled", () => streams.delete(call));
      call.write(create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }));
    },
  });
  server.addService(serviceDefinition(GRPCController), {
    shutdown: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      cb(null, create(EmptySchema));
      // Answer first: the host waits for this reply before it watches the process exit.
      setImmediate(shutdownAndExit);
    },
  });
  // Stdio: this SDK's plugins log to stderr directly; the stream stays open so that hosts
  // that open it (go-plugin >= 1.4) see a live plugin, and ends on shutdown.
  server.addService(serviceDefinition(GRPCStdio), {
    streamStdio: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      streams.add(call);
      call.on("cancelled", () => streams.delete(call));
    },
  });
  // Broker: accepted and left idle; a host that opens it is never blocked by its absence.
  server.addService(serviceDefinition(GRPCBroker), {
    startStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      streams.add(call);
      call.on("data", () => undefined);
      call.on("end", () => call.end());
      call.on("cancelled", () => streams.delete(call));
    },
  });
  for (const reg of opts.versions[version]) server.addService(serviceDefinition(reg.service), reg.implementation);

  const listenAddr = await bindGrpc(server, credentials, opts.transport ?? "unix", env);
  const metricsServer = env.PLUGPROM_METRICS_ADDR && opts.registry ? await serveMetrics(opts.registry, env.PLUGPROM_METRICS_ADDR) : undefined;

  process.once("SIGTERM", shutdownAndExit);
  process.once("SIGINT", shutdownAndExit);

  const line = formatHandshake({
    appVersion: version,
    network: listenAddr.kind,
    address: listenAddr.kind === "unix" ? listenAddr.path : `${listenAddr.host}:${listenAddr.port}`,
    protocol: "grpc",
    serverCert: serverCertDer,
  });
  (opts.writeHandshake ?? ((l: string) => void process.stdout.write(`${l}\n`)))(line);
  log.debug("plugin serving", { version, address: line.split("|")[3], mtls: Boolean(serverCertDer) });
  return { version, address: listenAddr, log, shutdown };
}

/** Highest version both sides speak; without a host list, the plugin's highest. */
export function negotiateVersion(served: number[], offered: string | undefined): number | undefined {
  const sorted = [...served].sort((a, b) => b - a);
  if (!offered) return sorted[0];
  const hostVersions = new Set(offered.split(",").map((v) => Number(v.trim())));
  return sorted.find((v) => hostVersions.has(v));
}

async function bindGrpc(
  server: grpc.Server,
  credentials: grpc.ServerCredentials,
  transport: "unix" | "tcp",
  env: NodeJS.ProcessEnv,
): Promise<Address> {
  const bind = (target: string) =>
    new Promise<number>((resolve, reject) => server.bindAsync(target, credentials, (err, port) => (err ? reject(err) : resolve(port))));
  if (transport === "unix") {
    const path = join(env.PLUGIN_UNIX_SOCKET_DIR || tmpdir(), `plugin${randomBytes(6).toString("hex")}`);
    await bind(`unix:${path}`);
    await chmod(path, 0o600).catch(() => undefined);
    return { kind: "unix", path };
  }
  const min = Number(env.PLUGIN_MIN_PORT || 10_000);
  const max = Number(env.PLUGIN_MAX_PORT || 25_000);
  if (!(min > 0 && max >= min && max < 65_536)) throw new ServeError(`invalid port range PLUGIN_MIN_PORT=${min} PLUGIN_MAX_PORT=${max}`);
  // Random probes within the range the host allows; a bounded number of tries.
  for (let i = 0; i < 50; i++) {
    const port = min + Math.floor(Math.random() * (max - min + 1));
    try {
      await bind(`127.0.0.1:${port}`);
      return { kind: "tcp", host: "127.0.0.1", port };
    } catch {
      // taken: try another
    }
  }
  throw new ServeError(`no free port between ${min} and ${max}`);
}

/** Serves `registry` at GET /metrics, in OpenMetrics when the client asks for it, else text. */
export async function serveMetrics(registry: MetricsSource, addrText: string): Promise<HttpServer> {
  const addr = parseAddress(addrText);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.split("?")[0] !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    // Each scrape renders from its own snapshot: formats never share state (see exposition-format.ts).
    const format = negotiateFormat(req.headers.accept);
    renderMetrics(registry, format).then(
      (body) => {
        res.writeHead(200, { "content-type": contentTypeOf(format), "content-length": Buffer.byteLength(body) });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      (err: Error) => res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`${err.message}\n`),
    );
  });
  if (addr.kind === "unix") await rm(addr.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (addr.kind === "unix") server.listen(addr.path, resolve);
    else server.listen(addr.port, addr.host, resolve);
  });
  if (addr.kind === "unix") await chmod(addr.path, 0o600).catch(() => undefined);
  return server;
}
