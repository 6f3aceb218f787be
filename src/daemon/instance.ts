// The read-only view of plugin instances that the HTTP side (discovery, proxy, status)
// needs from the registry. Prometheus → HTTP → registry → proxy: the HTTP side never
// touches a supervisor or a process, only this view.
import type { Address } from "../shared/address.js";
import { PluginState } from "../shared/gen/plugprom/v1/control_pb.js";
import type { ResourceLimits } from "./spec.js";

export interface InstanceView {
  readonly name: string;
  readonly state: PluginState;
  readonly labels: Readonly<Record<string, string>>;
  /** The private endpoint the daemon scrapes; undefined until the process is spawned. */
  readonly metricsEndpoint: Address | undefined;
  /** The last health check (gRPC Health "plugin", or a connect for net/rpc) succeeded. */
  readonly healthy: boolean;
  /**
   * Listed in service discovery: RUNNING, or down but meant to run (CRASHED, BACKOFF,
   * CRASHLOOP, restarting), so Prometheus records up == 0 rather than losing the series.
   * Never for instances that never came up, or that are stopped or being stopped.
   */
  readonly advertised: boolean;
  /** The plugin's process while one runs (for /proc-based process metrics). */
  readonly pid: number | undefined;
  readonly restarts: number;
  /** Started with --no-metrics: the proxy serves its process_* metrics from /proc. */
  readonly noMetrics: boolean;
  /** When its current (or last) process started. */
  readonly startedAt: Date | undefined;
  /** Per-target scrape settings for SD, in milliseconds; undefined = the job's. */
  readonly scrapeIntervalMs?: number;
  readonly scrapeTimeoutMs?: number;
  /** Its effective memory and pids limits (0 = none). */
  readonly limits: ResourceLimits;
}

export interface InstanceDirectory {
  /** Exact lookup by (already validated) instance name. */
  get(name: string): InstanceView | undefined;
  /** All known instances, sorted by name. */
  list(): InstanceView[];
  /**
   * Calls fn after any change to what list() returns; returns the unsubscribe function.
   * Optional: without it, readers derive what they need on every request.
   */
  onChange?(fn: () => void): () => void;
}

/**
 * The rule behind InstanceView.advertised: RUNNING, or down but meant to run; STARTING only
 * for an instance that ran before (restarting), never for one that has yet to come up.
 */
export function isAdvertised(state: PluginState, everRan: boolean): boolean {
  switch (state) {
    case PluginState.RUNNING:
    case PluginState.CRASHED:
    case PluginState.BACKOFF:
    case PluginState.CRASHLOOP:
      return true;
    case PluginState.STARTING:
      return everRan;
    default:
      return false;
  }
}
