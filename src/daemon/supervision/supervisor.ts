// One plugin instance's whole life, from spawn to reap, across crashes, restarts and daemon
// restarts: the only code that sends signals to a plugin. States: STARTING → RUNNING →
// (STOPPING → STOPPED | CRASHED | BACKOFF/CRASHLOOP → STARTING …), or → FAILED.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { access, constants as fsConstants, stat, unlink } from "node:fs/promises";
import { connect as netConnect, createServer } from "node:net";
import { delimiter, isAbsolute, join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Address } from "../../shared/address.js";
import { formatAddress, parseAddress } from "../../shared/address.js";
import { formatPromDuration } from "../../shared/duration.js";
import { aborted, deadlineExceeded, errorMessage, invalidArgument, resourceExhausted } from "../../shared/errors.js";
import { PluginInfoSchema, PluginState, type PluginInfo } from "../../shared/gen/plugprom/v1/control_pb.js";
import { HandshakeError, parseHandshake, type Handshake } from "../../goplugin/handshake.js";
import { connectPlugin, isUnimplemented, type HostTls, type PluginClient } from "../../goplugin/host.js";
import { generateCertificate, type Certificate } from "../../goplugin/mtls.js";
import type { PersistedInstance, ReattachInfo } from "../state/instances-file.js";
import { CLOCK_TICKS, PAGE_SIZE, readProcStatSync } from "../proc.js";
import type { InstanceView } from "../instance.js";
import { LogFollower, type SkipReason } from "./log-follower.js";
import { OutputRelogger } from "./output-relog.js";
import { explainLostHandshake, filesystemFull } from "./disk-space.js";
import type { Logger } from "../log.js";
import { attachPlugin, spawnPlugin, type ExitStatus, type PluginProcess } from "./plugin-process.js";
import { MAX_LINE_CHARS, OutputRing, stderrTail, type OutputStream } from "./plugin-output.js";
import { pluginEnvironment } from "./plugin-env.js";
import { placeholdersIn, substituteArgs } from "./template.js";
import type { InstanceSpec } from "../spec.js";

export interface SupervisorDeps {
  log: Logger;
  /** The daemon's state directory: named in every plugin's environment (PLUGPROM_DAEMON_STATE_DIR). */
  stateDir: string;
  /** Private 0700 directory for metrics sockets and PLUGIN_UNIX_SOCKET_DIR. */
  socketDir: string;
  /** Where plugin stdout/stderr files live. */
  logDir: string;
  daemonEnv: NodeJS.ProcessEnv;
  portRange: { min: number; max: number };
  healthIntervalMs: number;
  backoff: { initialMs: number; maxMs: number };
  onStateChange?: (s: Supervisor) => void;
  /** Every time a process of this instance reaches RUNNING (first start or restart). */
  onStarted?: (s: Supervisor) => void;
  /** Every restart, automatic or asked for. */
  onRestart?: (s: Supervisor) => void;
  /**
   * Resolves once what onStateChange reported is saved (instances.json), rejects with the
   * reason when it could not be: a process whose identity is not saved is not kept running.
   */
  durable?: () => Promise<void>;
  /** Output bytes the daemon did not read (a plugin writing faster than it is followed). */
  onOutputSkipped?: (s: Supervisor, stream: OutputStream, bytes: number) => void;
}

/** Unix socket paths are limited to 107 bytes by the kernel's sockaddr_un. */
const MAX_UNIX_PATH = 107;
const HEALTH_POLL_MS = 50;
const HEALTH_CALL_TIMEOUT_MS = 5_000;
const FINAL_KILL_WAIT_MS = 5_000;
/** A run this long resets the backoff: the plugin is not crash-looping any more. */
export const STABLE_RUN_MS = 10_000;
/** This many exits within the window is a crash loop (shown as CRASHLOOP). */
export const CRASH_LOOP_COUNT = 5;
export const CRASH_LOOP_WINDOW_MS = 60_000;
/** After this many failures in a row without a stable run, the policy gives up: FAILED. */
export const MAX_CONSECUTIVE_FAILURES = 10;

const WAITING: ReadonlySet<PluginState> = new Set([PluginState.BACKOFF, PluginState.CRASHLOOP]);

