// One plugin instance's whole life, from spawn to reap, across crashes, restarts and daemon
// restarts: the only code that decides to signal a plugin. Its processes come from a
// PluginRunner (plugin-runner.ts), its restart rules from restart-policy.ts; what is left
// here is the state machine.
//
// States, each owning what must end with it (released in one place, `release`):
//   STOPPED, FAILED, CRASHED, STOPPING: nothing
//   STARTING: the abort signal of the start in flight (a stop aborts it)
//   RUNNING: the periodic health check, and the memory watch while a memory limit is set
//   BACKOFF, CRASHLOOP: the timer of the next automatic start
// STARTING → RUNNING → (STOPPING → STOPPED | CRASHED → BACKOFF/CRASHLOOP → STARTING … | FAILED).
// A RUNNING process the supervisor judges broken (too many failed health checks in a row, or
// its memory over the limit on two samples in a row) is ended by failRunning and then goes
// the way of a crash, with the judgement as its lastError.
import type { Address } from "../../shared/address.js";
import { errorMessage } from "../../shared/errors.js";
import { conflict, DaemonError, startFailed } from "../errors.js";
import { PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import type { Handshake } from "../../goplugin/handshake.js";
import type { PersistedInstance, ReattachInfo } from "../state/instances-file.js";
import { isAdvertised, type InstanceView } from "../instance.js";
import type { Logger } from "../log.js";
import type { InstanceSpec, ResourceLimits } from "../spec.js";
import { describeHardLimit } from "./cgroups.js";
import { groupResidentBytes, MemoryWatch, overLimitReason } from "./memory-watch.js";
import { systemClock, type Clock, type TimerHandle } from "./clock.js";
import { describeExit } from "./handshake-diagnosis.js";
import { HEALTH_CALL_TIMEOUT_MS, HealthMonitor } from "./health.js";
import { OutputRing, stderrTail } from "./plugin-output.js";
import type { ExitStatus, HealthResult, PluginRun, PluginRunner } from "./plugin-runner.js";
import { afterRun, CRASH_LOOP_WINDOW_MS, exitOutcome, MAX_CONSECUTIVE_FAILURES, nextAttempt, NO_FAILURES, type Backoff, type FailureHistory } from "./restart-policy.js";
import { effectiveLimits, effectiveSupervision, type SupervisionDefaults, type SupervisionSettings } from "./spec-resolution.js";

export interface SupervisorDeps {
  log: Logger;
  /** Spawns and adopts the instance's processes. */
  runner: PluginRunner;
  /** The daemon's defaults for what the spec leaves out (health interval, liveness failures). */
  supervision: SupervisionDefaults;
  /** The daemon's stop grace, for a graceful replacement (failRunning). */
  stopGraceMs: number;
  backoff: Backoff;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
  /** Uniform in [0, 1), for the backoff's jitter; defaults to Math.random. */
  random?: () => number;
  onStateChange?: (s: Supervisor) => void;
  /** Every time a process of this instance reaches RUNNING (first start or restart). */
  onStarted?: (s: Supervisor) => void;
  /** Every restart, automatic or asked for. */
  onRestart?: (s: Supervisor) => void;
  /** A RUNNING process was replaced for failing its health checks (before its restart). */
  onLivenessRestart?: (s: Supervisor) => void;
  /**
   * Resolves once what onStateChange reported is saved (instances.json), rejects with the
   * reason when it could not be: a process whose identity is not saved is not kept running.
   */
  durable?: () => Promise<void>;
  /** The daemon's --max-memory and --max-pids, for an instance that sets none. */
  limits?: ResourceLimits;
  /** Resident bytes of a process group (defaults to /proc); tests pass a fake. */
  groupResidentBytes?: (pgrp: number) => Promise<number | undefined>;
  /** Every restart for going over the memory limit. */
  onMemoryRestart?: (s: Supervisor) => void;
}

const NO_LIMITS: ResourceLimits = { memoryBytes: 0, pids: 0 };

/** "Health check not counted" is logged at most this often per instance. */
const NOT_COUNTED_LOG_EVERY_MS = 60_000;

/** A process that survives SIGKILL this long is reported, and not waited for any more. */
const FINAL_KILL_WAIT_MS = 5_000;

type Phase =
  | { readonly state: PluginState.STOPPED | PluginState.FAILED | PluginState.CRASHED | PluginState.STOPPING }
  | { readonly state: PluginState.STARTING; readonly abort: AbortController }
  | { readonly state: PluginState.RUNNING; readonly health: HealthMonitor; readonly memory: MemoryWatch | undefined }
  | { readonly state: PluginState.BACKOFF | PluginState.CRASHLOOP; readonly timer: TimerHandle; readonly at: Date };

/** Ends what a phase owns. Idempotent. */
function release(phase: Phase, clock: Clock): void {
  switch (phase.state) {
    case PluginState.STARTING:
      phase.abort.abort();
      break;
    case PluginState.RUNNING:
      phase.health.stop();
      phase.memory?.stop();
      break;
    case PluginState.BACKOFF:
    case PluginState.CRASHLOOP:
      clock.clearTimeout(phase.timer);
      break;
  }
}

export class Supervisor implements InstanceView {
  readonly output = new OutputRing();
  /** The plugins file that last declared this instance (absolute path); undefined when started by hand. */
  origin: string | undefined;

  private phase: Phase = { state: PluginState.STOPPED };
  /** The current process, or the last one (its handshake and endpoint stay on show). */
  private run: PluginRun | undefined;
  private restartCount: number;
  private isHealthy = false;
  private error = "";
  private exit: { code: number | undefined; signal: string } = { code: undefined, signal: "" };
  private started: Date | undefined;
  private stopped: Date | undefined;
  private endpoint: Address | undefined;
  private resolvedArgs: readonly string[] = [];
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  /** Was RUNNING at least once: its target stays advertised while it restarts. */
  private everRan = false;
  private failures: FailureHistory = NO_FAILURES;
  /** Resident memory of the process group at the last memory sample. */
  private lastGroupRss: number | undefined;
  /** Health checks failed in a row by the current process. */
  private failedChecks = 0;
  /** When the current process last answered a health check (or reached RUNNING), ms since the epoch. */
  private lastHealthyAt = 0;
  private livenessRestartCount = 0;
  private notCountedLoggedAt = -Infinity;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(
    readonly spec: InstanceSpec,
    private readonly deps: SupervisorDeps,
    /** Restarts so far, for an instance a previous daemon had. */
    restarts = 0,
  ) {
    this.log = deps.log.with({ plugin: spec.name });
    this.clock = deps.clock ?? systemClock;
    this.restartCount = restarts;
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

  get state(): PluginState {
    return this.phase.state;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /** The health interval and liveness rule this instance runs with (its spec, else the daemon's). */
  get supervision(): SupervisionSettings {
    return effectiveSupervision(this.spec, this.deps.supervision);
  }

  /** Health checks the current process failed in a row. */
  get failedHealthChecks(): number {
    return this.failedChecks;
  }

  /** Times a process of this instance was replaced for failing its health checks. */
  get livenessRestarts(): number {
    return this.livenessRestartCount;
  }

  get healthy(): boolean {
    return this.isHealthy;
  }

  get lastError(): string {
    return this.error;
  }

  get lastExitCode(): number | undefined {
    return this.exit.code;
  }

  get lastExitSignal(): string {
    return this.exit.signal;
  }

  get startedAt(): Date | undefined {
    return this.started;
  }

  get stoppedAt(): Date | undefined {
    return this.stopped;
  }

  /** When the next automatic start is due, while waiting for it. */
  get nextRestartAt(): Date | undefined {
    return this.phase.state === PluginState.BACKOFF || this.phase.state === PluginState.CRASHLOOP ? this.phase.at : undefined;
  }

  get metricsEndpoint(): Address | undefined {
    return this.endpoint;
  }

  /** The arguments of the current (or last) process, placeholders resolved; else the spec's. */
  get args(): readonly string[] {
    return this.resolvedArgs.length > 0 ? this.resolvedArgs : this.spec.args;
  }

  /** The current (or last) process's handshake; undefined while starting, before it is read. */
  get handshake(): Handshake | undefined {
    return this.run?.handshake;
  }

  get pid(): number | undefined {
    return this.run?.alive() ? this.run.pid : undefined;
  }

  /** Its effective memory and pids limits (its own, else the daemon's). */
  get limits(): ResourceLimits {
    return effectiveLimits(this.spec, this.deps.limits ?? NO_LIMITS);
  }

  /** How its memory limit is enforced: "sampled", "cgroup v1 + sampled"…; "" without one. */
  get memoryEnforcement(): string {
    if (this.limits.memoryBytes === 0) return "";
    // The current process's, or the last one's (how the limit held it when it died).
    const version = this.run?.memoryCgroup;
    return version ? `cgroup v${version} + sampled` : "sampled";
  }

  /** Resident memory of its process group at the last sample, while it runs with a memory limit. */
  get groupRssBytes(): number | undefined {
    return this.pid !== undefined ? this.lastGroupRss : undefined;
  }

  /**
   * Listed in service discovery: running, or down but meant to be running (crashed, waiting
   * to restart, restarting), so that Prometheus records up == 0 instead of losing the series.
   */
  get advertised(): boolean {
    return isAdvertised(this.state, this.everRan);
  }

  /**
   * Starts now, as the user asked (first start, `restart`): clears the crash history and
   * resolves once RUNNING. A failure is returned, not retried; the process group is reaped.
   */
  async start(): Promise<void> {
    this.stopRequested = false;
    this.stopping = undefined;
    this.failures = NO_FAILURES;
    this.error = "";
    try {
      await this.launch();
    } catch (err) {
      this.enter({ state: this.stopRequested ? PluginState.STOPPED : PluginState.FAILED });
      throw err;
    }
  }

  /** Stops gracefully and starts again with the same spec, counting a restart. */
  async restart(graceMs: number): Promise<void> {
    if (this.state === PluginState.STARTING) throw conflict(`plugin "${this.name}" is still starting`);
    await this.stop(graceMs);
    this.restartCount++;
    this.deps.onRestart?.(this);
    await this.start();
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
    if (this.run?.alive()) this.enter({ state: PluginState.STOPPING });
    await this.killAndReap();
    await this.run?.drainOutput();
    this.finishStop();
  }

  /** Given up on by the daemon: its new process could not be saved, and was killed. */
  markFailed(reason: string): void {
    this.error = reason;
    this.enter({ state: PluginState.FAILED });
  }

  /** The daemon is exiting and leaves this plugin running (--keep-plugins). */
  async detach(): Promise<void> {
    // The state stays what it was (the file SD keeps the target); its timers end here, and
    // nothing is restarted any more (a replacement in flight, an exit before the daemon's).
    this.stopRequested = true;
    release(this.phase, this.clock);
    this.clearRuntime();
    this.run?.detach();
    await this.run?.drainOutput();
  }

  /** Once forgotten (stop, kill, failed first start): its output files and socket go too. */
  removeFiles(): Promise<void> {
    return this.deps.runner.removeFiles(this.spec);
  }

  /** What the daemon writes to instances.json: the spec, and how to find the process again. */
  persisted(): PersistedInstance {
    const p: PersistedInstance = { spec: this.spec, restarts: this.restartCount };
    if (this.origin !== undefined) p.origin = this.origin;
    if (this.run?.alive()) p.process = { pid: this.run.pid, startTicks: this.run.startTicks };
    // From the handshake on, a daemon that dies can adopt the process rather than start a
    // second one; saved then (not only at RUNNING) so that the write overlaps the health check.
    const live = this.state === PluginState.RUNNING || this.state === PluginState.STARTING;
    const reattach = live && this.run?.alive() ? this.run.reattachInfo() : undefined;
    if (reattach) p.reattach = reattach;
    return p;
  }

  // ---- starting ----------------------------------------------------------------------

  /** One attempt: spawn, handshake, health. RUNNING on success; reaped and thrown on failure. */
  private async launch(): Promise<void> {
    // lastError is kept across automatic restarts (why the last process went is still worth
    // showing while its successor runs); the user's start or restart clears it.
    this.isHealthy = false;
    this.run = undefined;
    this.lastGroupRss = undefined;
    const abort = new AbortController();
    this.enter({ state: PluginState.STARTING, abort });
    let run: PluginRun | undefined;
    try {
      run = await this.deps.runner.spawn(this.spec, { output: this.output, log: this.log, limits: this.limits });
      this.adopt(run);
      if (abort.signal.aborted) throw new Error("stopped"); // a stop or kill came while it was spawned
      this.stopped = undefined;
      this.exit = { code: undefined, signal: "" };
      // Its identity (pid, start time) is saved before anything else happens: a daemon that
      // dies from here on finds the process again, or stops it, instead of starting a second.
      this.deps.onStateChange?.(this);
      const saved = this.deps.durable?.() ?? Promise.resolve();
      // A failed save ends the start at once, not at the start timeout.
      const saveFailed = saved.then(() => new Promise<never>(() => undefined));
      saveFailed.catch(() => undefined);
      // Once the handshake is known the process can be adopted: save it now.
      await Promise.race([run.ready({ signal: abort.signal, onHandshake: () => this.deps.onStateChange?.(this) }), saveFailed]);
      await saved;
    } catch (err) {
      // A stop or kill of this instance ended the start: that is the reason, not what the
      // process made of it (an exit by SIGKILL, or its output files gone).
      const failure = abort.signal.aborted
        ? startFailed(`plugin "${this.name}" was stopped while starting`, err)
        : err instanceof DaemonError
          ? err
          : startFailed(errorMessage(err), err);
      await this.killAndReap();
      await run?.drainOutput();
      this.error = failure.message;
      this.log.warn("plugin failed to start", { error: failure.message });
      throw failure;
    }
    this.isHealthy = true;
    this.becameRunning();
    const h = this.handshake;
    this.log.info("plugin running", { pid: this.pid, protocol: h?.protocol, version: h?.appVersion });
    this.deps.onStarted?.(this);
  }

  /** Adopts a live plugin a previous daemon started (same pid and start time). */
  private async attach(info: ReattachInfo): Promise<void> {
    const run = await this.deps.runner.attach(this.spec, info, { output: this.output, log: this.log });
    this.adopt(run);
    // The whole call timeout, not the interval's: this first call also sets up the new
    // connection (mutual TLS), which a loaded machine may take longer than a short interval for.
    const health = await run.checkHealth(HEALTH_CALL_TIMEOUT_MS);
    this.isHealthy = health.ok;
    this.log.info("reattached to running plugin", { pid: info.pid, healthy: this.isHealthy });
    this.becameRunning();
    // An adopted process lives by the same rule as one this daemon started: a failed first
    // check is the first of the n.
    if (!health.ok) this.healthChecked(health);
  }

  private adopt(run: PluginRun): void {
    this.run = run;
    this.started = run.startedAt;
    this.endpoint = run.metricsEndpoint;
    this.resolvedArgs = run.args;
    void run.exited.then((status) => this.onExit(run, status));
  }

  private becameRunning(): void {
    this.everRan = true;
    this.failedChecks = 0;
    this.lastHealthyAt = this.clock.now();
    const run = this.run!;
    const health = new HealthMonitor({
      check: (timeoutMs) => run.checkHealth(timeoutMs),
      intervalMs: this.supervision.healthIntervalMs,
      clock: this.clock,
      onResult: (result) => this.healthChecked(result),
      onNotCounted: (why) => this.notCounted(why),
    });
    const memory = this.memoryWatch(run);
    this.enter({ state: PluginState.RUNNING, health, memory });
    health.start();
    memory?.start();
  }

  /** Samples the process group while a memory limit is set; over it twice in a row, a graceful restart. */
  private memoryWatch(run: PluginRun): MemoryWatch | undefined {
    const limitBytes = this.limits.memoryBytes;
    if (limitBytes === 0) return undefined;
    const sample = this.deps.groupResidentBytes ?? groupResidentBytes;
    return new MemoryWatch({
      limitBytes,
      clock: this.clock,
      sample: async () => {
        const bytes = run.alive() ? await sample(run.pid) : undefined;
        if (bytes !== undefined && run === this.run) this.lastGroupRss = bytes;
        return bytes;
      },
      onOver: (bytes) => {
        this.deps.onMemoryRestart?.(this);
        this.failRunning(overLimitReason(bytes, limitBytes), "graceful");
      },
    });
  }

  /** A failed check that was the daemon's fault; logged at most once a minute per instance. */
  private notCounted(why: string): void {
    const now = this.clock.now();
    if (now - this.notCountedLoggedAt < NOT_COUNTED_LOG_EVERY_MS) return;
    this.notCountedLoggedAt = now;
    this.log.warn("health check failed on the daemon's side; not counted against the plugin", { error: why });
  }

  /**
   * The liveness rule: n failed checks in a row (n = livenessFailures, 0 = never) replace the
   * process; one good answer resets the count. A plugin merely slow under load keeps its
   * process as long as it answers one check within each n intervals.
   */
  private healthChecked(result: HealthResult): void {
    if (this.phase.state !== PluginState.RUNNING) return;
    if (result.ok) {
      this.failedChecks = 0;
      this.lastHealthyAt = this.clock.now();
    } else {
      this.failedChecks++;
      const { livenessFailures } = this.supervision;
      if (livenessFailures > 0 && this.failedChecks >= livenessFailures) {
        this.livenessRestartCount++;
        this.deps.onLivenessRestart?.(this);
        this.failRunning(`failed ${this.failedChecks} health check${this.failedChecks === 1 ? "" : "s"} in a row (last: ${result.error})`, "sigkill");
        return;
      }
    }
    if (result.ok === this.isHealthy) return;
    this.isHealthy = result.ok;
    if (result.ok) this.log.info("plugin healthy again");
    else this.log.warn("plugin failed its health check", { error: result.error, inARow: this.failedChecks });
    this.deps.onStateChange?.(this);
  }

  // ---- exits and restarts --------------------------------------------------------------

  private onExit(run: PluginRun, status: ExitStatus): void {
    if (run !== this.run) return; // an earlier process of this instance
    this.exit = { code: status.code ?? undefined, signal: status.signal ?? "" };
    this.stopped = new Date(this.clock.now());
    run.afterExit();
    this.clearRuntime();
    if (this.stopRequested || this.state !== PluginState.RUNNING) return; // stop() or launch() handles it
    // Down at once for the proxy and SD; what happens next is decided once its last output
    // has been read (it completes lastError). Until then lastError says what is known already,
    // so that nobody sees a CRASHED instance without a reason.
    this.error = this.crashReason(run, status);
    this.enter({ state: PluginState.CRASHED });
    void run.drainOutput().then(() => this.afterCrash(run, status));
  }

  /** Why the process went, with the stderr read so far. */
  private crashReason(run: PluginRun, status: ExitStatus): string {
    const reattachedExit = status.code === null && status.signal === null;
    const how = reattachedExit ? "exit status unknown: it was started by an earlier daemon" : describeExit(this.exit.code, this.exit.signal);
    if (run.oomKilled()) {
      const limit = this.limits.memoryBytes;
      return `killed by the kernel's OOM killer at its cgroup's memory limit${limit ? ` of ${describeHardLimit(limit)}` : ""} (${how}). Last stderr: ${stderrTail(this.output)}`;
    }
    return `exited unexpectedly (${how}). Last stderr: ${stderrTail(this.output)}`;
  }

  private afterCrash(run: PluginRun, status: ExitStatus): void {
    if (this.stopRequested || this.state !== PluginState.CRASHED) return;
    const reattachedExit = status.code === null && status.signal === null;
    const failed = reattachedExit || status.code !== 0;
    this.error = this.crashReason(run, status);
    this.log.warn("plugin exited", { exitCode: status.code, signal: status.signal, policy: this.spec.restartPolicy });
    this.applyPolicy(failed, this.clock.now() - run.startedAt.getTime());
  }

  /** A process that went down (a crash, or one failRunning ended) under its restart policy; runMs decides if its run was stable. */
  private applyPolicy(failed: boolean, runMs: number): void {
    const outcome = exitOutcome(this.spec.restartPolicy, failed);
    if (outcome === "crashed") return;
    if (outcome === "stopped") {
      this.error = "exited on its own (exit 0); restart policy on-failure does not restart it";
      this.enter({ state: PluginState.STOPPED });
      return;
    }
    this.failures = afterRun(this.failures, runMs);
    this.afterFailure();
  }

  /**
   * Replaces a RUNNING process judged broken: CRASHED at once (down for the proxy and SD),
   * the process ended ("sigkill": SIGKILL to its group now, since a stopped or hung process
   * ignores SIGTERM; "graceful": Shutdown, SIGTERM, SIGKILL a stop grace apart), and once it
   * has exited, the restart policy as after a crash, with `reason` first in lastError. A stop,
   * kill or restart meanwhile takes over: nothing is started behind its back.
   */
  private failRunning(reason: string, how: "sigkill" | "graceful"): void {
    const run = this.run;
    if (this.phase.state !== PluginState.RUNNING || !run) return;
    // Its run was useful until it last answered: a plugin that hangs right after every start
    // crash-loops and is given up on, as one that exits at once would be.
    const runMs = this.lastHealthyAt - run.startedAt.getTime();
    this.error = reason;
    this.log.warn("replacing plugin", { reason, how, pid: run.pid });
    this.isHealthy = false;
    this.enter({ state: PluginState.CRASHED });
    void this.endProcess(run, how).then(async () => {
      await run.drainOutput();
      if (this.stopRequested || this.run !== run || this.state !== PluginState.CRASHED) return;
      this.error = `${reason}; ended with ${how === "sigkill" ? "SIGKILL" : "a graceful stop"}. Last stderr: ${stderrTail(this.output)}`;
      this.applyPolicy(true, runMs);
    });
  }

  /** Ends a process for failRunning; resolves once it has exited, however long SIGKILL takes. */
  private async endProcess(run: PluginRun, how: "sigkill" | "graceful"): Promise<void> {
    if (how === "graceful") {
      const graceMs = this.deps.stopGraceMs;
      if (run.requestShutdown(graceMs) && (await this.waitExit(run, graceMs))) return;
      run.signalGroup("SIGTERM");
      if (await this.waitExit(run, graceMs)) return;
    }
    run.signalGroup("SIGKILL");
    if (await this.waitExit(run, FINAL_KILL_WAIT_MS)) return;
    // Uninterruptible sleep, say: no second copy is started while this one lives.
    this.log.error("plugin did not exit after SIGKILL; waiting for it before starting another", { pid: run.pid });
    await run.exited;
  }

  /** A crash or a failed automatic start: back off and try again, or give up. */
  private afterFailure(): void {
    if (this.stopRequested) return;
    const now = this.clock.now();
    const attempt = nextAttempt(this.failures, now, { policy: this.spec.restartPolicy, backoff: this.deps.backoff, random: this.deps.random ?? Math.random });
    if (attempt.kind === "never") {
      this.enter({ state: PluginState.FAILED });
      return;
    }
    this.failures = attempt.history;
    if (attempt.kind === "give-up") {
      this.error = `gave up after ${MAX_CONSECUTIVE_FAILURES} restarts without a stable run; "plugprom restart ${this.name}" tries again. Last: ${this.error}`;
      this.log.error("plugin keeps failing; giving up", { failures: MAX_CONSECUTIVE_FAILURES });
      this.enter({ state: PluginState.FAILED });
      return;
    }
    if (attempt.crashLoop) this.log.error("plugin is crash-looping", { crashes: attempt.history.recent.length, windowMs: CRASH_LOOP_WINDOW_MS });
    this.log.info("restarting plugin after backoff", { waitMs: attempt.waitMs, failures: attempt.history.consecutive });
    const timer = this.clock.setTimeout(() => void this.autoRestart(), attempt.waitMs);
    this.enter({ state: attempt.crashLoop ? PluginState.CRASHLOOP : PluginState.BACKOFF, timer, at: new Date(now + attempt.waitMs) });
  }

  private async autoRestart(): Promise<void> {
    if (this.stopRequested) return;
    this.restartCount++;
    this.deps.onRestart?.(this);
    try {
      await this.launch();
    } catch {
      this.afterFailure();
    }
  }

  // ---- stopping ----------------------------------------------------------------------

  private async stopGracefully(graceMs: number): Promise<void> {
    this.stopRequested = true;
    const run = this.run;
    if (!run?.alive()) {
      this.clearRuntime();
      await run?.drainOutput();
      this.finishStop();
      return;
    }
    this.enter({ state: PluginState.STOPPING });
    if (run.requestShutdown(graceMs)) {
      this.log.debug("stopping plugin: Shutdown");
      if (await this.waitExit(run, graceMs)) return this.afterStop(run);
    }
    this.log.debug("stopping plugin: SIGTERM");
    run.signalGroup("SIGTERM");
    if (await this.waitExit(run, graceMs)) return this.afterStop(run);
    this.log.warn("plugin ignored Shutdown and SIGTERM; killing it", { graceMs });
    await this.killAndReap();
    await this.afterStop(run);
  }

  private async afterStop(run: PluginRun): Promise<void> {
    await run.drainOutput();
    this.finishStop();
  }

  private finishStop(): void {
    this.clearRuntime();
    this.enter({ state: PluginState.STOPPED });
  }

  private async waitExit(run: PluginRun, ms: number): Promise<boolean> {
    if (!run.alive()) return true;
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = this.clock.setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([run.exited.then(() => true as const), timedOut]);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  private async killAndReap(): Promise<void> {
    const run = this.run;
    if (run?.alive()) {
      run.signalGroup("SIGKILL");
      if (!(await this.waitExit(run, FINAL_KILL_WAIT_MS))) this.log.error("plugin did not exit after SIGKILL", { pid: run.pid });
    }
    this.clearRuntime();
  }

  /** The process is gone or going: no health, no connection to it. */
  private clearRuntime(): void {
    this.isHealthy = false;
    this.run?.disconnect();
  }

  /** The one way the state changes: what the old phase owned ends here. */
  private enter(next: Phase): void {
    const previous = this.phase;
    release(previous, this.clock);
    this.phase = next;
    if (previous.state !== next.state) this.deps.onStateChange?.(this);
  }
}
