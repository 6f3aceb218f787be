// One plugin process's whole life, from spawn to reap: the only code that sends signals to
// a plugin. States: STARTING → RUNNING → (STOPPING → STOPPED | CRASHED), or STARTING → FAILED.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { access, constants as fsConstants, stat, unlink } from "node:fs/promises";
import { connect as netConnect, createServer } from "node:net";
import { delimiter, isAbsolute, join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Address } from "../shared/address.js";
import { formatAddress } from "../shared/address.js";
import { aborted, deadlineExceeded, errorMessage, invalidArgument } from "../shared/errors.js";
import { formatPromDuration } from "../shared/duration.js";
import { PluginInfoSchema, PluginState, type PluginInfo } from "../shared/gen/plugprom/v1/control_pb.js";
import { HandshakeError, parseHandshake, type Handshake } from "../goplugin/handshake.js";
import { connectPlugin, isUnimplemented, type PluginClient } from "../goplugin/host.js";
import { generateCertificate } from "../goplugin/mtls.js";
import type { InstanceView } from "./instance.js";
import type { Logger } from "./log.js";
import { forEachLine, MAX_LINE_CHARS, OutputRing, parseHclogLine, stderrTail, type OutputStream } from "./plugin-output.js";
import { pluginEnvironment } from "./plugin-env.js";
import { substituteArgs } from "./template.js";

/** Everything needed to (re)start one instance; fixed for the instance's lifetime. */
export interface InstanceSpec {
  name: string;
  /** What the user started it from: a catalog entry, a path, or "" for the bundled greeter. */
  source: string;
  /** The executable: an absolute path, or a bare name looked up in the plugin's PATH. */
  command: string;
  /** Arguments, still with {{metrics_*}} placeholders. */
  args: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  magicCookieKey: string;
  magicCookieValue: string;
  protocolVersions: number[];
  metricsTransport: "unix" | "tcp";
  workingDir: string;
  startTimeoutMs: number;
  autoMtls: boolean;
  /** Greet the plugin once it runs (the bundled greeter counts it in plugin_greet_count). */
  greetAfterStart: boolean;
  /** Lower-case hex SHA-256 the executable must have; "" for no check. */
  sha256: string;
  /** Per-target scrape settings advertised in SD (ms); undefined = the job's. */
  scrapeIntervalMs?: number;
  scrapeTimeoutMs?: number;
}

export interface SupervisorDeps {
  log: Logger;
  /** Private 0700 directory for metrics sockets and PLUGIN_UNIX_SOCKET_DIR. */
  socketDir: string;
  daemonEnv: NodeJS.ProcessEnv;
  portRange: { min: number; max: number };
  healthIntervalMs: number;
  onStateChange?: (s: Supervisor) => void;
}

/** Unix socket paths are limited to 107 bytes by the kernel's sockaddr_un. */
const MAX_UNIX_PATH = 107;
const HEALTH_POLL_MS = 50;
const HEALTH_CALL_TIMEOUT_MS = 5_000;
const FINAL_KILL_WAIT_MS = 5_000;

export class Supervisor implements InstanceView {
  state: PluginState = PluginState.STOPPED;
  restarts = 0;
  healthy = false;
  lastError = "";
  lastExitCode: number | undefined;
  lastExitSignal = "";
  startedAt: Date | undefined;
  stoppedAt: Date | undefined;
  metricsEndpoint: Address | undefined;
  readonly output = new OutputRing();

