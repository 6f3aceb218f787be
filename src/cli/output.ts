// Every output decision of the CLI in one place: tables or JSON, colour or not, and the
// stable JSON shapes scripts rely on.
import { Chalk, type ChalkInstance } from "chalk";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { PluginState, type PluginInfo, type StatusResponse } from "../shared/gen/plugprom/v1/control_pb.js";
import { formatDuration } from "../shared/duration.js";
import { formatSize } from "../shared/size.js";
import { OutputClosedError } from "./errors.js";

/** Where a command writes; tests pass a capturing fake. */
export interface IO {
  /** Writes to stdout, resolving when the data is flushed enough to write more (backpressure). */
  out(data: string | Uint8Array): Promise<void>;
  err(line: string): void;
  /** Colour decision already taken (TTY, NO_COLOR, --no-color). */
  color: boolean;
  now(): Date;
  /** Set when both stdin and stdout are a terminal: a live view may draw and read keys. */
  tty?: { input: NodeJS.ReadStream };
}

/**
 * Colour only for a person at a terminal: never with --no-color, with NO_COLOR set to
 * anything non-empty (no-color.org), or when stdout is a pipe or a file.
 */
export function shouldColor(o: { noColor: boolean; isTTY: boolean | undefined; env: NodeJS.ProcessEnv }): boolean {
  if (o.noColor || o.isTTY !== true) return false;
  return o.env.NO_COLOR === undefined || o.env.NO_COLOR === "";
}

export function processIO(opts: { noColor: boolean }): IO {
  const color = shouldColor({ noColor: opts.noColor, isTTY: process.stdout.isTTY, env: process.env });
  // Without a listener a closed pipe's 'error' event would crash the process; the failed
  // write's callback below reports it instead.
  if (process.stdout.listenerCount("error") === 0) process.stdout.on("error", () => undefined);
  return {
    out: (data) =>
      new Promise((resolve, reject) => {
        process.stdout.write(data, (err) => {
          if (!err) resolve();
          else reject((err as NodeJS.ErrnoException).code === "EPIPE" ? new OutputClosedError(err) : err);
        });
      }),
    err: (line) => void process.stderr.write(line.endsWith("\n") ? line : `${line}\n`),
    color,
    now: () => new Date(),
    // A getter: touching process.stdin makes its stream, which only `top` wants.
    get tty() {
      return process.stdout.isTTY && process.stdin.isTTY ? { input: process.stdin } : undefined;
    },
  };
}

/**
 * The JSON shape of one plugin instance: `list --json` prints an array of these; `get`,
 * `start`, `stop`, `kill` and `restart` with --json print one. Stable: fields are only ever
 * added, never renamed or retyped. Absent values are null, never "" or 0.
 */
export interface PluginJson {
  /** Instance name, also the `plugin` target label and the proxy path /plugins/<name>/metrics. */
  name: string;
  /**
   * STARTING, RUNNING, STOPPING, STOPPED, CRASHED, FAILED, BACKOFF or CRASHLOOP (the
   * PluginState enum name without its prefix).
   */
  state: string;
  /** Process id while a process runs, else null. */
  pid: number | null;
  /** Automatic restarts so far. */
  restarts: number;
  /** Target labels given with --label (the daemon adds `plugin` itself in SD). */
  labels: Record<string, string>;
  /** Where the daemon reaches the plugin's metrics: unix:/abs/path or 127.0.0.1:PORT. */
  metricsEndpoint: string;
  /** The executable that runs, after template substitution. */
  command: string;
  /** Its arguments. */
  args: string[];
  /** When the current (or last) process started, RFC 3339; null if it never did. */
  startedAt: string | null;
  /** When the last process exited, RFC 3339; null while none has. */
  stoppedAt: string | null;
  /** Why the last start or run failed, or null. */
  lastError: string | null;
  /** Exit status of the last process, or null (still running, or killed by a signal). */
  lastExitCode: number | null;
  /** Signal that ended the last process, e.g. "SIGKILL", or null. */
  lastExitSignal: string | null;
  /** go-plugin app protocol version negotiated in the handshake; null before it. */
  protocolVersion: number | null;
  /** The plugin's own RPC address from its handshake (never exposed beyond the daemon). */
  rpcAddress: string;
  /** "grpc" or "netrpc"; "" before the handshake. */
  rpcProtocol: string;
  /** The last health check answered SERVING. */
  healthy: boolean;
  /** Catalog entry or executable path it was started from; "" for the bundled greeter. */
  plugin: string;
  /** Absolute directory the plugin runs in. */
  workingDir: string;
  /** Per-target scrape settings in Prometheus duration syntax, or null for the job's. */
  scrapeInterval: string | null;
  scrapeTimeout: string | null;
  /** always, on-failure or never. */
  restartPolicy: string;
  /** RFC 3339: when the next automatic restart is due (BACKOFF, CRASHLOOP), else null. */
  nextRestartAt: string | null;
  /** Failed health checks in a row that replace the process (the instance's, else the daemon's); 0 = never. */
  livenessFailures: number;
  /** How often it is health-checked, Prometheus duration syntax (the instance's, else the daemon's). */
  healthInterval: string;
  /** Health checks the current process failed in a row. */
  failedHealthChecks: number;
  /** Times its process was replaced for failing livenessFailures checks in a row. */
  livenessRestarts: number;
  /** The effective memory limit in bytes (its --max-memory, else the daemon's), or null for none. */
  memoryLimitBytes: number | null;
  /** "sampled", "cgroup v1 + sampled" or "cgroup v2 + sampled"; null without a memory limit. */
  memoryEnforcement: string | null;
  /** The effective pids limit of its cgroup, or null for none. */
  maxPids: number | null;
  /** Resident memory of its whole process group at the last sample (while limited), or null. */
  groupRssBytes: number | null;
}

