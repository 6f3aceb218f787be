// The set of plugin instances the daemon knows, by name: the control API's only way to
// reach a supervisor, and the HTTP side's directory of instances.
import { isAbsolute } from "node:path";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { PluginInfo, StartRequest } from "../../shared/gen/plugprom/v1/control_pb.js";
import { MetricsTransport, PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import { alreadyExists, describeSystemError, errorMessage, failedPrecondition, internal, invalidArgument, notFound, resourceExhausted, RESOURCE_ERRNOS } from "../../shared/errors.js";
import { checkArgs, checkEnv, checkInstanceName, checkLabels } from "../../shared/names.js";
import { bundledGreeterScript } from "../../shared/paths.js";
import { DEFAULT_MAGIC_COOKIE_KEY, DEFAULT_MAGIC_COOKIE_VALUE, DEFAULT_PROTOCOL_VERSIONS } from "../../goplugin/handshake.js";
import type { Catalog } from "./catalog.js";
import type { InstanceDirectory } from "../instance.js";
import type { Logger } from "../log.js";
import type { PersistedInstance } from "../state/instances-file.js";
import { isSameProcess } from "../proc.js";
import { stopOrphans } from "./orphans.js";
import { Supervisor, type SupervisorDeps } from "./supervisor.js";
import { RESTART_POLICIES, type InstanceSpec, type RestartPolicy } from "../spec.js";
import { placeholdersIn } from "./template.js";

/** Prometheus drops a target whose timeout exceeds its interval; refuse it up front. */
export function checkScrapeSettings(intervalMs: number | undefined, timeoutMs: number | undefined): string | undefined {
  for (const [what, ms] of [["scrape interval", intervalMs], ["scrape timeout", timeoutMs]] as const) {
    if (ms !== undefined && !(ms >= 1 && ms <= 24 * 3_600_000)) return `${what} must be between 1ms and 24h`;
  }
  if (intervalMs !== undefined && timeoutMs !== undefined && timeoutMs > intervalMs) {
    return "scrape timeout must not exceed the scrape interval (Prometheus would drop the target)";
  }
  return undefined;
}

/** The bundled example plugin, run with this very Node.js so no PATH lookup is involved. */
const BUNDLED_GREETER = bundledGreeterScript;

export interface RegistryDeps {
  log: Logger;
  catalog: Catalog;
  supervisor: Omit<SupervisorDeps, "onStateChange" | "onStarted" | "onRestart" | "log" | "durable">;
  defaults: { stopGraceMs: number; startTimeoutMs: number };
  /** Counts starts, stops and restarts in the daemon's metrics. */
  events: {
    pluginStarted(name: string): void;
    pluginStopped(name: string): void;
    pluginRestarted(name: string): void;
    /** Output bytes the daemon did not read (see LogFollower). */
    outputSkipped?(name: string, stream: "stdout" | "stderr", bytes: number): void;
  };
  /** Called after every change with the instances to persist (instances.json). */
  persist?: (snapshot: () => PersistedInstance[]) => void;
  /**
   * Resolves when what persist was given is on disk, rejects when it could not be written.
   * Start, stop, kill and restart answer only after it: a daemon killed right after
   * `plugprom stop x` must not bring x back, and one that could not save says so.
   */
  flushPersisted?: () => Promise<void>;
}

export class Registry implements InstanceDirectory {
  private readonly instances = new Map<string, Supervisor>();
  private readonly listeners = new Set<() => void>();
  /** Names with a stop, kill or restart in flight: a second one is refused, not interleaved. */
  private readonly busy = new Map<string, string>();

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

  async start(req: StartRequest): Promise<PluginInfo> {
    const spec = this.resolveSpec(req);
    if (this.instances.has(spec.name)) {
      const existing = this.instances.get(spec.name)!;
      throw alreadyExists(
        `plugin "${spec.name}" already exists (${PluginState[existing.state]}); stop it first, or use "plugprom restart ${spec.name}"`,
      );
    }
    const sup = this.newSupervisor(spec);
    this.instances.set(spec.name, sup);
    this.changed();
    try {
      await sup.start();
      await this.durable(`plugin "${spec.name}" was not started`);
    } catch (err) {
      // A start that failed leaves nothing behind: the process is reaped and the name is free.
      await sup.kill();
      if (this.instances.get(spec.name) === sup) this.instances.delete(spec.name);
      await sup.removeFiles();
      this.changed();
      await this.deps.flushPersisted?.().catch(() => undefined); // already logged
      throw err;
    }
    return sup.info();
  }

  /**
   * Brings back the instances a previous daemon had: reattached when their process still
   * runs, started again otherwise. Failures follow each instance's restart policy.
   */
  async restore(saved: readonly PersistedInstance[]): Promise<void> {
    // Only a process with its handshake saved can be adopted. Anything else of this state dir
    // (a start the previous daemon's death cut off, a copy nobody tracks) is stopped first:
    // it may hold the metrics socket, and it must never run next to a new copy.
    const adoptable = new Set(saved.flatMap((p) => (p.reattach && isSameProcess(p.reattach.pid, p.reattach.startTicks) ? [p.reattach.pid] : [])));
    const orphans = await stopOrphans(this.deps.supervisor.stateDir, adoptable, this.deps.log);
    if (orphans.length > 0) this.deps.log.warn("stopped plugin processes no instance owned", { count: orphans.length });
    await Promise.all(
      saved.map(async (p) => {
        if (this.instances.has(p.spec.name)) return;
        const sup = this.newSupervisor(p.spec);
        sup.restarts = p.restarts;
        this.instances.set(p.spec.name, sup);
        await sup.restore(p.reattach);
      }),
    );
    this.changed();
  }

  /** The daemon exits and leaves every plugin running, for a later reattach. */
  async detachAll(): Promise<void> {
    await Promise.all(this.list().map((s) => s.detach()));
  }

  private newSupervisor(spec: InstanceSpec): Supervisor {
    return new Supervisor(spec, {
      ...this.deps.supervisor,
      log: this.deps.log,
      onStateChange: () => this.changed(),
      onStarted: (s) => this.deps.events.pluginStarted(s.name),
      onRestart: (s) => this.deps.events.pluginRestarted(s.name),
      onOutputSkipped: (s, stream, bytes) => this.deps.events.outputSkipped?.(s.name, stream, bytes),
      durable: () => this.durable(`plugin "${spec.name}" was stopped`),
    });
  }

  async stop(name: string, graceMs?: number): Promise<PluginInfo> {
    const sup = this.require(name);
    return this.exclusive(name, "stopping", async () => {
      await sup.stop(graceMs ?? this.deps.defaults.stopGraceMs);
      const info = this.forget(sup);
      await this.durable(`plugin "${name}" was stopped, but a daemon started on this state dir would start it again`);
      void sup.removeFiles();
      return info;
    });
  }

  async kill(name: string): Promise<PluginInfo> {
    const sup = this.require(name);
    return this.exclusive(name, "being killed", async () => {
      await sup.kill();
      const info = this.forget(sup);
      await this.durable(`plugin "${name}" was killed, but a daemon started on this state dir would start it again`);
      void sup.removeFiles();
      return info;
    });
  }

  async restart(name: string, graceMs?: number): Promise<PluginInfo> {
    const sup = this.require(name);
    return this.exclusive(name, "restarting", async () => {
      if (sup.state === PluginState.STARTING) throw failedPrecondition(`plugin "${name}" is still starting`);
      await sup.stop(graceMs ?? this.deps.defaults.stopGraceMs);
      sup.restarts++;
      this.deps.events.pluginRestarted(name);
      await sup.start();
      try {
        await this.durable(`plugin "${name}" was stopped and not started again`);
      } catch (err) {
        // Its new process is not in the file: it must not outlive a daemon crash untracked.
        await sup.kill();
        sup.lastError = errorMessage(err);
        sup.markFailed();
        throw err;
      }
      return sup.info();
    });
  }

  require(name: string): Supervisor {
    const problem = checkInstanceName(name);
    if (problem) throw invalidArgument(problem);
    const sup = this.instances.get(name);
    if (!sup) throw notFound(`plugin "${name}" not found`);
    return sup;
  }

  /**
   * Stops every instance in parallel (daemon shutdown). With forget: false they stay known
   * (and in instances.json), so that the next daemon starts them again.
   */
  async stopAll(graceMs: number, opts: { forget: boolean } = { forget: true }): Promise<void> {
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

  /** Drops a stopped instance. Its files go only once that is saved (the file still names it until then). */
  private forget(sup: Supervisor): PluginInfo {
    if (this.instances.get(sup.name) === sup) this.instances.delete(sup.name);
    this.deps.events.pluginStopped(sup.name);
    this.changed();
    return sup.info();
  }

  private async exclusive<T>(name: string, what: string, work: () => Promise<T>): Promise<T> {
    const current = this.busy.get(name);
    if (current) throw failedPrecondition(`plugin "${name}" is ${current}; try again when it is done`);
    this.busy.set(name, what);
    try {
      return await work();
    } finally {
      this.busy.delete(name);
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
      const cause = describeSystemError(err);
      const message = `${outcome}: cannot save instances.json: ${cause}`;
      const code = (err as NodeJS.ErrnoException).code;
      throw code && RESOURCE_ERRNOS.has(code) ? resourceExhausted(message) : internal(message);
    }
  }

  private changed(): void {
    this.deps.persist?.(() => this.list().map((s) => s.persisted()));
    for (const fn of this.listeners) fn();
  }

  /** Turns a Start request into a complete spec: catalog entry, bundled greeter or command. */
  resolveSpec(req: StartRequest): InstanceSpec {
    const problem =
      checkInstanceName(req.name) ??
      checkLabels(req.labels) ??
      checkEnv(req.env) ??
      checkArgs(req.command) ??
      (req.labels.plugin !== undefined ? 'label "plugin" is set by plugprom to the instance name; choose another label name' : undefined) ??
      (req.workingDir !== "" && !isAbsolute(req.workingDir) ? "working_dir must be an absolute path" : undefined) ??
      (req.protocolVersions.some((v) => v === 0) ? "protocol versions must be positive" : undefined) ??
      (req.magicCookieKey !== "" && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(req.magicCookieKey)
        ? `magic cookie key ${JSON.stringify(req.magicCookieKey)} is not an environment variable name`
        : undefined);
    if (problem) throw invalidArgument(problem);

    let base: Omit<InstanceSpec, "name" | "startTimeoutMs">;
    const fromCatalog = req.plugin !== "" && !req.plugin.includes("/");
    if (fromCatalog) {
      const entry = this.deps.catalog.get(req.plugin);
      if (!entry) {
        const known = [...this.deps.catalog.keys()];
        throw notFound(
          `no plugin "${req.plugin}" in the catalog${known.length ? ` (known: ${known.join(", ")})` : " (the daemon was started without --config)"}`,
        );
      }
      base = {
        source: entry.name,
        command: entry.command,
        args: [...entry.args, ...req.command],
        env: { ...entry.env, ...req.env },
        labels: { ...entry.labels, ...req.labels },
        magicCookieKey: entry.magicCookieKey ?? DEFAULT_MAGIC_COOKIE_KEY,
        magicCookieValue: entry.magicCookieValue ?? DEFAULT_MAGIC_COOKIE_VALUE,
        protocolVersions: entry.protocolVersions ?? [...DEFAULT_PROTOCOL_VERSIONS],
        metricsTransport: entry.metricsTransport ?? "unix",
        workingDir: entry.workingDir,
        autoMtls: entry.autoMtls ?? true,
        greetAfterStart: false,
        sha256: entry.sha256 ?? "",
        scrapeIntervalMs: entry.scrapeIntervalMs,
        scrapeTimeoutMs: entry.scrapeTimeoutMs,
        restartPolicy: entry.restartPolicy ?? "on-failure",
        inheritEnv: entry.inheritEnv,
      };
    } else if (req.plugin !== "") {
      if (!isAbsolute(req.plugin)) throw invalidArgument(`plugin path ${JSON.stringify(req.plugin)} must be absolute`);
      base = this.commandSpec(req.plugin, req.plugin, req.command, req);
    } else if (req.command.length > 0) {
      base = this.commandSpec(req.command[0], req.command[0], req.command.slice(1), req);
    } else {
      base = { ...this.commandSpec("", process.execPath, [BUNDLED_GREETER], req), greetAfterStart: true };
    }

    if (req.magicCookieKey !== "") {
      base.magicCookieKey = req.magicCookieKey;
      base.magicCookieValue = req.magicCookieValue;
    }
    if (req.protocolVersions.length > 0) base.protocolVersions = [...req.protocolVersions];
    if (req.autoMtls !== undefined) base.autoMtls = req.autoMtls;
    // A catalog entry runs where its file says (relative paths in it are resolved there);
    // anything else runs in the directory the user started it from.
    if (req.workingDir !== "" && !fromCatalog) base.workingDir = req.workingDir;
    if (req.sha256 !== "") {
      if (!/^[0-9a-f]{64}$/.test(req.sha256)) throw invalidArgument("sha256 must be 64 lower-case hex characters");
      base.sha256 = req.sha256;
    }

    let used;
    try {
      used = placeholdersIn(base.args);
    } catch (err) {
      throw invalidArgument((err as Error).message);
    }
    if (req.metricsTransport === MetricsTransport.TCP) base.metricsTransport = "tcp";
    else if (req.metricsTransport === MetricsTransport.UNIX) base.metricsTransport = "unix";
    else if (used.has("metrics_port")) base.metricsTransport = "tcp"; // a plugin that takes a port gets one

    if (req.inheritEnv) base.inheritEnv = true;
    if (req.noMetrics) base.noMetrics = true;
    if (req.restartPolicy !== "") {
      if (!RESTART_POLICIES.includes(req.restartPolicy as RestartPolicy)) {
        throw invalidArgument(`restart policy ${JSON.stringify(req.restartPolicy)}: expected always, on-failure or never`);
      }
      base.restartPolicy = req.restartPolicy as RestartPolicy;
    }
    if (req.scrapeInterval) base.scrapeIntervalMs = durationMs(req.scrapeInterval);
    if (req.scrapeTimeout) base.scrapeTimeoutMs = durationMs(req.scrapeTimeout);
    const scrapeProblem = checkScrapeSettings(base.scrapeIntervalMs, base.scrapeTimeoutMs);
    if (scrapeProblem) throw invalidArgument(scrapeProblem);

    const startTimeoutMs = req.startTimeout ? durationMs(req.startTimeout) : this.deps.defaults.startTimeoutMs;
    if (!(startTimeoutMs > 0 && startTimeoutMs <= 10 * 60_000)) throw invalidArgument("start timeout must be between 0 and 10m");
    return { ...base, name: req.name, startTimeoutMs };
  }

  private commandSpec(source: string, command: string, args: string[], req: StartRequest): Omit<InstanceSpec, "name" | "startTimeoutMs"> {
    if (command === "") throw invalidArgument("empty plugin command");
    return {
      source,
      command,
      args,
      env: { ...req.env },
      labels: { ...req.labels },
      magicCookieKey: DEFAULT_MAGIC_COOKIE_KEY,
      magicCookieValue: DEFAULT_MAGIC_COOKIE_VALUE,
      protocolVersions: [...DEFAULT_PROTOCOL_VERSIONS],
      metricsTransport: "unix",
      workingDir: process.cwd(),
      autoMtls: true,
      greetAfterStart: false,
      sha256: "",
      restartPolicy: "on-failure",
    };
  }
}