  private child: ChildProcess | undefined;
  private handshake: Handshake | undefined;
  private client: PluginClient | undefined;
  private resolvedArgs: string[] = [];
  private healthTimer: NodeJS.Timeout | undefined;
  private stdio: { cancel(): void } | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    readonly spec: InstanceSpec,
    private readonly deps: SupervisorDeps,
  ) {
    this.log = deps.log.with({ plugin: spec.name });
  }

  get name(): string {
    return this.spec.name;
  }

  get labels(): Readonly<Record<string, string>> {
    return this.spec.labels;
  }

  get scrapeIntervalMs(): number | undefined {
    return this.spec.scrapeIntervalMs;
  }

  get scrapeTimeoutMs(): number | undefined {
    return this.spec.scrapeTimeoutMs;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /**
   * Spawns the process and resolves once it is RUNNING. On any failure the process group is
   * killed and reaped before the returned promise rejects, so nothing is left behind.
   */
  async start(): Promise<void> {
    this.stopRequested = false;
    this.stopping = undefined;
    this.healthy = false;
    this.lastError = "";
    this.handshake = undefined;
    this.setState(PluginState.STARTING);
    try {
      await this.launch();
      this.setState(PluginState.RUNNING);
      // (re-read: launch() assigned it, which TypeScript's narrowing of `this` does not see)
      const handshake = this.handshake as Handshake | undefined;
      this.log.info("plugin running", { pid: this.pid, protocol: handshake?.protocol, version: handshake?.appVersion });
      this.scheduleHealthChecks();
      if (this.client) void this.consumeStdio(this.client);
      if (this.spec.greetAfterStart && this.client) {
        this.client.greet("plugprom", HEALTH_CALL_TIMEOUT_MS).catch((err: unknown) => this.log.debug("greeting failed", { error: errorMessage(err) }));
      }
    } catch (err) {
      const message = errorMessage(err);
      await this.killAndReap();
      this.lastError = message;
      this.setState(this.stopRequested ? PluginState.STOPPED : PluginState.FAILED);
      this.log.warn("plugin failed to start", { error: message });
      throw err instanceof ConnectError ? err : aborted(message);
    }
  }

  /** Graceful stop: Shutdown RPC, then SIGTERM, then SIGKILL, each after `graceMs`. Idempotent. */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.stopGracefully(graceMs);
    return this.stopping;
  }

  /** SIGKILL to the whole process group, now. */
  async kill(): Promise<void> {
    this.stopRequested = true;
    if (this.isAlive()) this.setState(PluginState.STOPPING);
    await this.killAndReap();
    this.finishStop();
  }

  info(): PluginInfo {
    return create(PluginInfoSchema, {
      name: this.name,
      state: this.state,
      pid: this.pid ?? 0,
      command: this.spec.command,
      args: this.resolvedArgs.length > 0 ? this.resolvedArgs : this.spec.args,
      labels: { ...this.spec.labels },
      startedAt: this.startedAt ? timestampFromDate(this.startedAt) : undefined,
      stoppedAt: this.stoppedAt ? timestampFromDate(this.stoppedAt) : undefined,
      restarts: this.restarts,
      metricsEndpoint: this.metricsEndpoint ? formatAddress(this.metricsEndpoint) : "",
      lastError: this.lastError,
      lastExitCode: this.lastExitCode,
      lastExitSignal: this.lastExitSignal,
      protocolVersion: this.handshake?.appVersion ?? 0,
      rpcAddress: this.handshake ? `${this.handshake.network}:${this.handshake.address}` : "",
      rpcProtocol: this.handshake?.protocol ?? "",
      plugin: this.spec.source,
      healthy: this.healthy,
      workingDir: this.spec.workingDir,
      scrapeInterval: this.spec.scrapeIntervalMs ? formatPromDuration(this.spec.scrapeIntervalMs) : "",
      scrapeTimeout: this.spec.scrapeTimeoutMs ? formatPromDuration(this.spec.scrapeTimeoutMs) : "",
    });
  }

  private async launch(): Promise<void> {
    const { spec, deps } = this;
    const command = await resolveExecutable(spec.command, spec.workingDir, spec.env.PATH ?? deps.daemonEnv.PATH);
    if (spec.sha256) {
      const actual = await sha256File(command);
      if (actual !== spec.sha256) {
        throw aborted(`refusing to run ${command}: its SHA-256 is ${actual}, expected ${spec.sha256} (the binary changed, or the checksum is wrong)`);
      }
    }
    this.metricsEndpoint = await this.allocateMetricsEndpoint();
    try {
      this.resolvedArgs = substituteArgs(spec.args, this.metricsEndpoint);
    } catch (err) {
      throw invalidArgument(errorMessage(err));
    }
    const cert = spec.autoMtls ? await generateCertificate() : undefined;
    const env = pluginEnvironment({
      daemonEnv: deps.daemonEnv,
      userEnv: spec.env,
      magicCookieKey: spec.magicCookieKey,
      magicCookieValue: spec.magicCookieValue,
      protocolVersions: spec.protocolVersions,
      minPort: deps.portRange.min,
      maxPort: deps.portRange.max,
      unixSocketDir: deps.socketDir,
      metricsAddr: formatAddress(this.metricsEndpoint),
      instanceName: spec.name,
      clientCertPem: cert?.certPem,
    });

    const child = spawn(command, this.resolvedArgs, {
      cwd: spec.workingDir,
      env,
      // Its own process group, so that stop and kill reach everything the plugin started.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.startedAt = new Date();
    this.stoppedAt = undefined;
    this.lastExitCode = undefined;
    this.lastExitSignal = "";

    const spawned = new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (err: NodeJS.ErrnoException) => reject(aborted(`cannot run ${command}: ${err.code ?? err.message}`)));
    });
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(this.onExit(child, code, signal))));
    const handshakeLine = this.readOutput(child);
    await spawned;

    const deadline = Date.now() + spec.startTimeoutMs;
    const exitedEarly = this.exited.then(() => {
      const tail = stderrTail(this.output);
      // go-plugin plugins refuse a wrong cookie with their own text and exit 1.
      const cookieHint = /not meant to be executed directly|magic cookie/i.test(tail)
        ? ` The plugin rejected the magic cookie ${spec.magicCookieKey}=${spec.magicCookieValue}: start it with --magic-cookie KEY=VALUE matching its HandshakeConfig.`
        : "";
      throw aborted(
        `plugin exited before its handshake (${describeExit(this.lastExitCode, this.lastExitSignal)}).${cookieHint} Last stderr: ${tail}`,
      );
    });
    // Raced below; once the plugin runs, a later exit is handled by onExit instead.
    exitedEarly.catch(() => undefined);
    const line = await withDeadline(Promise.race([handshakeLine, exitedEarly]), deadline, () =>
      deadlineExceeded(
        `plugin did not print its handshake within ${spec.startTimeoutMs} ms. Last stderr: ${stderrTail(this.output)}. ` +
          `Is it a go-plugin plugin expecting ${spec.magicCookieKey}=${spec.magicCookieValue}?`,
      ),
    );
    try {
      this.handshake = parseHandshake(line, spec.protocolVersions);
    } catch (err) {
      if (err instanceof HandshakeError) throw aborted(`${err.message}. Last stderr: ${stderrTail(this.output)}`);
      throw err;
    }
    if (this.handshake.protocol === "grpc") {
      const tls =
        cert && this.handshake.serverCert
          ? { clientCertPem: cert.certPem, clientKeyPem: cert.keyPem, serverCertDer: this.handshake.serverCert }
          : undefined;
      if (cert && !this.handshake.serverCert) {
        this.log.warn("plugin ignored PLUGIN_CLIENT_CERT (no server certificate in its handshake); using plaintext gRPC");
      }
      this.client = connectPlugin(this.handshake, tls);
      await withDeadline(Promise.race([this.waitServing(deadline), exitedEarly]), deadline, () =>
        deadlineExceeded(`plugin did not report SERVING for health service "plugin" within ${spec.startTimeoutMs} ms`),
      );
    } else {
      // net/rpc plugins: we do not speak their RPC; liveness is the process plus a connect.
      await withDeadline(Promise.race([probeConnect(this.handshake), exitedEarly]), deadline, () =>
        deadlineExceeded(`plugin's net/rpc address ${this.handshake?.address} did not accept a connection`),
      );
    }
    this.healthy = true;
  }

  /** Wires stdout/stderr into the ring and the log; resolves with the first stdout line. */
  private readOutput(child: ChildProcess): Promise<string> {
    let handshakeSeen = false;
    return new Promise((resolve) => {
      const record = (stream: OutputStream, text: string) => this.recordLine(stream, text);
      forEachLine(child.stdout!, (text) => {
        if (!handshakeSeen && text.trim() !== "") {
          handshakeSeen = true;
          resolve(text);
          return;
        }
        record("stdout", text);
      });
      forEachLine(child.stderr!, (text) => record("stderr", text));
    });
  }

  private recordLine(stream: OutputStream, text: string): void {
    this.output.push({ time: new Date(), stream, text });
    const entry = parseHclogLine(text);
    if (entry) this.log[entry.level](entry.message, { ...entry.fields, stream });
    else this.log.info(text, { stream });
  }

  private async waitServing(deadline: number): Promise<void> {
    let last = "no answer";
    while (Date.now() < deadline && !this.stopRequested) {
      try {
        const status = await this.client!.checkHealth(Math.min(HEALTH_CALL_TIMEOUT_MS, Math.max(1, deadline - Date.now())));
        if (status === "SERVING") return;
        last = status;
      } catch (err) {
        last = errorMessage(err);
      }
      await delay(HEALTH_POLL_MS);
    }
    if (this.stopRequested) throw aborted("stopped while starting");
    throw deadlineExceeded(`plugin did not report SERVING for health service "plugin" (last: ${last})`);
  }

  /**
   * go-plugin >= 1.4 plugins send what they write to stdout/stderr over GRPCStdio; older
   * ones (and ours) answer UNIMPLEMENTED or send nothing, and their pipes are read instead.
   */
  private async consumeStdio(client: PluginClient): Promise<void> {
    const stream = client.streamStdio();
    this.stdio = stream;
    const partial = { stdout: "", stderr: "" };
    try {
      for await (const chunk of stream) {
        const text = partial[chunk.channel] + Buffer.from(chunk.data).toString("utf8");
        const lines = text.split("\n");
        partial[chunk.channel] = (lines.pop() ?? "").slice(0, MAX_LINE_CHARS);
        for (const line of lines) this.recordLine(chunk.channel, line.slice(0, MAX_LINE_CHARS));
      }
    } catch (err) {
      if (isUnimplemented(err)) this.log.debug("plugin does not serve GRPCStdio; reading its pipes only");
    } finally {
      if (this.stdio === stream) this.stdio = undefined;
    }
  }

  private scheduleHealthChecks(): void {
    const tick = async () => {
      if (this.state !== PluginState.RUNNING) return;
      let ok: boolean;
      // A check never outlives the interval: a hung plugin is reported, not waited for.
      const timeoutMs = Math.min(HEALTH_CALL_TIMEOUT_MS, Math.max(100, this.deps.healthIntervalMs));
      try {
        ok = this.client
          ? (await this.client.checkHealth(timeoutMs)) === "SERVING"
          : (await probeConnect(this.handshake!), true);
      } catch {
        ok = false;
      }
      if (this.state !== PluginState.RUNNING) return;
      if (ok !== this.healthy) {
        this.healthy = ok;
        if (ok) this.log.info("plugin healthy again");
        else this.log.warn("plugin failed its health check");
        this.deps.onStateChange?.(this);
      }
      this.healthTimer = setTimeout(tick, this.deps.healthIntervalMs);
      this.healthTimer.unref();
    };
    this.healthTimer = setTimeout(tick, this.deps.healthIntervalMs);
    this.healthTimer.unref();
  }

  private async stopGracefully(graceMs: number): Promise<void> {
    this.stopRequested = true;
    if (!this.isAlive()) {
      this.finishStop();
      return;
    }
    this.setState(PluginState.STOPPING);
    const steps: Array<[string, () => void]> = [
      ["Shutdown", () => void this.client?.shutdown(graceMs).catch(() => undefined)],
      ["SIGTERM", () => this.signalGroup("SIGTERM")],
    ];
    for (const [what, act] of steps) {
      if (what === "Shutdown" && !this.client) continue;
      this.log.debug(`stopping plugin: ${what}`);
      act();
      if (await this.waitExit(graceMs)) {
        this.finishStop();
        return;
      }
    }
    this.log.warn("plugin ignored Shutdown and SIGTERM; killing it", { graceMs });
    await this.killAndReap();
    this.finishStop();
  }

  private finishStop(): void {
    this.clearTimers();
    if (this.state === PluginState.STOPPING || this.state === PluginState.RUNNING || this.state === PluginState.STARTING) {
      this.setState(PluginState.STOPPED);
    }
  }

  private isAlive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private async waitExit(ms: number): Promise<boolean> {
    if (!this.isAlive()) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const result = await Promise.race([this.exited.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return result;
  }

  private async killAndReap(): Promise<void> {
    if (this.isAlive()) {
      this.signalGroup("SIGKILL");
      if (!(await this.waitExit(FINAL_KILL_WAIT_MS))) this.log.error("plugin did not exit after SIGKILL", { pid: this.child?.pid });
    }
    this.clearTimers();
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.lastExitCode = code ?? undefined;
    this.lastExitSignal = signal ?? "";
    this.stoppedAt = new Date();
    // Whatever the plugin left in its process group goes with it.
    if (child.pid) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // group already empty
      }
    }
    this.clearTimers();
    this.healthy = false;
    void this.removeSocket();
    if (this.stopRequested) return;
    if (this.state === PluginState.RUNNING) {
      this.lastError = `exited unexpectedly (${describeExit(this.lastExitCode, this.lastExitSignal)}). Last stderr: ${stderrTail(this.output)}`;
      this.log.warn("plugin crashed", { exitCode: code, signal });
      this.setState(PluginState.CRASHED);
    }
  }

  private clearTimers(): void {
    if (this.healthTimer) clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
    this.stdio?.cancel();
    this.stdio = undefined;
    this.client?.close();
    this.client = undefined;
  }

  private async allocateMetricsEndpoint(): Promise<Address> {
    if (this.spec.metricsTransport === "tcp") {
      return { kind: "tcp", host: "127.0.0.1", port: await kernelAssignedPort() };
    }
    const path = join(this.deps.socketDir, `${this.spec.name}.metrics.sock`);
    if (Buffer.byteLength(path) > MAX_UNIX_PATH) {
      throw invalidArgument(
        `metrics socket path ${path} is longer than the ${MAX_UNIX_PATH} bytes Unix sockets allow; ` +
          "use a shorter --state-dir or --metrics-transport tcp",
      );
    }
    await unlink(path).catch(() => undefined);
    return { kind: "unix", path };
  }

  private async removeSocket(): Promise<void> {
    if (this.metricsEndpoint?.kind === "unix") await unlink(this.metricsEndpoint.path).catch(() => undefined);
  }

  private setState(state: PluginState): void {
    if (this.state === state) return;
    this.state = state;
    this.deps.onStateChange?.(this);
  }
}

