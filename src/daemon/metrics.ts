// The daemon's own metrics (/metrics): process and Node.js defaults plus what it knows
// about plugins and the proxy. Per-plugin series are labelled only with names of known
// instances, never with request data, so a scanner cannot grow the series count.
import { Counter, Gauge } from "prom-client";
import { collectCleanDefaultMetrics } from "../shared/default-metrics.js";
import { EventLoopDelay } from "./event-loop.js";
import { ProxyStats, type LastScrape } from "./proxy-stats.js";
import { TextRegistry } from "./text-registry.js";
import { PluginState } from "../shared/gen/plugprom/v1/control_pb.js";
import type { InstanceDirectory } from "./instance.js";
import { bootTimeSeconds, cpuSeconds, mapInSlices, openFds, readProcStatSync, residentBytes, startTimeSeconds, type ProcStat } from "./proc.js";

/** The families of one /metrics render share one /proc sample started within this. */
const SAMPLE_REUSE_MS = 250;

const STATE_NAMES = Object.keys(PluginState).filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED");

export type { LastScrape };

export class DaemonMetrics {
  readonly registry = new TextRegistry();
  private readonly starts: Counter<"plugin">;
  private readonly stops: Counter<"plugin">;
  private readonly restarts: Counter<"plugin">;
  private readonly livenessRestarts: Counter<"plugin">;
  private readonly memoryRestarts: Counter<"plugin">;
  private readonly truncated: Counter<"plugin">;
  private readonly federateDropped: Counter<"plugin">;
  private readonly outputDropped: Counter<"plugin" | "stream">;
  private readonly upstreamErrors: Counter<"plugin" | "reason">;
  private readonly proxy = new ProxyStats();
  private readonly sdRequests: Counter;
  private readonly sdRefreshInterval: Gauge;