export class Supervisor implements InstanceView {
  state: PluginState = PluginState.STOPPED;
  restarts = 0;
  healthy = false;
  lastError = "";
  lastExitCode: number | undefined;
  lastExitSignal = "";
  startedAt: Date | undefined;
  stoppedAt: Date | undefined;
  nextRestartAt: Date | undefined;
  metricsEndpoint: Address | undefined;
  readonly output = new OutputRing();

  private proc: PluginProcess | undefined;
  private handshake: Handshake | undefined;
  private cert: Certificate | undefined;
  private client: PluginClient | undefined;
  private resolvedArgs: string[] = [];
  private followers: LogFollower[] = [];
  private healthTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stdio: { cancel(): void } | undefined;
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  /** Was RUNNING at least once: its target stays advertised while it restarts. */
  private everRan = false;
  private crashTimes: number[] = [];
  private consecutiveFailures = 0;
  private readonly log: Logger;
  private readonly relog: OutputRelogger;

  constructor(
    readonly spec: InstanceSpec,
    private readonly deps: SupervisorDeps,
  ) {
    this.log = deps.log.with({ plugin: spec.name });
    this.relog = new OutputRelogger(this.log, {}, (stream, text) => this.output.push({ time: new Date(), stream, text }));
  }

  get name(): string {
    return this.spec.name;
  }

  get labels(): Readonly<Record<string, string>> {
    return this.spec.labels;
  }

  get noMetrics(): boolean {
    return this.spec.noMetrics === true;
  }

  get scrapeIntervalMs(): number | undefined {
    return this.spec.scrapeIntervalMs;
  }

  get scrapeTimeoutMs(): number | undefined {
    return this.spec.scrapeTimeoutMs;
  }

  get pid(): number | undefined {
    return this.proc?.alive() ? this.proc.pid : undefined;
  }

  /**
   * Listed in service discovery: running, or down but meant to be running (crashed, waiting
   * to restart, restarting), so that Prometheus records up == 0 instead of losing the series.
   */
  get advertised(): boolean {
    switch (this.state) {
      case PluginState.RUNNING:
      case PluginState.CRASHED:
      case PluginState.BACKOFF:
      case PluginState.CRASHLOOP:
        return true;
      case PluginState.STARTING:
        return this.everRan;
      default:
        return false;
    }
  }

  /**
   * Starts now, as the user asked (first start, `restart`): clears the crash history and
   * resolves once RUNNING. A failure is returned, not retried; the process group is reaped.
   */
  async start(): Promise<void> {
    this.cancelRestart();
    this.stopRequested = false;
    this.stopping = undefined;
    this.crashTimes = [];
    this.consecutiveFailures = 0;
    try {
      await this.launch();
    } catch (err) {
      this.setState(this.stopRequested ? PluginState.STOPPED : PluginState.FAILED);
      throw err;
    }
  }