export function stateName(state: PluginState): string {
  return PluginState[state] ?? "UNSPECIFIED";
}

export function pluginJson(p: PluginInfo): PluginJson {
  return {
    name: p.name,
    state: stateName(p.state),
    pid: p.pid || null,
    restarts: p.restarts,
    labels: { ...p.labels },
    metricsEndpoint: p.metricsEndpoint,
    command: p.command,
    args: [...p.args],
    startedAt: iso(p.startedAt),
    stoppedAt: iso(p.stoppedAt),
    lastError: p.lastError || null,
    lastExitCode: p.lastExitCode ?? null,
    lastExitSignal: p.lastExitSignal || null,
    protocolVersion: p.protocolVersion || null,
    rpcAddress: p.rpcAddress,
    rpcProtocol: p.rpcProtocol,
    healthy: p.healthy,
    plugin: p.plugin,
    workingDir: p.workingDir,
    scrapeInterval: p.scrapeInterval || null,
    scrapeTimeout: p.scrapeTimeout || null,
    restartPolicy: p.restartPolicy,
    nextRestartAt: iso(p.nextRestartAt),
    livenessFailures: p.livenessFailures,
    healthInterval: p.healthInterval,
    failedHealthChecks: p.failedHealthChecks,
    livenessRestarts: p.livenessRestarts,
    memoryLimitBytes: Number(p.memoryLimitBytes) || null,
    memoryEnforcement: p.memoryEnforcement || null,
    maxPids: p.maxPids || null,
    groupRssBytes: Number(p.groupRssBytes) || null,
  };
}

export interface StatusJson {
  version: string;
  pid: number;
  grpcAddr: string;
  httpAddr: string;
  advertiseAddr: string;
  stateDir: string;
  startedAt: string | null;
  plugins: Record<string, number>;
  /** The daemon's --apply file, or null. */
  applyFile: string | null;
  /** The last apply that acted (--apply at start-up or SIGHUP, or `plugprom apply`), or null. */
  lastApply: { file: string; time: string | null; ok: boolean; error: string | null } | null;
  /** instances.json could not be parsed at start-up: where it was kept and why, or null. */
  instancesSetAside: { file: string; reason: string } | null;
}

