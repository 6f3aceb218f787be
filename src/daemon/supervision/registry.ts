// The set of plugin instances the daemon knows, by name: the control API's only way to
// reach a supervisor, and the HTTP side's directory of instances.
import type { StartRequest } from "../../shared/gen/plugprom/v1/control_pb.js";
import { PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import { errorMessage } from "../../shared/errors.js";
import { conflict, exhausted, exists, invalid, notFound, systemFailure } from "../errors.js";
import { checkInstanceName } from "../../shared/names.js";
import type { Catalog } from "./catalog.js";
import type { InstanceDirectory } from "../instance.js";
import type { Logger } from "../log.js";
import type { PersistedInstance } from "../state/instances-file.js";
import { isSameProcess } from "../proc.js";
import { Supervisor, type SupervisorDeps } from "./supervisor.js";
import type { InstanceSpec } from "../spec.js";
import { resolveSpec } from "./spec-resolution.js";

export interface RegistryDeps {
  log: Logger;
  catalog: Catalog;
  supervisor: Omit<SupervisorDeps, "onStateChange" | "onStarted" | "onRestart" | "onLivenessRestart" | "onMemoryRestart" | "log" | "durable" | "stopGraceMs">;
  defaults: { stopGraceMs: number; startTimeoutMs: number };
  /** Counts starts, stops and restarts in the daemon's metrics. */
  events: {
    pluginStarted(name: string): void;
    pluginStopped(name: string): void;
    pluginRestarted(name: string): void;
    /** Replaced for failing its health checks (the restart that follows is counted too). */
    pluginLivenessRestarted(name: string): void;
    /** Replaced for resident memory over its limit (the restart that follows is counted too). */
    pluginMemoryRestarted(name: string): void;
  };
  /** Called after every change with the instances to persist (instances.json). */
  persist?: (snapshot: () => PersistedInstance[]) => void;
  /**
   * Resolves when what persist was given is on disk, rejects when it could not be written.
   * Start, stop, kill and restart answer only after it: a daemon killed right after
   * `plugprom stop x` must not bring x back, and one that could not save says so.
   */
  flushPersisted?: () => Promise<void>;
  /**
   * Stops every plugin process of this state dir that none of `adoptable` (leader pids about
   * to be reattached) accounts for; see orphans.ts. Called by restore before anything starts.
   */
  stopOrphans?: (adoptable: ReadonlySet<number>) => Promise<void>;
  /** Why one more instance must not start now (the daemon would run out of descriptors), if so. */
  admitStart?: (instances: number) => string | undefined;
}

export class Registry implements InstanceDirectory {
  private readonly instances = new Map<string, Supervisor>();
  private readonly listeners = new Set<() => void>();
  /**
   * Names with a stop, kill, restart or apply in flight: a second stop, kill or restart is
   * refused, not interleaved; an apply waits for `done`.
   */
  private readonly busy = new Map<string, { what: string; done: Promise<void> }>();
  /** Starts in flight, by name. */
  private readonly starting = new Map<string, Promise<void>>();
  /** The daemon is shutting down: nothing new is started (an apply in flight must not outlive it). */
  private closing = false;
  /** Set while lifecycle requests must wait (see holdRequests). */
  private held: Promise<void> | undefined;

  constructor(private readonly deps: RegistryDeps) {}

  get(name: string): Supervisor | undefined {
    return this.instances.get(name);
  }

  list(): Supervisor[] {
    return [...this.instances.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Called on every state change of any instance (SD document, file SD, metrics). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Starts a new instance; resolves with it once RUNNING. */
  async start(req: StartRequest): Promise<Supervisor> {
    const spec = this.resolve(req);
    await this.released();
    // A stop or kill of this name may have forgotten it already, but not yet removed its files
    // (after saving): they are this name's files, and would be the new instance's. (apply's
    // launchNew runs inside serialized(), which waited already.)
    for (let busy = this.busy.get(spec.name); busy; busy = this.busy.get(spec.name)) await busy.done;
    return this.launchNew(spec);
  }

  /** The spec a Start request asks for, with the daemon's catalog and defaults. */
  resolve(req: StartRequest): InstanceSpec {
    return resolveSpec(req, { catalog: this.deps.catalog, startTimeoutMs: this.deps.defaults.startTimeoutMs });
  }

  /**
   * Creates and starts an instance from a complete spec (`start`, and `apply` for a name the
   * daemon does not have). A start that fails leaves nothing behind.
   */
  async launchNew(spec: InstanceSpec, origin?: string): Promise<Supervisor> {
    if (this.closing) throw conflict("the daemon is shutting down");
    if (this.instances.has(spec.name)) {
      const existing = this.instances.get(spec.name)!;
      throw exists(
        `plugin "${spec.name}" already exists (${PluginState[existing.state]}); stop it first, or use "plugprom restart ${spec.name}"`,
      );
    }
    const refusal = this.deps.admitStart?.(this.instances.size);
    if (refusal) throw exhausted(`plugin "${spec.name}" was not started: ${refusal}`);
    const sup = this.newSupervisor(spec);
    sup.origin = origin;
    this.instances.set(spec.name, sup);
    this.changed();
    const started = sup.start();
    // apply waits for a start in flight before it looks at the instance.
    this.starting.set(spec.name, started);
    try {
      await started;
      await this.durable(`plugin "${spec.name}" was not started`);
    } catch (err) {
      // A start that failed leaves nothing behind: the process is reaped and the name is free
      // (only once its files are gone: a start of the name from then on makes its own).
      await sup.kill();
      await sup.removeFiles();
      if (this.instances.get(spec.name) === sup) this.instances.delete(spec.name);
      this.changed();
      await this.deps.flushPersisted?.().catch(() => undefined); // a failure is logged already
      throw err;
    } finally {
      if (this.starting.get(spec.name) === started) this.starting.delete(spec.name);
    }
    return sup;
  }

  /**
   * Runs `work` on `name` after every other operation on it (apply): where `stop`, `kill` and
   * `restart` refuse a busy name, this waits its turn, and also for a `start` in flight.
   */
  async serialized<T>(name: string, what: string, work: () => Promise<T>): Promise<T> {
    await this.released();
    return this.exclusive(
      name,
      what,
      async () => {
        await this.starting.get(name)?.catch(() => undefined);
        return work();
      },
      { wait: true },
    );
  }

  /**
   * Restarts an instance with a new spec (apply of a changed instance; call it inside
   * serialized()). Like `plugprom restart` and pm2's reload it keeps the restart count and
   * adds one; the name stays taken throughout, so no `start` can slip in. A new spec that
   * fails to start leaves nothing behind, as a failed `start` does.
   */
  async replace(spec: InstanceSpec, origin: string | undefined): Promise<Supervisor> {
    const old = this.require(spec.name);
    if (this.closing) throw conflict("the daemon is shutting down");
    await old.stop(this.deps.defaults.stopGraceMs);
    if (this.closing) throw conflict("the daemon is shutting down");
    const sup = this.newSupervisor(spec, old.restarts + 1);
    sup.origin = origin;
    this.instances.set(spec.name, sup);
    this.deps.events.pluginRestarted(spec.name);
    this.changed();
    try {
      await sup.start();
    } catch (err) {
      this.forget(sup);
      await this.deps.flushPersisted?.().catch(() => undefined); // a failure is logged already
      throw err;
    }
    await this.durable(`plugin "${spec.name}" was not updated`);
    return sup;
  }

  /** Records that a plugins file now declares `name` (apply of an unchanged instance). */
  async adopt(name: string, origin: string | undefined): Promise<void> {
    const sup = this.instances.get(name);
    if (!sup || sup.origin === origin) return;
    sup.origin = origin;
    this.changed();
    await this.durable(`plugin "${name}" was not recorded as declared by ${origin ?? "no file"}`);
  }

  /**
   * Brings back the instances a previous daemon had: reattached when their process still
   * runs, started again otherwise. Failures follow each instance's restart policy.
   */
  async restore(saved: readonly PersistedInstance[]): Promise<void> {
    const done = this.restoreNow(saved);
    this.holdRequests(done);
    return done;
  }

  /**
   * Resolves once no hold is left. A loop, not one await: a request that waited out one hold
   * (the daemon's, until restore is called) must also wait out the one restore adds meanwhile.
   */
  private async released(): Promise<void> {
    while (this.held) await this.held;
  }

  /**
   * Lifecycle requests (start, stop, kill, restart, apply) wait until `until` settles. Until the
   * saved instances are back, the registry does not know what runs: a start meanwhile would
   * run a second copy of a saved instance (whose process restore then leaves to nobody), or
   * have its new process taken for an orphan and killed by the sweep; a stop would answer
   * "not found" for an instance about to come back. restore() holds them itself; the daemon
   * also holds them from before it listens until restore is called.
   */
  holdRequests(until: Promise<unknown>): void {
    const held: Promise<void> = Promise.all([this.held, until]).then(
      () => undefined,
      () => undefined,
    );
    this.held = held;
    void held.then(() => {
      if (this.held === held) this.held = undefined;
    });
  }

  private async restoreNow(saved: readonly PersistedInstance[]): Promise<void> {
    // Only a process with its handshake saved can be adopted. Anything else of this state dir
    // (a start the previous daemon's death cut off, a copy nobody tracks) is stopped first:
    // it may hold the metrics socket, and it must never run next to a new copy.
    const adoptable = new Set(saved.flatMap((p) => (p.reattach && isSameProcess(p.reattach.pid, p.reattach.startTicks) ? [p.reattach.pid] : [])));
    await this.deps.stopOrphans?.(adoptable);
    await Promise.all(
      saved.map(async (p) => {
        if (this.instances.has(p.spec.name)) return;
        const sup = this.newSupervisor(p.spec, p.restarts);
        sup.origin = p.origin;
        this.instances.set(p.spec.name, sup);
        await sup.restore(p.reattach);
      }),
    );
    this.changed();
  }

  /** The daemon exits and leaves every plugin running, for a later reattach. */
  async detachAll(): Promise<void> {
    this.closing = true;
    await Promise.all(this.list().map((s) => s.detach()));
  }

  private newSupervisor(spec: InstanceSpec, restarts = 0): Supervisor {
    return new Supervisor(
      spec,
      {
        ...this.deps.supervisor,
        log: this.deps.log,
        stopGraceMs: this.deps.defaults.stopGraceMs,
        onStateChange: () => this.changed(),
        onStarted: (s) => this.deps.events.pluginStarted(s.name),
        onRestart: (s) => this.deps.events.pluginRestarted(s.name),
        onLivenessRestart: (s) => this.deps.events.pluginLivenessRestarted(s.name),
        onMemoryRestart: (s) => this.deps.events.pluginMemoryRestarted(s.name),
        durable: () => this.durable(`plugin "${spec.name}" was stopped`),
      },
      restarts,
    );
  }

  /**
   * Stops an instance gracefully and forgets it; resolves with it, stopped. `locked`: the
   * caller already holds the name (inside serialized()).
   */
  async stop(name: string, graceMs?: number, opts = { locked: false }): Promise<Supervisor> {
    if (!opts.locked) await this.released();
    const sup = this.require(name);
    const work = async () => {
      await sup.stop(graceMs ?? this.deps.defaults.stopGraceMs);
      this.forget(sup);
      await this.durable(`plugin "${name}" was stopped, but a daemon started on this state dir would start it again`);
      await sup.removeFiles(); // before a start of the name may begin (start waits for this)
      return sup;
    };
    return opts.locked ? work() : this.exclusive(name, "stopping", work);
  }

  async kill(name: string): Promise<Supervisor> {
    await this.released();
    const sup = this.require(name);
    return this.exclusive(name, "being killed", async () => {
      await sup.kill();
      this.forget(sup);
      await this.durable(`plugin "${name}" was killed, but a daemon started on this state dir would start it again`);
      await sup.removeFiles(); // before a start of the name may begin (start waits for this)
      return sup;
    });
  }

  async restart(name: string, graceMs?: number): Promise<Supervisor> {
    await this.released();
    const sup = this.require(name);
    return this.exclusive(name, "restarting", async () => {
      await sup.restart(graceMs ?? this.deps.defaults.stopGraceMs);
      try {
        await this.durable(`plugin "${name}" was stopped and not started again`);
      } catch (err) {
        // Its new process is not in the file: it must not outlive a daemon crash untracked.
        await sup.kill();
        sup.markFailed(errorMessage(err));
        throw err;
      }
      return sup;
    });
  }

  require(name: string): Supervisor {
    const problem = checkInstanceName(name);
    if (problem) throw invalid(problem);
    const sup = this.instances.get(name);
    if (!sup) throw notFound(`plugin "${name}" not found`);
    return sup;
  }

  /**
   * Stops every instance in parallel (daemon shutdown). With forget: false they stay known
   * (and in instances.json), so that the next daemon starts them again.
   */
  async stopAll(graceMs: number, opts: { forget: boolean } = { forget: true }): Promise<void> {
    this.closing = true;
    await Promise.allSettled(
      this.list().map((sup) =>
        sup.stop(graceMs).then(() => {
          if (opts.forget) {
            this.forget(sup);
            void sup.removeFiles();
          }
        }),
      ),
    );
  }

  /** Drops a stopped instance. Its files go once that is saved: the file names it until then. */
  private forget(sup: Supervisor): void {
    if (this.instances.get(sup.name) === sup) this.instances.delete(sup.name);
    this.deps.events.pluginStopped(sup.name);
    this.changed();
  }

  private async exclusive<T>(name: string, what: string, work: () => Promise<T>, opts = { wait: false }): Promise<T> {
    for (let current = this.busy.get(name); current; current = this.busy.get(name)) {
      if (!opts.wait) throw conflict(`plugin "${name}" is ${current.what}; try again when it is done`);
      await current.done;
    }
    let release!: () => void;
    this.busy.set(name, { what, done: new Promise<void>((resolve) => (release = resolve)) });
    try {
      return await work();
    } finally {
      this.busy.delete(name);
      release();
    }
  }

  /**
   * Waits until the current state is saved. When it cannot be, fails with the cause in one
   * line, after `outcome` (what the operation left behind).
   */
  private async durable(outcome: string): Promise<void> {
    try {
      await this.deps.flushPersisted?.();
    } catch (err) {
      throw systemFailure(`${outcome}: cannot save instances.json`, err);
    }
  }

  private changed(): void {
    this.deps.persist?.(() => this.list().map((s) => s.persisted()));
    for (const fn of this.listeners) fn();
  }
}