/** Checks up front what spawn would only report as a bare ENOENT/EACCES. */
async function resolveExecutable(command: string, cwd: string, pathVar: string | undefined): Promise<string> {
  const candidates = command.includes("/")
    ? [isAbsolute(command) ? command : join(cwd, command)]
    : (pathVar ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      const st = await stat(candidate);
      if (!st.isFile()) continue;
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next candidate
    }
  }
  if (command.includes("/")) {
    const exists = await stat(candidates[0]).then(() => true, () => false);
    throw invalidArgument(exists ? `plugin command ${candidates[0]} is not an executable file` : `plugin command ${candidates[0]} does not exist`);
  }
  throw invalidArgument(`plugin command ${JSON.stringify(command)} not found in PATH`);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function kernelAssignedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      server.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function probeConnect(h: Handshake): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket =
      h.network === "unix"
        ? netConnect({ path: h.address })
        : netConnect({ host: h.address.slice(0, h.address.lastIndexOf(":")), port: Number(h.address.slice(h.address.lastIndexOf(":") + 1)) });
    socket.setTimeout(HEALTH_CALL_TIMEOUT_MS, () => socket.destroy(new Error("connect timed out")));
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", reject);
  });
}

async function withDeadline<T>(work: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function describeExit(code: number | undefined, signal: string): string {
  if (signal) return `signal ${signal}`;
  return code === undefined ? "unknown status" : `exit ${code}`;
}