export function statusJson(s: StatusResponse): StatusJson {
  return {
    version: s.version,
    pid: s.pid,
    grpcAddr: s.grpcAddr,
    httpAddr: s.httpAddr,
    advertiseAddr: s.advertiseAddr,
    stateDir: s.stateDir,
    startedAt: iso(s.startedAt),
    plugins: { ...s.plugins },
    applyFile: s.applyFile || null,
    lastApply: s.lastApply ? { file: s.lastApply.file, time: iso(s.lastApply.time), ok: s.lastApply.ok, error: s.lastApply.error || null } : null,
    instancesSetAside: s.instancesSetAside ? { file: s.instancesSetAside, reason: s.instancesSetAsideReason } : null,
  };
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function chalkFor(io: IO): ChalkInstance {
  return new Chalk({ level: io.color ? 1 : 0 });
}

export function colorState(state: PluginState, io: IO): string {
  const c = chalkFor(io);
  const name = stateName(state);
  switch (state) {
    case PluginState.RUNNING:
      return c.green(name);
    case PluginState.STARTING:
    case PluginState.STOPPING:
      return c.yellow(name);
    case PluginState.BACKOFF:
      return c.yellow(name);
    case PluginState.CRASHED:
    case PluginState.CRASHLOOP:
    case PluginState.FAILED:
      return c.red(name);
    default:
      return c.dim(name);
  }
}

export function renderPluginTable(plugins: readonly PluginInfo[], io: IO): string {
  if (plugins.length === 0) return "no plugins\n";
  const rows = plugins.map((p) => [
    p.name,
    colorState(p.state, io),
    p.pid ? String(p.pid) : "-",
    String(p.restarts),
    uptime(p, io.now()),
    Object.entries(p.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",") || "-",
  ]);
  return table(["NAME", "STATE", "PID", "RESTARTS", "UPTIME", "LABELS"], rows);
}

/** One instance as `get`, `start` and `restart` print it: key: value lines, or one JSON object. */
export function renderPlugin(p: PluginInfo, json: boolean, io: IO): string {
  return json ? toJson(pluginJson(p)) : renderPluginDetails(p, io);
}

export function renderPluginDetails(p: PluginInfo, io: IO): string {
  const j = pluginJson(p);
  const lines: Array<[string, string]> = [
    ["name", j.name],
    ["state", colorState(p.state, io)],
    ["pid", j.pid === null ? "-" : String(j.pid)],
    ["uptime", uptime(p, io.now())],
    ["restarts", `${j.restarts} (policy ${j.restartPolicy || "on-failure"})${j.nextRestartAt ? `, next at ${j.nextRestartAt}` : ""}`],
    ["healthy", j.healthy ? "yes" : j.failedHealthChecks > 0 ? `no (${j.failedHealthChecks} failed checks in a row)` : "no"],
    ["liveness", liveness(j)],
    ["labels", Object.entries(j.labels).map(([k, v]) => `${k}=${v}`).join(", ") || "-"],
    ["command", [j.command, ...j.args].map(shellQuote).join(" ")],
    ["working dir", j.workingDir || "-"],
    ["metrics endpoint", j.metricsEndpoint || "-"],
    ["rpc", j.rpcAddress ? `${j.rpcProtocol} ${j.rpcAddress} (protocol version ${j.protocolVersion})` : "-"],
    ["started at", j.startedAt ?? "-"],
    ["memory limit", memoryLine(j)],
  ];
  if (j.maxPids !== null) lines.push(["pids limit", String(j.maxPids)]);
  if (j.lastExitCode !== null || j.lastExitSignal) lines.push(["last exit", j.lastExitSignal ? `signal ${j.lastExitSignal}` : `code ${j.lastExitCode}`]);
  if (j.lastError) lines.push(["last error", j.lastError]);
  return keyValues(lines);
}

/** The liveness rule in effect and what it did, e.g. "replaced after 3 failed checks in a row, checked every 10s; replaced 1 time". */
function liveness(j: PluginJson): string {
  const every = `checked every ${j.healthInterval || "-"}`;
  if (j.livenessFailures === 0) return `off, ${every}`;
  const replaced = j.livenessRestarts > 0 ? `; replaced ${j.livenessRestarts} time${j.livenessRestarts === 1 ? "" : "s"}` : "";
  return `replaced after ${j.livenessFailures} failed checks in a row, ${every}${replaced}`;
}

/** "96 MiB (cgroup v1 + sampled), group resident 41 MiB", or "none". */
function memoryLine(j: PluginJson): string {
  if (j.memoryLimitBytes === null) return "none";
  const resident = j.groupRssBytes !== null ? `, group resident ${formatSize(j.groupRssBytes)}` : "";
  return `${formatSize(j.memoryLimitBytes)} (${j.memoryEnforcement ?? "sampled"})${resident}`;
}

export function renderStatus(s: StatusResponse): string {
  const j = statusJson(s);
  const counts = Object.entries(j.plugins).map(([k, v]) => `${v} ${k.toLowerCase()}`).join(", ") || "none";
  const last = j.lastApply;
  const applied: Array<[string, string]> = [];
  if (j.applyFile) applied.push(["apply file", j.applyFile]);
  if (last) applied.push(["last apply", `${last.time ?? "-"} ${last.file}: ${last.ok ? "ok" : `failed: ${last.error ?? ""}`}`]);
  const aside = j.instancesSetAside;
  if (aside) applied.push(["state", `instances.json ${aside.reason}: started with no instances; kept as ${aside.file}`]);
  return keyValues([
    ["version", j.version],
    ["pid", String(j.pid)],
    ["control (grpc)", j.grpcAddr],
    ["http", j.httpAddr],
    ["advertised", j.advertiseAddr],
    ["state dir", j.stateDir],
    ["started at", j.startedAt ?? "-"],
    ["plugins", counts],
    ...applied,
  ]);
}

function keyValues(lines: Array<[string, string]>): string {
  const width = Math.max(...lines.map(([k]) => k.length)) + 1;
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}${v}\n`).join("");
}

/** Aligned columns; ANSI colour codes do not count towards a cell's width. */
export function table(header: string[], rows: string[][]): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "").length;
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i]))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i] - visible(c))))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `${l}\n`).join("");
}

function uptime(p: PluginInfo, now: Date): string {
  if (p.state !== PluginState.RUNNING || !p.startedAt) return "-";
  return formatDuration(now.getTime() - timestampDate(p.startedAt).getTime());
}

function iso(t: Timestamp | undefined): string | null {
  return t ? timestampDate(t).toISOString() : null;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
