// What one instance is: the specification a supervisor runs, fixed for the instance's lifetime
// and saved in instances.json. A leaf module, so that the state files and the registry can
// name it without depending on the supervisor.

export type RestartPolicy = "always" | "on-failure" | "never";
export const RESTART_POLICIES: readonly RestartPolicy[] = ["always", "on-failure", "never"];

/** Everything needed to (re)start one instance; fixed for the instance's lifetime. */
export interface InstanceSpec {
  name: string;
  /** What the user started it from: a catalog entry, a path, or "" for the bundled greeter. */
  source: string;
  /** The executable: an absolute path, or a bare name looked up in the plugin's PATH. */
  command: string;
  /** Arguments, still with {{metrics_*}} placeholders. */
  args: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  magicCookieKey: string;
  magicCookieValue: string;
  protocolVersions: number[];
  metricsTransport: "unix" | "tcp";
  workingDir: string;
  startTimeoutMs: number;
  autoMtls: boolean;
  /** Greet the plugin once it runs (the bundled greeter counts it in plugin_greet_count). */
  greetAfterStart: boolean;
  /** Lower-case hex SHA-256 the executable must have; "" for no check. */
  sha256: string;
  /** Per-target scrape settings advertised in SD (ms); undefined = the job's. */
  scrapeIntervalMs?: number;
  scrapeTimeoutMs?: number;
  restartPolicy: RestartPolicy;
  /** Pass the daemon's whole environment (opt-in; the default is a minimal one). */
  inheritEnv?: boolean;
  /** No metrics endpoint of its own (see InstanceView.noMetrics). */
  noMetrics?: boolean;
  /** Failed health checks in a row that replace the process (0 = never); undefined = the daemon's --liveness-failures. */
  livenessFailures?: number;
  /** How often it is health-checked (ms); undefined = the daemon's --health-interval. */
  healthIntervalMs?: number;
  /** Resident memory of its process group above which it is restarted; undefined = the daemon's --max-memory, 0 = none. */
  maxMemoryBytes?: number;
  /** Processes its cgroup may hold; undefined = the daemon's --max-pids, 0 = none. */
  maxPids?: number;
}

/** An instance's memory and pids limits, effective (0 = none). */
export interface ResourceLimits {
  memoryBytes: number;
  pids: number;
}
