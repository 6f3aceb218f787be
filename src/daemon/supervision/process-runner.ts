// The real PluginRunner: spawns plugin processes (spawn-preparation.ts decides how), reads
// their handshake and connects (handshake-diagnosis.ts, health.ts), follows their output
// (output-capture.ts), and adopts processes an earlier daemon left running (reattach.ts).
import { unlink } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import type { Address } from "../../shared/address.js";
import { errorMessage } from "../../shared/errors.js";
import { exhausted, startFailed } from "../errors.js";
import { explainLostHandshake, filesystemFull } from "./disk-space.js";
import { GreeterService, GreetRequestSchema } from "../../shared/gen/greeter/v1/greeter_pb.js";
import type { Handshake } from "../../goplugin/handshake.js";
import { connectPlugin, type PluginClient } from "../../goplugin/host.js";
import type { ReattachInfo } from "../state/instances-file.js";
import { readProcStat } from "../proc.js";
import type { InstanceSpec } from "../spec.js";
import { exitedBeforeHandshake, noHandshakeInTime, notServingInTime, readHandshake, withDeadline } from "./handshake-diagnosis.js";
import { checkServing, HEALTH_CALL_TIMEOUT_MS, probeConnect, waitServing } from "./health.js";
import { OutputCapture } from "./output-capture.js";
import { stderrTail, type OutputStream } from "./plugin-output.js";
import type { CgroupVersion, InstanceCgroup } from "./cgroups.js";
import { pluginMarks } from "./plugin-env.js";
import { attachPlugin, spawnPlugin, type ExitStatus, type PluginProcess } from "./plugin-process.js";
import type { HealthResult, PluginRun, PluginRunner, RunContext } from "./plugin-runner.js";
import { hostTls, reattachInfo, savedProcess, type LiveProcess } from "./reattach.js";
import { metricsSocketPath, outputPath, prepareSpawn, type SpawnEnvironment } from "./spawn-preparation.js";

/** How long a process that could not be adopted is given to die of SIGKILL before a new copy starts. */
const ADOPT_KILL_WAIT_MS = 5_000;

export class ProcessRunner implements PluginRunner {
  constructor(private readonly where: SpawnEnvironment) {}

