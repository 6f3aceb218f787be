// The seam between one instance's state machine (supervisor.ts) and the processes it runs:
// spawning a fresh process or adopting one a previous daemon started are two ways of getting
// a PluginRun, as go-plugin's Runner has a command and a reattach implementation. The real
// runner is process-runner.ts; the supervisor's tests use a fake.
import type { Address } from "../../shared/address.js";
import type { Handshake } from "../../goplugin/handshake.js";
import type { Logger } from "../log.js";
import type { InstanceSpec, ResourceLimits } from "../spec.js";
import type { CgroupVersion } from "./cgroups.js";
import type { ReattachInfo } from "../state/instances-file.js";
import type { OutputRing } from "./plugin-output.js";
import type { ExitStatus } from "./plugin-process.js";

export type { ExitStatus };

/**
 * One health check's answer; a failed one says why (shown in lastError when it counts), and
 * whether the daemon's side failed (out of descriptors or memory), which is no verdict on the plugin.
 */
export type HealthResult = { ok: true } | { ok: false; error: string; daemonFault?: boolean };

/** Where a run sends the plugin's output: the instance's ring (for `logs`) and its logger. */
export interface RunContext {
  output: OutputRing;
  log: Logger;
  /** Its effective limits: a fresh process gets a cgroup with them where cgroups are writable. */
  limits?: ResourceLimits;
}

export interface PluginRunner {
  /**
   * Prepares (executable, checksum, endpoint, arguments, certificate, environment) and spawns
   * a fresh process; resolves once it exists. Rejects, with nothing left running, when it
   * cannot be spawned.
   */
  spawn(spec: InstanceSpec, ctx: RunContext): Promise<PluginRun>;
  /**
   * Adopts a live process a previous daemon started (same pid and start time), connected and
   * with its output followed; rejects when it is gone.
   */
  attach(spec: InstanceSpec, saved: ReattachInfo, ctx: RunContext): Promise<PluginRun>;
  /** Removes what the instance leaves on disk (output files, metrics socket) once forgotten. */
  removeFiles(spec: InstanceSpec): Promise<void>;
}

/** One process of an instance, from spawn (or adoption) to exit. */
export interface PluginRun {
  readonly pid: number;
  /** Its start time in clock ticks (from /proc): with the pid, the process's identity. */
  readonly startTicks: string;
  readonly startedAt: Date;
  /** The arguments it runs with, placeholders resolved. */
  readonly args: readonly string[];
  readonly metricsEndpoint: Address | undefined;
  /** Its go-plugin handshake, once read. */
  readonly handshake: Handshake | undefined;
  /** Resolves once, when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  alive(): boolean;
  /** The cgroup version whose kernel limit holds its memory; undefined: sampled only. */
  readonly memoryCgroup: CgroupVersion | undefined;
  /** After its exit: whether the kernel's OOM killer acted in its cgroup. */
  oomKilled(): boolean;
  /**
   * A fresh process: reads its handshake and waits until it serves (gRPC health, or a
   * connect for net/rpc), within the spec's start timeout. onHandshake is called as soon as
   * the handshake is known (from then on the process can be adopted). Rejects with the
   * diagnosis; `signal` aborts the wait (the instance is being stopped).
   */
  ready(o: { signal: AbortSignal; onHandshake(): void }): Promise<void>;
  /** One health check within timeoutMs; never a rejection. */
  checkHealth(timeoutMs: number): Promise<HealthResult>;
  /** Asks the plugin to exit over its controller (gRPC Shutdown); false when it has none. */
  requestShutdown(graceMs: number): boolean;
  /** Signals its whole process group. */
  signalGroup(signal: NodeJS.Signals): void;
  /** What a later daemon needs to adopt it; undefined before its handshake. */
  reattachInfo(): ReattachInfo | undefined;
  /** Closes the connection to the plugin (client, stdio stream); the process is untouched. */
  disconnect(): void;
  /** Stops following its output, after reading what is left. Idempotent. */
  drainOutput(): Promise<void>;
  /** After its exit: kills what it left in its process group and removes its socket. */
  afterExit(): void;
  /** Stops watching the process (the daemon leaves it running for a later one). */
  detach(): void;
}
