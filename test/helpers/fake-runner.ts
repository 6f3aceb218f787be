// A PluginRunner without processes: each spawn or attach makes a FakeRun the test drives
// (exit it, make its start fail, make it ignore signals), so that the supervisor's state
// machine is tested on its own.
import type { Handshake } from "../../src/goplugin/handshake.js";
import type { ExitStatus, HealthResult, PluginRun, PluginRunner, RunContext } from "../../src/daemon/supervision/plugin-runner.js";
import type { InstanceSpec } from "../../src/daemon/spec.js";
import type { ReattachInfo } from "../../src/daemon/state/instances-file.js";
import type { Clock } from "../../src/daemon/supervision/clock.js";

/** How the next spawned process behaves until its start completes. */
export type StartBehaviour =
  /** Handshakes and serves. */
  | "serve"
  /** Its start fails with this message (as a plugin that exits before its handshake). */
  | { fail: string }
  /** Never finishes starting: the test finishes it (or stops the instance). */
  | "hang";

const HANDSHAKE: Handshake = { coreVersion: 1, appVersion: 1, network: "unix", address: "/tmp/fake.sock", protocol: "grpc", mux: false };

export class FakeRun implements PluginRun {
  readonly startedAt: Date;
  readonly startTicks = "1";
  readonly args: readonly string[] = ["--fake"];
  readonly metricsEndpoint = { kind: "unix", path: "/tmp/fake.metrics.sock" } as const;
  handshake: Handshake | undefined;
  readonly exited: Promise<ExitStatus>;
  /** Signals sent to its process group, in order; "Shutdown" for the RPC. */
  readonly received: string[] = [];
  /** Signals it does not die of (a plugin that ignores SIGTERM and Shutdown). */
  readonly ignores = new Set<string>();
  /** What its next health checks answer. */
  healthy = true;
  /** Its health checks never answer (a stopped or deadlocked process). */
  hung = false;
  /** What its health checks answer instead, when set (a fault on the daemon's side, say). */
  checkAnswer: HealthResult | undefined;
  /** Timeouts its health checks were given. */
  readonly checkTimeouts: number[] = [];
  readySignal: AbortSignal | undefined;
  finishStart!: () => void;
  detached = false;
  afterExitCalls = 0;
  /** As the real run reports them: its kernel memory limit, and an OOM kill in its cgroup. */
  memoryCgroup: 1 | 2 | undefined = undefined;
  oomKills = 0;
  private resolveExit!: (s: ExitStatus) => void;
  private done = false;

  constructor(
    readonly pid: number,
    now: number,
    private readonly behaviour: StartBehaviour,
    attached?: Handshake,
  ) {
    this.startedAt = new Date(now);
    this.handshake = attached;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  alive(): boolean {
    return !this.done;
  }

  oomKilled(): boolean {
    return this.oomKills > 0;
  }

  /** The process exits on its own (or of a signal, when given). */
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.done) return;
    this.done = true;
    this.resolveExit({ code, signal });
  }

  async ready(o: { signal: AbortSignal; onHandshake(): void }): Promise<void> {
    this.readySignal = o.signal;
    this.handshake = HANDSHAKE;
    o.onHandshake();
    if (this.behaviour === "serve") return;
    if (this.behaviour === "hang") {
      await new Promise<void>((resolve, reject) => {
        this.finishStart = resolve;
        o.signal.addEventListener("abort", () => reject(new Error("stopped while starting")), { once: true });
      });
      return;
    }
    throw new Error(this.behaviour.fail);
  }

  checkHealth(timeoutMs: number): Promise<HealthResult> {
    this.checkTimeouts.push(timeoutMs);
    if (this.hung) return new Promise(() => undefined);
    if (this.checkAnswer) return Promise.resolve(this.checkAnswer);
    return Promise.resolve(this.healthy && !this.done ? { ok: true } : { ok: false, error: "fake: NOT_SERVING" });
  }

  requestShutdown(): boolean {
    this.received.push("Shutdown");
    if (!this.ignores.has("Shutdown")) queueMicrotask(() => this.exit(0));
    return true;
  }

  signalGroup(signal: NodeJS.Signals): void {
    this.received.push(signal);
    if (!this.ignores.has(signal)) this.exit(null, signal);
  }

  reattachInfo(): ReattachInfo | undefined {
    const h = this.handshake;
    if (!h) return undefined;
    return { pid: this.pid, startTicks: "1", startedAt: this.startedAt.toISOString(), appVersion: h.appVersion, network: h.network, address: h.address, protocol: h.protocol, metricsEndpoint: "", args: [...this.args], stdoutLog: "", stderrLog: "" };
  }

  disconnect(): void {}

  /** While set, drainOutput waits for it (its last output is still being read). */
  outputPending: Promise<void> | undefined;

  async drainOutput(): Promise<void> {
    await this.outputPending;
  }

  afterExit(): void {
    this.afterExitCalls++;
  }

  detach(): void {
    this.detached = true;
  }
}

export class FakeRunner implements PluginRunner {
  readonly runs: FakeRun[] = [];
  /** Behaviours of the next spawns, in order; "serve" once they run out. */
  readonly next: StartBehaviour[] = [];
  /** Pids attach() finds alive. */
  readonly alivePids = new Set<number>();
  removed = 0;
  /** Set, and spawn() fails before any process exists (bad executable, say). */
  spawnError: Error | undefined;
  private pid = 1000;

  constructor(private readonly clock: Clock) {}

  get last(): FakeRun {
    const run = this.runs.at(-1);
    if (!run) throw new Error("nothing was spawned");
    return run;
  }

  async spawn(_spec: InstanceSpec, ctx: RunContext): Promise<PluginRun> {
    if (this.spawnError) throw this.spawnError;
    const run = new FakeRun(++this.pid, this.clock.now(), this.next.shift() ?? "serve");
    ctx.output.push({ time: new Date(this.clock.now()), stream: "stderr", text: `fake plugin ${run.pid} started` });
    this.runs.push(run);
    return run;
  }

  async attach(_spec: InstanceSpec, saved: ReattachInfo): Promise<PluginRun> {
    if (!this.alivePids.has(saved.pid)) throw new Error(`process ${saved.pid} is gone`);
    const run = new FakeRun(saved.pid, Date.parse(saved.startedAt), "serve", {
      coreVersion: 1,
      appVersion: saved.appVersion,
      network: saved.network,
      address: saved.address,
      protocol: saved.protocol,
      mux: false,
    });
    this.runs.push(run);
    return run;
  }

  async removeFiles(): Promise<void> {
    this.removed++;
  }
}