  async spawn(spec: InstanceSpec, ctx: RunContext): Promise<PluginRun> {
    if (await filesystemFull(this.where.logDir)) {
      throw exhausted(`no space left on the filesystem of ${this.where.logDir} (ENOSPC): the plugin's output, its handshake included, could not be written`);
    }
    const prepared = await prepareSpawn(spec, this.where);
    const files = this.files(spec);
    const cgroups = this.where.cgroups;
    let cgroup = ctx.limits && cgroups ? await cgroups.create(spec.name, ctx.limits) : undefined;
    const onSpawned = (pid: number) => {
      try {
        cgroup?.join(pid);
      } catch (err) {
        cgroups?.warnOnce(`cannot move "${spec.name}" into its cgroup (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); its memory limit is sampled only`);
        void cgroup?.remove();
        cgroup = undefined;
      }
    };
    let proc: PluginProcess;
    try {
      proc = await spawnPlugin(prepared.command, prepared.args, { cwd: prepared.cwd, env: prepared.env, stdoutPath: files.stdout, stderrPath: files.stderr, onSpawned });
    } catch (err) {
      await cgroup?.remove();
      throw startFailed(`cannot run ${prepared.command}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, err);
    }
    return new ProcessRun(spec, ctx, proc, this.where, {
      cgroup,
      startedAt: new Date(),
      args: prepared.args,
      metricsEndpoint: prepared.metricsEndpoint,
      cert: prepared.cert,
      files,
    });
  }

  async attach(spec: InstanceSpec, saved: ReattachInfo, ctx: RunContext): Promise<PluginRun> {
    const proc = attachPlugin(saved.pid, saved.startTicks, undefined, pluginMarks(this.where.stateDir, spec.name));
    if (!proc.alive()) {
      proc.detach();
      throw new Error(`process ${saved.pid} is gone`);
    }
    const cgroup = this.where.cgroups?.adopt(spec.name, saved.pid);
    const run = new ProcessRun(spec, ctx, proc, this.where, { ...savedProcess(saved, this.files(spec)), cgroup });
    try {
      await run.adopted();
    } catch (err) {
      run.disconnect();
      // The supervisor starts a new copy instead: this one would run next to it, tracked by
      // nobody (and past the orphan sweep, which spared it as adoptable).
      ctx.log.warn("stopping a plugin process that could not be adopted", { pid: saved.pid, error: errorMessage(err) });
      proc.signalGroup("SIGKILL");
      await Promise.race([proc.exited, delay(ADOPT_KILL_WAIT_MS)]);
      proc.detach();
      throw err;
    }
    return run;
  }

  async removeFiles(spec: InstanceSpec): Promise<void> {
    const files = Object.values(this.files(spec)).flatMap((f) => [f, `${f}.1`]);
    await Promise.all([...files, metricsSocketPath(this.where.socketDir, spec.name)].map((f) => unlink(f).catch(() => undefined)));
  }

  private files(spec: InstanceSpec): Record<OutputStream, string> {
    return { stdout: outputPath(this.where.logDir, spec.name, "stdout"), stderr: outputPath(this.where.logDir, spec.name, "stderr") };
  }
}

type RunFacts = Omit<LiveProcess, "pid" | "startTicks" | "handshake"> & { handshake?: Handshake; cgroup?: InstanceCgroup };

class ProcessRun implements PluginRun {
  readonly startedAt: Date;
  readonly args: readonly string[];
  readonly metricsEndpoint: Address | undefined;
  private hs: Handshake | undefined;
  private client: PluginClient | undefined;
  private readonly capture: OutputCapture;
  private oomKills = 0;

  constructor(
    private readonly spec: InstanceSpec,
    private readonly ctx: RunContext,
    private readonly proc: PluginProcess,
    private readonly where: SpawnEnvironment,
    private readonly facts: RunFacts,
  ) {
    this.startedAt = facts.startedAt;
    this.args = facts.args;
    this.metricsEndpoint = facts.metricsEndpoint;
    this.hs = facts.handshake;
    this.capture = new OutputCapture(facts.files, ctx.output, ctx.log, (stream, bytes) => where.onOutputSkipped?.(spec.name, stream, bytes));
  }

  get pid(): number {
    return this.proc.pid;
  }

  get startTicks(): string {
    return this.proc.startTicks;
  }

  get handshake(): Handshake | undefined {
    return this.hs;
  }

  get exited(): Promise<ExitStatus> {
    return this.proc.exited;
  }

  alive(): boolean {
    return this.proc.alive();
  }

  get memoryCgroup(): CgroupVersion | undefined {
    return this.facts.cgroup?.limitsMemory ? this.facts.cgroup.version : undefined;
  }

  oomKilled(): boolean {
    return this.oomKills > 0;
  }

  async ready({ signal, onHandshake }: { signal: AbortSignal; onHandshake(): void }): Promise<void> {
    const { spec } = this;
    const tail = () => stderrTail(this.ctx.output);
    const { handshake: handshakeLine } = await this.capture.follow(false);
    const deadline = Date.now() + spec.startTimeoutMs;
    const exitedEarly = this.proc.exited.then(async (status) => {
      await this.capture.drain(); // everything it wrote before dying is in the ring now
      throw exitedBeforeHandshake(status, tail(), spec);
    });
    // Raced below; once the plugin runs, a later exit is the supervisor's to handle.
    exitedEarly.catch(() => undefined);
    const line = await withDeadline(Promise.race([handshakeLine, exitedEarly]), deadline, () => noHandshakeInTime(tail(), spec)).catch(
      async (err: unknown) => {
        throw await explainLostHandshake(err, this.where.logDir, this.facts.files.stdout);
      },
    );
    const h = readHandshake(line, spec.protocolVersions, tail);
    this.hs = h;
    onHandshake();
    await withDeadline(Promise.race([this.connect(h, deadline, signal), exitedEarly]), deadline, () => notServingInTime(h, spec));
    if (this.client) {
      this.capture.consumeStdio(this.client);
      if (spec.greetAfterStart) {
        this.client.unary(GreeterService.method.greet, create(GreetRequestSchema, { name: "plugprom" }), HEALTH_CALL_TIMEOUT_MS).catch((err: unknown) => this.ctx.log.debug("greeting failed", { error: errorMessage(err) }));
      }
    }
  }

  /** An adopted process: follow what it writes from now on, and connect again. */
  async adopted(): Promise<void> {
    await this.capture.follow(true);
    const h = this.hs!;
    if (h.protocol === "grpc") {
      this.client = connectPlugin(h, hostTls(this.facts.cert, h.serverCert));
      this.capture.consumeStdio(this.client);
    }
  }

  async checkHealth(timeoutMs: number): Promise<HealthResult> {
    if (!this.hs) return { ok: false, error: "no handshake yet" };
    // A stopped process cannot answer, yet the kernel still accepts connections on its
    // listening socket: without this, a SIGSTOPped net/rpc plugin would pass its connect check.
    const state = (await readProcStat(this.proc.pid))?.state;
    if (state === "T" || state === "t") return { ok: false, error: `the process is stopped (state ${state} in /proc/${this.proc.pid}/stat: SIGSTOP or a debugger)` };
    return checkServing(this.hs, this.client, timeoutMs);
  }

  requestShutdown(graceMs: number): boolean {
    if (!this.client) return false;
    void this.client.shutdown(graceMs).catch(() => undefined);
    return true;
  }

  signalGroup(signal: NodeJS.Signals): void {
    this.proc.signalGroup(signal);
  }

  reattachInfo(): ReattachInfo | undefined {
    if (!this.hs) return undefined;
    return reattachInfo({ ...this.facts, pid: this.proc.pid, startTicks: this.proc.startTicks, handshake: this.hs });
  }

  disconnect(): void {
    this.capture.cancelStdio();
    this.client?.close();
    this.client = undefined;
  }

  drainOutput(): Promise<void> {
    return this.capture.drain();
  }

  afterExit(): void {
    // Whatever the plugin left in its process group goes with it.
    this.proc.signalGroup("SIGKILL");
    const cgroup = this.facts.cgroup;
    if (cgroup) {
      this.oomKills = cgroup.oomKills();
      void cgroup.remove();
    }
    if (this.metricsEndpoint?.kind === "unix") void unlink(this.metricsEndpoint.path).catch(() => undefined);
  }

  detach(): void {
    this.proc.detach();
  }

  /** gRPC: connect (pinned mTLS) and wait for SERVING; net/rpc: a connect to its address. */
  private async connect(h: Handshake, deadline: number, signal: AbortSignal): Promise<void> {
    if (h.protocol !== "grpc") {
      // net/rpc plugins: we do not speak their RPC; liveness is the process plus a connect.
      await probeConnect(h);
      return;
    }
    if (this.facts.cert && !h.serverCert) {
      this.ctx.log.warn("plugin ignored PLUGIN_CLIENT_CERT (no server certificate in its handshake); using plaintext gRPC");
    }
    this.client = connectPlugin(h, hostTls(this.facts.cert, h.serverCert));
    await waitServing(this.client, deadline, signal);
  }
}