  constructor(directory: InstanceDirectory) {
    const registers = [this.registry];
    collectCleanDefaultMetrics(this.registry);
    new EventLoopDelay().register(this.registry);
    this.starts = new Counter({ name: "plugprom_plugin_starts_total", help: "Plugin instance starts (including restarts).", labelNames: ["plugin"], registers });
    this.stops = new Counter({ name: "plugprom_plugin_stops_total", help: "Plugin instances stopped or killed on request.", labelNames: ["plugin"], registers });
    this.restarts = new Counter({
      name: "plugprom_plugin_restarts_total",
      help: "Plugin instance restarts, automatic (restart policy) or asked for.",
      labelNames: ["plugin"],
      registers,
    });
    this.livenessRestarts = new Counter({
      name: "plugprom_plugin_liveness_restarts_total",
      help: "Plugin processes replaced (SIGKILL, then the restart policy) after failing --liveness-failures health checks in a row.",
      labelNames: ["plugin"],
      registers,
    });
    this.memoryRestarts = new Counter({
      name: "plugprom_plugin_memory_restarts_total",
      help: "Plugin instance restarts for resident memory above its memory limit (--max-memory) on two samples in a row.",
      labelNames: ["plugin"],
      registers,
    });
    new Gauge({
      name: "plugprom_plugin_memory_limit_bytes",
      help: "The plugin instance's effective memory limit (--max-memory); absent without one.",
      labelNames: ["plugin"],
      registers,
      collect() {
        this.reset();
        for (const i of directory.list()) if (i.limits.memoryBytes > 0) this.set({ plugin: i.name }, i.limits.memoryBytes);
      },
    });
    new Gauge({
      name: "plugprom_plugin_up",
      help: "1 when the plugin instance is RUNNING, else 0.",
      labelNames: ["plugin"],
      registers,
      collect() {
        this.reset();
        for (const i of directory.list()) this.set({ plugin: i.name }, i.state === PluginState.RUNNING ? 1 : 0);
      },
    });
    new Gauge({
      name: "plugprom_plugin_healthy",
      help: "1 when the plugin's last health check passed (gRPC Health \"plugin\", or a connect for net/rpc), else 0.",
      labelNames: ["plugin"],
      registers,
      collect() {
        this.reset();
        for (const i of directory.list()) this.set({ plugin: i.name }, i.state === PluginState.RUNNING && i.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: "plugprom_plugin_state",
      help: "1 for the plugin instance's current state (only that state's series is present).",
      labelNames: ["plugin", "state"],
      registers,
      collect() {
        this.reset();
        for (const i of directory.list()) this.set({ plugin: i.name, state: PluginState[i.state] }, 1);
      },
    });
    this.registerProcessMetrics(directory);
    new Gauge({
      name: "plugprom_plugins",
      help: "Plugin instances by state.",
      labelNames: ["state"],
      registers,
      collect() {
        const counts = new Map(STATE_NAMES.map((s) => [s, 0]));
        for (const i of directory.list()) {
          const s = PluginState[i.state];
          counts.set(s, (counts.get(s) ?? 0) + 1);
        }
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    this.sdRequests = new Counter({ name: "plugprom_sd_requests_total", help: "HTTP service discovery requests served.", registers });
    this.sdRefreshInterval = new Gauge({
      name: "plugprom_sd_refresh_interval_seconds",
      help: "The last X-Prometheus-Refresh-Interval-Seconds a service discovery client sent.",
      registers,
    });
    this.truncated = new Counter({
      name: "plugprom_proxy_truncated_total",
      help: "Scrapes cut because the plugin sent more than --max-scrape-bytes.",
      labelNames: ["plugin"],
      registers,
    });
    this.federateDropped = new Counter({
      name: "plugprom_federate_dropped_families_total",
      help: "A plugin's metric families left out of /federate because an earlier plugin's family of that name has another type.",
      labelNames: ["plugin"],
      registers,
    });
    this.outputDropped = new Counter({
      name: "plugprom_plugin_output_dropped_bytes_total",
      help: "Bytes of a plugin's stdout/stderr the daemon did not read: written faster than it follows output, or rotated away first.",
      labelNames: ["plugin", "stream"],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: "plugprom_proxy_upstream_errors_total",
      help: "Scrapes of a plugin's metrics endpoint that failed (proxy or /federate), by reason: timeout, or the error code (ECONNREFUSED, EMFILE, ...).",
      labelNames: ["plugin", "reason"],
      registers,
    });
    this.proxy.register(this.registry);
  }

  /**
   * plugprom_plugin_process_*{plugin}: every plugin's process, instrumented or not, read from
   * /proc at scrape time (like client libraries' process_* collectors, but from outside).
   */
  private registerProcessMetrics(directory: InstanceDirectory): void {
    const registers = [this.registry];
    const bootTime = bootTimeSeconds();
    // One /proc pass per scrape of /metrics, shared by the six families below (each used to
    // take its own), read in slices: with hundreds of plugins, one synchronous pass stalled
    // every scrape in flight for tens of ms.
    type Row = { plugin: string; stat: ProcStat; fds: number | undefined };
    let last: { at: number; rows: Promise<Row[]> } | undefined;
    const sample = (): Promise<Row[]> => {
      const now = performance.now();
      if (last && now - last.at < SAMPLE_REUSE_MS) return last.rows;
      const rows = mapInSlices(directory.list(), (i): Row | undefined => {
        const stat = i.pid ? readProcStatSync(i.pid) : undefined;
        return stat && { plugin: i.name, stat, fds: openFds(i.pid!) };
      }).then((all) => all.filter((r): r is Row => r !== undefined));
      last = { at: now, rows };
      return rows;
    };
    const gauge = (name: string, help: string, value: (s: ProcStat, fds: number | undefined) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ["plugin"],
        registers,
        async collect() {
          const rows = await sample();
          this.reset();
          for (const { plugin, stat, fds } of rows) {
            const v = value(stat, fds);
            if (v !== undefined) this.set({ plugin }, v);
          }
        },
      });
    new Counter({
      name: "plugprom_plugin_process_cpu_seconds_total",
      help: "User and system CPU time of the plugin's process, in seconds.",
      labelNames: ["plugin"],
      registers,
      async collect() {
        const rows = await sample();
        this.reset();
        for (const { plugin, stat } of rows) this.inc({ plugin }, cpuSeconds(stat));
      },
    });
    gauge("plugprom_plugin_process_resident_memory_bytes", "Resident memory of the plugin's process.", residentBytes);
    gauge("plugprom_plugin_process_virtual_memory_bytes", "Virtual memory of the plugin's process.", (s) => s.vsizeBytes);
    gauge("plugprom_plugin_process_open_fds", "Open file descriptors of the plugin's process.", (_s, fds) => fds);
    gauge("plugprom_plugin_process_threads", "Threads of the plugin's process.", (s) => s.threads);
    gauge("plugprom_plugin_process_start_time_seconds", "Start time of the plugin's process, seconds since the epoch.", (s) => startTimeSeconds(s, bootTime));
  }

  /** Records a service discovery request and Prometheus' refresh interval, when it sent one. */
  sdRequest(refreshIntervalSeconds: number | undefined): void {
    this.sdRequests.inc();
    if (refreshIntervalSeconds !== undefined) this.sdRefreshInterval.set(refreshIntervalSeconds);
  }

  pluginStarted(name: string): void {
    this.starts.inc({ plugin: name });
    // Present at 0 from the start, so that increase() and rate() see the first event too.
    for (const c of [this.restarts, this.livenessRestarts, this.memoryRestarts, this.truncated, this.federateDropped]) c.inc({ plugin: name }, 0);
  }

  pluginStopped(name: string): void {
    this.stops.inc({ plugin: name });
  }

  /** A scrape was cut at --max-scrape-bytes. */
  federateFamiliesDropped(name: string, families: number): void {
    this.federateDropped.inc({ plugin: name }, families);
  }

  scrapeTruncated(name: string): void {
    this.truncated.inc({ plugin: name });
  }

  upstreamFailed(name: string, reason: string): void {
    this.upstreamErrors.inc({ plugin: name, reason });
  }

  outputSkipped(name: string, stream: string, bytes: number): void {
    this.outputDropped.inc({ plugin: name, stream }, bytes);
  }

  /** Restarted for its memory (the restart itself is counted by pluginRestarted). */
  pluginMemoryRestarted(name: string): void {
    this.memoryRestarts.inc({ plugin: name });
  }

  pluginRestarted(name: string): void {
    this.restarts.inc({ plugin: name });
  }

  pluginLivenessRestarted(name: string): void {
    this.livenessRestarts.inc({ plugin: name });
  }

  /**
   * `plugin` must be a known instance's name (the caller checked it against the directory),
   * or "" for a request naming no instance.
   */
  proxyRequest(plugin: string, code: number, seconds: number, bytes = 0): void {
    this.proxy.record(plugin, code, seconds, bytes);
  }

  /** The plugin's last scrape through the proxy (status page, `plugprom top`). */
  lastScrape(plugin: string): LastScrape | undefined {
    return this.proxy.lastScrape(plugin);
  }
}