  /**
   * Brings back an instance from the daemon's saved state: adopts its process when it still
   * runs, else starts it, and on failure applies the restart policy instead of giving up.
   */
  async restore(reattach: ReattachInfo | undefined): Promise<void> {
    this.stopRequested = false;
    if (reattach) {
      try {
        await this.attach(reattach);
        return;
      } catch (err) {
        this.log.warn("could not reattach; starting it again", { error: errorMessage(err) });
      }
    }
    try {
      await this.launch();
    } catch {
      this.afterFailure();
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
    this.cancelRestart();
    if (this.proc?.alive()) this.setState(PluginState.STOPPING);
    await this.killAndReap();
    this.finishStop();
  }

  /** Given up on by the daemon (its new process could not be saved, and was killed). */
  markFailed(): void {
    this.setState(PluginState.FAILED);
  }

  /** The daemon is exiting and leaves this plugin running (--keep-plugins). */
  async detach(): Promise<void> {
    this.cancelRestart();
    this.clearRuntime();
    this.proc?.detach();
    await this.stopFollowers();
  }

  /** Once forgotten (stop, kill, failed first start): its output files and socket go too. */
  async removeFiles(): Promise<void> {
    const files = (["stdout", "stderr"] as const).flatMap((s) => [this.logPath(s), `${this.logPath(s)}.1`]);
    await Promise.all(files.map((f) => unlink(f).catch(() => undefined)));
    await this.removeSocket();
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
      restartPolicy: this.spec.restartPolicy,
      nextRestartAt: this.nextRestartAt && WAITING.has(this.state) ? timestampFromDate(this.nextRestartAt) : undefined,
      ...this.processUsage(),
    });
  }

  private processUsage(): { cpuSeconds: number; rssBytes: bigint } {
    const pid = this.pid;
    const stat = pid ? readProcStatSync(pid) : undefined;
    if (!stat) return { cpuSeconds: 0, rssBytes: 0n };
    return { cpuSeconds: (stat.utimeTicks + stat.stimeTicks) / CLOCK_TICKS, rssBytes: BigInt(stat.rssPages * PAGE_SIZE) };
  }

  /** What the daemon writes to instances.json: the spec, and how to find the process again. */
  persisted(): PersistedInstance {
    const p: PersistedInstance = { spec: this.spec, restarts: this.restarts };
    if (this.proc?.alive()) p.process = { pid: this.proc.pid, startTicks: this.proc.startTicks };
    const h = this.handshake;
    // From the handshake on, a daemon that dies can adopt the process rather than start a
    // second one; saved then (not only at RUNNING) so that the write overlaps the health check.
    const live = this.state === PluginState.RUNNING || this.state === PluginState.STARTING;
    if (live && this.proc?.alive() && h && this.startedAt) {
      p.reattach = {
        pid: this.proc.pid,
        startTicks: this.proc.startTicks,
        startedAt: this.startedAt.toISOString(),
        appVersion: h.appVersion,
        network: h.network,
        address: h.address,
        protocol: h.protocol,
        serverCert: h.serverCert?.toString("base64"),
        clientCertPem: h.serverCert ? this.cert?.certPem : undefined,
        clientKeyPem: h.serverCert ? this.cert?.keyPem : undefined,
        metricsEndpoint: this.metricsEndpoint ? formatAddress(this.metricsEndpoint) : "",
        args: this.resolvedArgs,
        stdoutLog: this.logPath("stdout"),
        stderrLog: this.logPath("stderr"),
      };
    }
    return p;
  }

  // ---- starting ----------------------------------------------------------------------

  /** One attempt: spawn, handshake, health. RUNNING on success; reaped and thrown on failure. */
  private async launch(): Promise<void> {
    this.healthy = false;
    this.lastError = "";
    this.handshake = undefined;
    this.nextRestartAt = undefined;
    this.setState(PluginState.STARTING);
    try {
      await this.spawnAndHandshake();
    } catch (err) {
      const message = errorMessage(err);
      await this.killAndReap();
      await this.stopFollowers();
      this.lastError = message;
      this.log.warn("plugin failed to start", { error: message });
      throw err instanceof ConnectError ? err : aborted(message);
    }
    this.becameRunning();
    if (this.spec.greetAfterStart && this.client) {
      this.client.greet("plugprom", HEALTH_CALL_TIMEOUT_MS).catch((err: unknown) => this.log.debug("greeting failed", { error: errorMessage(err) }));
    }
  }

  private becameRunning(): void {
    this.everRan = true;
    this.setState(PluginState.RUNNING);
    const h = this.handshake as Handshake | undefined;
    this.log.info("plugin running", { pid: this.pid, protocol: h?.protocol, version: h?.appVersion });
    this.scheduleHealthChecks();
    if (this.client) void this.consumeStdio(this.client);
    this.deps.onStarted?.(this);
  }

  private async spawnAndHandshake(): Promise<void> {
    const { spec, deps } = this;
    const command = await resolveExecutable(spec.command, spec.workingDir, spec.env.PATH ?? deps.daemonEnv.PATH);
    if (spec.sha256) {
      const actual = await sha256File(command);
      if (actual !== spec.sha256) {
        throw aborted(`refusing to run ${command}: its SHA-256 is ${actual}, expected ${spec.sha256} (the binary changed, or the checksum is wrong)`);
      }
    }
    if (await filesystemFull(deps.logDir)) {
      throw resourceExhausted(`no space left on the filesystem of ${deps.logDir} (ENOSPC): the plugin's output, its handshake included, could not be written`);
    }
    this.metricsEndpoint = spec.noMetrics ? undefined : await this.allocateMetricsEndpoint();
    try {
      if (spec.noMetrics && placeholdersIn(spec.args).size > 0) throw new Error("{{metrics_*}} placeholders need a metrics endpoint, and --no-metrics gives none");
      this.resolvedArgs = this.metricsEndpoint ? substituteArgs(spec.args, this.metricsEndpoint) : [...spec.args];
    } catch (err) {
      throw invalidArgument(errorMessage(err));
    }
    this.cert = spec.autoMtls ? await generateCertificate() : undefined;
    const env = pluginEnvironment({
      daemonEnv: deps.daemonEnv,
      userEnv: spec.env,
      magicCookieKey: spec.magicCookieKey,
      magicCookieValue: spec.magicCookieValue,
      protocolVersions: spec.protocolVersions,
      minPort: deps.portRange.min,
      maxPort: deps.portRange.max,
      unixSocketDir: deps.socketDir,
      metricsAddr: this.metricsEndpoint ? formatAddress(this.metricsEndpoint) : undefined,
      instanceName: spec.name,
      stateDir: deps.stateDir,
      clientCertPem: this.cert?.certPem,
      inheritEnv: spec.inheritEnv,
    });

    let proc: PluginProcess;
    try {
      proc = await spawnPlugin(command, this.resolvedArgs, {
        cwd: spec.workingDir,
        env,
        stdoutPath: this.logPath("stdout"),
        stderrPath: this.logPath("stderr"),
      });
    } catch (err) {
      throw aborted(`cannot run ${command}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
    this.proc = proc;
    this.startedAt = new Date();
    this.stoppedAt = undefined;
    this.lastExitCode = undefined;
    this.lastExitSignal = "";
    void proc.exited.then((status) => this.onExit(proc, status));
    // Its identity (pid, start time) is saved before anything else can happen: a daemon that
    // dies from here on finds the process again (or stops it) instead of starting a second one.
    this.deps.onStateChange?.(this);
    const saved = this.deps.durable?.() ?? Promise.resolve();
    // A failed save ends the start at once (raced below), not at the start timeout.
    const saveFailed = saved.then(() => new Promise<never>(() => undefined));
    saveFailed.catch(() => undefined);
    const { handshake: handshakeLine } = await this.followOutput(false);

    const deadline = Date.now() + spec.startTimeoutMs;
    const exitedEarly = proc.exited.then(async () => {
      await this.stopFollowers(); // everything it wrote before dying is in the ring now
      const tail = stderrTail(this.output);
      // go-plugin plugins refuse a wrong cookie with their own text and exit 1.
      const cookieHint = /not meant to be executed directly|magic cookie/i.test(tail)
        ? ` The plugin rejected the magic cookie ${spec.magicCookieKey}=${spec.magicCookieValue}: start it with --magic-cookie KEY=VALUE matching its HandshakeConfig.`
        : "";
      throw aborted(`plugin exited before its handshake (${describeExit(this.lastExitCode, this.lastExitSignal)}).${cookieHint} Last stderr: ${tail}`);
    });
    // Raced below; once the plugin runs, a later exit is handled by onExit instead.
    exitedEarly.catch(() => undefined);
    const line = await withDeadline(Promise.race([handshakeLine, exitedEarly, saveFailed]), deadline, () =>
      deadlineExceeded(
        `plugin did not print its handshake within ${spec.startTimeoutMs} ms. Last stderr: ${stderrTail(this.output)}. ` +
          `Is it a go-plugin plugin expecting ${spec.magicCookieKey}=${spec.magicCookieValue}?`,
      ),
    ).catch(async (err: unknown) => {
      throw await explainLostHandshake(err, deps.logDir, this.logPath("stdout"));
    });
    try {
      this.handshake = parseHandshake(line, spec.protocolVersions);
    } catch (err) {
      if (err instanceof HandshakeError) throw aborted(`${err.message}. Last stderr: ${stderrTail(this.output)}`);
      throw err;
    }
    this.deps.onStateChange?.(this); // the reattach information is complete: save it now
    await withDeadline(Promise.race([this.connect(deadline), exitedEarly, saveFailed]), deadline, () =>
      deadlineExceeded(
        this.handshake?.protocol === "grpc"
          ? `plugin did not report SERVING for health service "plugin" within ${spec.startTimeoutMs} ms`
          : `plugin's net/rpc address ${this.handshake?.address} did not accept a connection within ${spec.startTimeoutMs} ms`,
      ),
    );
    await saved;
    this.healthy = true;
  }

  /** gRPC: connect (pinned mTLS) and wait for SERVING; net/rpc: a connect to its address. */
  private async connect(deadline: number): Promise<void> {
    const h = this.handshake!;
    if (h.protocol !== "grpc") {
      // net/rpc plugins: we do not speak their RPC; liveness is the process plus a connect.
      await probeConnect(h);
      return;
    }
    if (this.cert && !h.serverCert) {
      this.log.warn("plugin ignored PLUGIN_CLIENT_CERT (no server certificate in its handshake); using plaintext gRPC");
    }
    this.client = connectPlugin(h, this.hostTls(this.cert, h.serverCert));
    await this.waitServing(deadline);
  }

  private hostTls(cert: Pick<Certificate, "certPem" | "keyPem"> | undefined, serverCert: Buffer | undefined): HostTls | undefined {
    return cert && serverCert ? { clientCertPem: cert.certPem, clientKeyPem: cert.keyPem, serverCertDer: serverCert } : undefined;
  }

  /** Adopts a live plugin a previous daemon started (same pid and start time). */
  private async attach(info: ReattachInfo): Promise<void> {
    const proc = attachPlugin(info.pid, info.startTicks);
    if (!proc.alive()) {
      proc.detach();
      throw new Error(`process ${info.pid} is gone`);
    }
    this.proc = proc;
    this.startedAt = new Date(info.startedAt);
    this.resolvedArgs = info.args;
    this.metricsEndpoint = info.metricsEndpoint ? parseAddress(info.metricsEndpoint) : undefined;
    this.handshake = {
      coreVersion: 1,
      appVersion: info.appVersion,
      network: info.network,
      address: info.address,
      protocol: info.protocol,
      serverCert: info.serverCert ? Buffer.from(info.serverCert, "base64") : undefined,
      mux: false,
    };
    this.cert = info.clientCertPem && info.clientKeyPem ? { certPem: info.clientCertPem, keyPem: info.clientKeyPem, certDer: Buffer.alloc(0) } : undefined;
    void proc.exited.then((status) => this.onExit(proc, status));
    await this.followOutput(true);
    if (info.protocol === "grpc") this.client = connectPlugin(this.handshake, this.hostTls(this.cert, this.handshake.serverCert));
    try {
      if (this.client) this.healthy = (await this.client.checkHealth(HEALTH_CALL_TIMEOUT_MS)) === "SERVING";
      else this.healthy = await probeConnect(this.handshake).then(() => true, () => false);
    } catch {
      this.healthy = false;
    }
    this.log.info("reattached to running plugin", { pid: info.pid, healthy: this.healthy });
    this.everRan = true;
    this.setState(PluginState.RUNNING);
    this.scheduleHealthChecks();
    if (this.client) void this.consumeStdio(this.client);
  }

  /**
   * Follows the plugin's stdout and stderr files into the ring and the log. For a fresh
   * start, resolves with the first stdout line (the handshake); when reattaching, reads only
   * what comes next.
   */
  private async followOutput(fromEnd: boolean): Promise<{ handshake: Promise<string> }> {
    await this.stopFollowers();
    let resolveHandshake!: (line: string) => void;
    const handshake = new Promise<string>((r) => (resolveHandshake = r));
    let handshakeSeen = fromEnd;
    const follow = (stream: OutputStream) => ({
      fromEnd,
      onSkipped: (bytes: number, why: SkipReason) => {
        this.relog.skippedBytes(stream, bytes, why);
        this.deps.onOutputSkipped?.(this, stream, bytes);
      },
    });
    const stdout = new LogFollower(
      this.logPath("stdout"),
      (text) => {
        if (!handshakeSeen && text.trim() !== "") {
          handshakeSeen = true;
          resolveHandshake(text);
          return;
        }
        this.recordLine("stdout", text);
      },
      follow("stdout"),
    );
    const stderr = new LogFollower(this.logPath("stderr"), (text) => this.recordLine("stderr", text), follow("stderr"));
    this.followers = [stdout, stderr];
    const opened = await Promise.allSettled(this.followers.map((f) => f.start()));
    const failed = opened.find((r) => r.status === "rejected");
    if (failed) {
      await this.stopFollowers(); // the one that did open is closed, not left to the GC
      throw (failed as PromiseRejectedResult).reason;
    }
    // Wrapped: an async function returning a bare promise would wait for it.
    return { handshake };
  }

  private async stopFollowers(): Promise<void> {
    const followers = this.followers;
    this.followers = [];
    await Promise.all(followers.map((f) => f.stop()));
    this.relog.summarize();
  }

  private recordLine(stream: OutputStream, text: string): void {
    this.output.push({ time: new Date(), stream, text });
    this.relog.line(stream, text);
  }

  /**
   * go-plugin >= 1.4 plugins send what they write to stdout/stderr over GRPCStdio; older
   * ones (and ours) answer UNIMPLEMENTED or send nothing, and their files are read instead.
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
      if (isUnimplemented(err)) this.log.debug("plugin does not serve GRPCStdio; reading its output files only");
    } finally {
      if (this.stdio === stream) this.stdio = undefined;
    }
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

  private scheduleHealthChecks(): void {
    clearTimeout(this.healthTimer);
    const tick = async () => {
      if (this.state !== PluginState.RUNNING) return;
      let ok: boolean;
      // A check never outlives the interval: a hung plugin is reported, not waited for.
      const timeoutMs = Math.min(HEALTH_CALL_TIMEOUT_MS, Math.max(100, this.deps.healthIntervalMs));
      try {
        ok = this.client ? (await this.client.checkHealth(timeoutMs)) === "SERVING" : (await probeConnect(this.handshake!), true);
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

  // ---- exits and restarts --------------------------------------------------------------

  private onExit(proc: PluginProcess, status: ExitStatus): void {
    if (proc !== this.proc) return; // an earlier process of this instance
    this.lastExitCode = status.code ?? undefined;
    this.lastExitSignal = status.signal ?? "";
    this.stoppedAt = new Date();
    // Whatever the plugin left in its process group goes with it.
    proc.signalGroup("SIGKILL");
    this.clearRuntime();
    void this.removeSocket();
    if (this.stopRequested || this.state !== PluginState.RUNNING) return; // stop() or launch() handles it
    // Down at once for the proxy and SD; what happens next is decided once its last output
    // has been read (it goes into lastError).
    this.setState(PluginState.CRASHED);
    void this.stopFollowers().then(() => this.afterCrash(status));
  }

  private afterCrash(status: ExitStatus): void {
    if (this.stopRequested || this.state !== PluginState.CRASHED) return;
    const reattachedExit = status.code === null && status.signal === null;
    const failed = reattachedExit || status.code !== 0;
    const how = reattachedExit ? "exit status unknown: it was started by an earlier daemon" : describeExit(this.lastExitCode, this.lastExitSignal);
    this.lastError = `exited unexpectedly (${how}). Last stderr: ${stderrTail(this.output)}`;
    this.log.warn("plugin exited", { exitCode: status.code, signal: status.signal, policy: this.spec.restartPolicy });
    const restart = this.spec.restartPolicy === "always" || (this.spec.restartPolicy === "on-failure" && failed);
    if (!restart) {
      if (failed) this.setState(PluginState.CRASHED);
      else {
        this.lastError = "exited on its own (exit 0); restart policy on-failure does not restart it";
        this.setState(PluginState.STOPPED);
      }
      return;
    }
    // A long enough run means the earlier failures are history.
    if (this.startedAt && Date.now() - this.startedAt.getTime() >= STABLE_RUN_MS) {
      this.consecutiveFailures = 0;
      this.crashTimes = [];
    }
    this.afterFailure();
  }

  /** A crash or a failed automatic start: back off and try again, or give up. */
  private afterFailure(): void {
    if (this.stopRequested) return;
    if (this.spec.restartPolicy === "never") {
      this.setState(PluginState.FAILED);
      return;
    }
    const now = Date.now();
    this.consecutiveFailures++;
    this.crashTimes = [...this.crashTimes.filter((t) => now - t < CRASH_LOOP_WINDOW_MS), now];
    if (this.consecutiveFailures > MAX_CONSECUTIVE_FAILURES) {
      this.lastError = `gave up after ${MAX_CONSECUTIVE_FAILURES} restarts without a stable run; "plugprom restart ${this.name}" tries again. Last: ${this.lastError}`;
      this.log.error("plugin keeps failing; giving up", { failures: MAX_CONSECUTIVE_FAILURES });
      this.setState(PluginState.FAILED);
      return;
    }
    const { initialMs, maxMs } = this.deps.backoff;
    const base = Math.min(maxMs, initialMs * 2 ** (this.consecutiveFailures - 1));
    // ±20 % jitter so that plugins that died together do not restart in lockstep.
    const wait = Math.round(base * (0.8 + Math.random() * 0.4));
    this.nextRestartAt = new Date(now + wait);
    const looping = this.crashTimes.length >= CRASH_LOOP_COUNT;
    if (looping && this.state !== PluginState.CRASHLOOP) this.log.error("plugin is crash-looping", { crashes: this.crashTimes.length, windowMs: CRASH_LOOP_WINDOW_MS });
    this.log.info("restarting plugin after backoff", { waitMs: wait, failures: this.consecutiveFailures });
    this.setState(looping ? PluginState.CRASHLOOP : PluginState.BACKOFF);
    this.restartTimer = setTimeout(() => void this.autoRestart(), wait);
  }

  private async autoRestart(): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopRequested) return;
    this.restarts++;
    this.deps.onRestart?.(this);
    try {
      await this.launch();
    } catch {
      this.afterFailure();
    }
  }

  private cancelRestart(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.nextRestartAt = undefined;
  }

  // ---- stopping ----------------------------------------------------------------------

  private async stopGracefully(graceMs: number): Promise<void> {
    this.stopRequested = true;
    this.cancelRestart();
    if (!this.proc?.alive()) {
      this.clearRuntime();
      await this.stopFollowers();
      this.finishStop();
      return;
    }
    this.setState(PluginState.STOPPING);
    if (this.client) {
      this.log.debug("stopping plugin: Shutdown");
      void this.client.shutdown(graceMs).catch(() => undefined);
      if (await this.waitExit(graceMs)) return this.stopped();
    }
    this.log.debug("stopping plugin: SIGTERM");
    this.proc.signalGroup("SIGTERM");
    if (await this.waitExit(graceMs)) return this.stopped();
    this.log.warn("plugin ignored Shutdown and SIGTERM; killing it", { graceMs });
    await this.killAndReap();
    await this.stopped();
  }

  private async stopped(): Promise<void> {
    await this.stopFollowers();
    this.finishStop();
  }

  private finishStop(): void {
    this.clearRuntime();
    if (this.state !== PluginState.STOPPED) this.setState(PluginState.STOPPED);
  }

  private async waitExit(ms: number): Promise<boolean> {
    const proc = this.proc;
    if (!proc?.alive()) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const result = await Promise.race([proc.exited.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return result;
  }

  private async killAndReap(): Promise<void> {
    if (this.proc?.alive()) {
      this.proc.signalGroup("SIGKILL");
      if (!(await this.waitExit(FINAL_KILL_WAIT_MS))) this.log.error("plugin did not exit after SIGKILL", { pid: this.proc.pid });
    }
    this.clearRuntime();
  }

  /** Everything that belongs to one running process: health timer, stdio stream, client. */
  private clearRuntime(): void {
    clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
    this.healthy = false;
    this.stdio?.cancel();
    this.stdio = undefined;
    this.client?.close();
    this.client = undefined;
  }

  private logPath(stream: OutputStream): string {
    return join(this.deps.logDir, `${this.spec.name}.${stream}.log`);
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
    const i = h.address.lastIndexOf(":");
    const socket = h.network === "unix" ? netConnect({ path: h.address }) : netConnect({ host: h.address.slice(0, i), port: Number(h.address.slice(i + 1)) });
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
