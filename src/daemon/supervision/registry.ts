// The set of plugin instances the daemon knows, by name: the control API's only way to
// reach a supervisor, and the HTTP side's directory of instances.
import type { StartRequest } from "../../shared/gen/plugprom/v1/control_pb.js";
import { PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import { conflict, exists, invalid, notFound } from "../errors.js";
import { checkInstanceName } from "../../shared/names.js";
import type { Catalog } from "./catalog.js";
import type { InstanceDirectory } from "../instance.js";
import type { Logger } from "../log.js";
import type { PersistedInstance } from "../state/instances-file.js";
import { Supervisor, type SupervisorDeps } from "./supervisor.js";
import type { InstanceSpec } from "../spec.js";
import { resolveSpec } from "./spec-resolution.js";
import { processesWithEnvEntry, readProcStatSync } from "../proc.js";

export interface RegistryDeps {
  log: Logger;
  catalog: Catalog;
  supervisor: Omit<SupervisorDeps, "onStateChange" | "onStarted" | "onRestart" | "log">;
  defaults: { stopGraceMs: number; startTimeoutMs: number };
  /** Counts starts, stops and restarts in the daemon's metrics. */
  events: { pluginStarted(name: string): void; pluginStopped(name: string): void; pluginRestarted(name: string): void };
  /** Called after every change with the instances to persist (instances.json). */
  persist?: (snapshot: () => PersistedInstance[]) => void;
  /**
   * Resolves when what persist was given is on disk. Start, stop, kill and restart answer
   * only after it: a daemon killed right after `plugprom stop x` must not bring x back.
   */
  flushPersisted?: () => Promise<void>;
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
    return this.launchNew(this.resolve(req));
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
    const sup = this.newSupervisor(spec);
    sup.origin = origin;
    this.instances.set(spec.name, sup);
    this.changed();
    const started = sup.start();
    // apply waits for a start in flight before it looks at the instance.
    this.starting.set(spec.name, started);
    try {
      await started;
    } catch (err) {
      // A start that failed leaves nothing behind: the process is reaped and the name is free.
      if (this.instances.get(spec.name) === sup) this.instances.delete(spec.name);
      await sup.removeFiles();
      this.changed();
      await this.durable();
      throw err;
    } finally {
      if (this.starting.get(spec.name) === started) this.starting.delete(spec.name);
    }
    await this.durable();
    return sup;
  }

  /**
   * Runs `work` on `name` after every other operation on it (apply): where `stop`, `kill` and
   * `restart` refuse a busy name, this waits its turn, and also for a `start` in flight.
   */
  async serialized<T>(name: string, what: string, work: () => Promise<T>): Promise<T> {
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
      await this.durable();
      throw err;
    }
    await this.durable();
    return sup;
  }

  /** Records that a plugins file now declares `name` (apply of an unchanged instance). */
  async adopt(name: string, origin: string | undefined): Promise<void> {
    const sup = this.instances.get(name);
    if (!sup || sup.origin === origin) return;
    sup.origin = origin;
    this.changed();
    await this.durable();
  }

  /**
   * Brings back the instances a previous daemon had: reattached when their process still
   * runs, started again otherwise. Failures follow each instance's restart policy.
   */
  async restore(saved: readonly PersistedInstance[]): Promise<void> {
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

  /**
   * Kills plugin processes a previous daemon started and nobody owns: a daemon killed between
   * spawning a plugin and saving its reattach data leaves that process running while this
   * daemon starts the instance again. Every plugin has PLUGIN_UNIX_SOCKET_DIR=<our socket
   * dir> in its environment; one started before this daemon, outside the process group of
   * every instance it now runs, is such a stray. Call it once restore() has reattached.
   * Returns the process groups killed.
   */
  reapStrays(socketDir: string): number[] {
    const self = readProcStatSync(process.pid);
    if (!self) return [];
    const owned = new Set(this.list().flatMap((s) => (s.pid ? [readProcStatSync(s.pid)?.pgrp] : [])));
    const groups = new Set<number>();
    for (const pid of processesWithEnvEntry(`PLUGIN_UNIX_SOCKET_DIR=${socketDir}`)) {
      const st = readProcStatSync(pid);
      if (!st || st.state === "Z" || owned.has(st.pgrp) || Number(st.startTicks) >= Number(self.startTicks)) continue;
      groups.add(st.pgrp);
    }
    for (const group of groups) {
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    return [...groups];
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
        onStateChange: () => this.changed(),
        onStarted: (s) => this.deps.events.pluginStarted(s.name),
        onRestart: (s) => this.deps.events.pluginRestarted(s.name),
      },
      restarts,
    );
  }

  /**
   * Stops an instance gracefully and forgets it; resolves with it, stopped. `locked`: the
   * caller already holds the name (inside serialized()).
   */
  async stop(name: string, graceMs?: number, opts = { locked: false }): Promise<Supervisor> {
    const sup = this.require(name);
    const work = async () => {
      await sup.stop(graceMs ?? this.deps.defaults.stopGraceMs);
      this.forget(sup);
      await this.durable();
      return sup;
    };
    return opts.locked ? work() : this.exclusive(name, "stopping", work);
  }

  async kill(name: string): Promise<Supervisor> {
    const sup = this.require(name);
    return this.exclusive(name, "being killed", async () => {
      await sup.kill();
      this.forget(sup);
      await this.durable();
      return sup;
    });
  }

  async restart(name: string, graceMs?: number): Promise<Supervisor> {
    const sup = this.require(name);
    return this.exclusive(name, "restarting", async () => {
      await sup.restart(graceMs ?? this.deps.defaults.stopGraceMs);
      await this.durable();
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
          if (opts.forget) this.forget(sup);
        }),
      ),
    );
  }

  private forget(sup: Supervisor): void {
    if (this.instances.get(sup.name) === sup) this.instances.delete(sup.name);
    void sup.removeFiles();
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

  private async durable(): Promise<void> {
    await this.deps.flushPersisted?.();
  }

  private changed(): void {
    this.deps.persist?.(() => this.list().map((s) => s.persisted()));
    for (const fn of this.listeners) fn();
  }
}
