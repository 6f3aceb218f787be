// The fields that describe how to run a plugin, as a catalog entry (`--config`) and an
// instance of a plugins file (`apply -f`) write them: one validator for both, which reports
// every problem with its path instead of stopping at the first.
import { isAbsolute, resolve } from "node:path";
import { parseDuration } from "./duration.js";
import { parseSize } from "./size.js";
import { checkArgs, checkEnv, checkLabels, INSTANCE_NAME_PATTERN } from "./names.js";

export type RestartPolicyName = "always" | "on-failure" | "never";

/** What one entry says, validated; paths resolved against the file's directory. Absent = not said. */
export interface PluginEntry {
  /** Absolute path (relative paths in the file are resolved against its directory) or a bare name. */
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  labels?: Record<string, string>;
  magicCookieKey?: string;
  magicCookieValue?: string;
  protocolVersions?: number[];
  metricsTransport?: "unix" | "tcp";
  autoMtls?: boolean;
  /** Lower-case hex SHA-256 the executable must have. */
  sha256?: string;
  scrapeIntervalMs?: number;
  scrapeTimeoutMs?: number;
  restartPolicy?: RestartPolicyName;
  inheritEnv?: boolean;
  noMetrics?: boolean;
  startTimeoutMs?: number;
  /** Failed health checks in a row that replace the process; 0 = never. */
  livenessFailures?: number;
  healthIntervalMs?: number;
  /** 0 = none, even if the daemon has a default. */
  maxMemoryBytes?: number;
  maxPids?: number;
  /** Absolute directory the plugin runs in. */
  workingDir?: string;
}

/** A catalog entry: a command is required, and it runs in the file's directory unless told otherwise. */
export interface CatalogEntry extends PluginEntry {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  workingDir: string;
}

/** One problem with a file: where (`instances.g2.env.MODE`) and what. */
export interface Problem {
  path: string;
  message: string;
}

/** The field names an entry may have, in the order the README lists them. */
export const ENTRY_FIELDS = [
  "command",
  "args",
  "env",
  "labels",
  "handshake",
  "metricsTransport",
  "autoMtls",
  "sha256",
  "scrapeInterval",
  "scrapeTimeout",
  "restart",
  "workingDir",
  "inheritEnv",
  "noMetrics",
  "startTimeout",
  "livenessFailures",
  "healthInterval",
  "maxMemory",
  "maxPids",
] as const;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validates one entry at `at` (e.g. "plugins.greeter"), appending every problem found.
 * `extra` names fields the caller handles itself (an instance's `plugin`); they are skipped.
 */
export function readEntry(raw: unknown, at: string, baseDir: string, problems: Problem[], extra: readonly string[] = []): PluginEntry {
  const entry: PluginEntry = {};
  const fail = (path: string, message: string) => void problems.push({ path, message });
  if (!isRecord(raw)) {
    fail(at, "must be an object (an empty one, {}, takes every default)");
    return entry;
  }
  for (const key of Object.keys(raw)) {
    if (!(ENTRY_FIELDS as readonly string[]).includes(key) && !extra.includes(key)) {
      fail(`${at}.${key}`, `unknown field (known: ${[...extra, ...ENTRY_FIELDS].join(", ")})`);
    }
  }
  const str = (key: string, what = "must be a non-empty string"): string | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v === "string" && v !== "") return v;
    fail(`${at}.${key}`, what);
    return undefined;
  };
  const bool = (key: "autoMtls" | "inheritEnv" | "noMetrics") => {
    const v = raw[key];
    if (v === undefined) return;
    if (typeof v !== "boolean") fail(`${at}.${key}`, "must be true or false");
    else entry[key] = v;
  };

  const command = str("command");
  if (command !== undefined) entry.command = command.includes("/") && !isAbsolute(command) ? resolve(baseDir, command) : command;
  if (raw.args !== undefined) {
    const args = raw.args;
    if (!Array.isArray(args)) fail(`${at}.args`, "must be an array of strings");
    else {
      args.forEach((a, i) => typeof a !== "string" && fail(`${at}.args.${i}`, `must be a string${quoteHint(a)}`));
      if (args.every((a) => typeof a === "string")) {
        const problem = checkArgs(args as string[]);
        if (problem) fail(`${at}.args`, problem);
        else entry.args = args as string[];
      }
    }
  }
  entry.env = keyValues(raw.env, `${at}.env`, problems, (k, v) => checkEnv({ [k]: v }), checkEnv);
  entry.labels = keyValues(raw.labels, `${at}.labels`, problems, (k, v) =>
    k === "plugin" ? 'label "plugin" is set by plugprom to the instance name; choose another label name' : checkLabels({ [k]: v }),
    checkLabels,
  );
  if (entry.env === undefined) delete entry.env;
  if (entry.labels === undefined) delete entry.labels;
  if (raw.handshake !== undefined) readHandshake(raw.handshake, `${at}.handshake`, entry, fail);
  if (raw.metricsTransport !== undefined) {
    if (raw.metricsTransport !== "unix" && raw.metricsTransport !== "tcp") fail(`${at}.metricsTransport`, 'must be "unix" or "tcp"');
    else entry.metricsTransport = raw.metricsTransport;
  }
  bool("autoMtls");
  bool("inheritEnv");
  bool("noMetrics");
  const sha256 = str("sha256", "must be 64 hex characters");
  if (sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(sha256)) fail(`${at}.sha256`, "must be 64 hex characters");
    else entry.sha256 = sha256.toLowerCase();
  }
  for (const [field, key] of [["scrapeInterval", "scrapeIntervalMs"], ["scrapeTimeout", "scrapeTimeoutMs"], ["startTimeout", "startTimeoutMs"], ["healthInterval", "healthIntervalMs"]] as const) {
    const v = raw[field];
    if (v === undefined) continue;
    if (typeof v !== "string") {
      fail(`${at}.${field}`, 'must be a duration string such as "15s"');
      continue;
    }
    try {
      const ms = parseDuration(v);
      if (ms <= 0) fail(`${at}.${field}`, "must be greater than 0");
      else entry[key] = ms;
    } catch (err) {
      fail(`${at}.${field}`, (err as Error).message);
    }
  }
  if (raw.restart !== undefined) {
    if (raw.restart !== "always" && raw.restart !== "on-failure" && raw.restart !== "never") fail(`${at}.restart`, 'must be "always", "on-failure" or "never"');
    else entry.restartPolicy = raw.restart;
  }
  if (entry.scrapeIntervalMs !== undefined || entry.scrapeTimeoutMs !== undefined) {
    const problem = checkScrapeSettings(entry.scrapeIntervalMs, entry.scrapeTimeoutMs);
    if (problem) fail(`${at}.scrapeTimeout`, problem);
  }
  if (raw.livenessFailures !== undefined) {
    // Range and integrality are checkSupervisionSettings'; a string ("3") is refused here.
    if (typeof raw.livenessFailures === "number") entry.livenessFailures = raw.livenessFailures;
    else fail(`${at}.livenessFailures`, `must be an integer from 0 (never) to ${MAX_LIVENESS_FAILURES}`);
  }
  for (const [field, problem] of checkSupervisionSettings(entry.livenessFailures, entry.healthIntervalMs)) fail(`${at}.${field}`, problem);
  readLimits(raw, at, entry, fail);
  const workingDir = str("workingDir");
  if (workingDir !== undefined) entry.workingDir = resolve(baseDir, workingDir);
  return entry;
}

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

/** The most failed health checks in a row --liveness-failures may wait for. */
export const MAX_LIVENESS_FAILURES = 1000;
/** A per-instance health interval stays within this, so that a check's timeout (the interval, at most 5 s) means something. */
export const MIN_HEALTH_INTERVAL_MS = 100;
export const MAX_HEALTH_INTERVAL_MS = 3_600_000;

/** The liveness rule's settings of one instance: [field, problem] for each that is out of range. */
export function checkSupervisionSettings(livenessFailures: number | undefined, healthIntervalMs: number | undefined): [string, string][] {
  const problems: [string, string][] = [];
  if (livenessFailures !== undefined && !(Number.isInteger(livenessFailures) && livenessFailures >= 0 && livenessFailures <= MAX_LIVENESS_FAILURES)) {
    problems.push(["livenessFailures", `must be an integer from 0 (never) to ${MAX_LIVENESS_FAILURES}`]);
  }
  if (healthIntervalMs !== undefined && !(healthIntervalMs >= MIN_HEALTH_INTERVAL_MS && healthIntervalMs <= MAX_HEALTH_INTERVAL_MS)) {
    problems.push(["healthInterval", "must be between 100ms and 1h"]);
  }
  return problems;
}

/** Smallest memory limit: below it a process cannot even start (0, no limit, is allowed too). */
export const MIN_MEMORY_LIMIT_BYTES = 1024 ** 2;
/** Linux's own ceiling on processes (PID_MAX_LIMIT). */
export const MAX_PIDS_LIMIT = 4_194_304;

/** maxMemory (a size, or an integer of bytes) and maxPids (an integer); 0 for "none". */
function readLimits(raw: Record<string, unknown>, at: string, entry: PluginEntry, fail: (path: string, message: string) => void): void {
  const memory = raw.maxMemory;
  if (memory !== undefined) {
    let bytes: number | undefined;
    try {
      if (typeof memory === "number") bytes = memory;
      else if (typeof memory === "string") bytes = parseSize(memory);
    } catch (err) {
      fail(`${at}.maxMemory`, (err as Error).message);
    }
    if (typeof memory !== "number" && typeof memory !== "string") fail(`${at}.maxMemory`, 'must be a size such as "96MiB", or a number of bytes');
    else if (bytes !== undefined) {
      const problem = checkResourceLimits(bytes, undefined);
      if (problem) fail(`${at}.maxMemory`, problem);
      else entry.maxMemoryBytes = bytes;
    }
  }
  const pids = raw.maxPids;
  if (pids !== undefined) {
    const problem = typeof pids === "number" ? checkResourceLimits(undefined, pids) : "must be an integer (0 for none)";
    if (problem) fail(`${at}.maxPids`, problem);
    else entry.maxPids = pids as number;
  }
}

/** A memory limit is 0 or at least 1 MiB; a pids limit an integer up to Linux's maximum. */
export function checkResourceLimits(memoryBytes: number | undefined, pids: number | undefined): string | undefined {
  if (memoryBytes !== undefined && !(Number.isSafeInteger(memoryBytes) && (memoryBytes === 0 || memoryBytes >= MIN_MEMORY_LIMIT_BYTES))) {
    return "memory limit must be 0 (none) or at least 1MiB";
  }
  if (pids !== undefined && !(Number.isInteger(pids) && pids >= 0 && pids <= MAX_PIDS_LIMIT)) {
    return `pids limit must be an integer from 0 (none) to ${MAX_PIDS_LIMIT}`;
  }
  return undefined;
}

/** A catalog entry: an entry whose command is required, with the file's directory as its default working directory. */
export function readCatalogEntry(name: string, raw: unknown, at: string, baseDir: string, problems: Problem[]): CatalogEntry | undefined {
  const before = problems.length;
  const e = readEntry(raw, at, baseDir, problems);
  if (isRecord(raw) && raw.command === undefined) problems.push({ path: `${at}.command`, message: "must be a non-empty string" });
  if (problems.length > before) return undefined;
  return { ...e, name, command: e.command!, args: e.args ?? [], env: e.env ?? {}, labels: e.labels ?? {}, workingDir: e.workingDir ?? baseDir };
}

/** The `plugins:` map of a catalog or a plugins file. */
export function readCatalog(raw: unknown, at: string, baseDir: string, problems: Problem[]): Map<string, CatalogEntry> {
  const catalog = new Map<string, CatalogEntry>();
  if (raw === undefined) return catalog;
  if (!isRecord(raw)) {
    problems.push({ path: at, message: "must be an object mapping entry names to plugin definitions" });
    return catalog;
  }
  for (const [name, entry] of Object.entries(raw)) {
    if (!INSTANCE_NAME_PATTERN.test(name)) problems.push({ path: `${at}.${name}`, message: "entry names use a-z, 0-9, '_', '.', '-' (at most 63 characters)" });
    const e = readCatalogEntry(name, entry, `${at}.${name}`, baseDir, problems);
    if (e) catalog.set(name, e);
  }
  return catalog;
}

function readHandshake(raw: unknown, at: string, entry: PluginEntry, fail: (path: string, message: string) => void): void {
  if (!isRecord(raw)) return fail(at, "must be an object");
  for (const key of Object.keys(raw)) {
    if (!["magicCookieKey", "magicCookieValue", "protocolVersions"].includes(key)) fail(`${at}.${key}`, "unknown field (known: magicCookieKey, magicCookieValue, protocolVersions)");
  }
  if (raw.magicCookieKey !== undefined || raw.magicCookieValue !== undefined) {
    const keyOk = typeof raw.magicCookieKey === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(raw.magicCookieKey);
    if (!keyOk) fail(`${at}.magicCookieKey`, "must be an environment variable name");
    if (typeof raw.magicCookieValue !== "string") fail(`${at}.magicCookieValue`, `must be a string${quoteHint(raw.magicCookieValue)}`);
    if (keyOk && typeof raw.magicCookieValue === "string") {
      entry.magicCookieKey = raw.magicCookieKey as string;
      entry.magicCookieValue = raw.magicCookieValue;
    }
  }
  if (raw.protocolVersions !== undefined) {
    const v = raw.protocolVersions;
    if (!Array.isArray(v) || v.length === 0 || v.length > 32 || !v.every((n) => Number.isInteger(n) && n > 0 && n < 2 ** 31)) {
      fail(`${at}.protocolVersions`, "must be a non-empty array of positive integers");
    } else entry.protocolVersions = v as number[];
  }
}

/**
 * env and labels: a map, or a list of "KEY=VALUE" strings as docker compose allows. Each
 * entry is checked on its own, so that the path names the one at fault (`env.MODE`, `env.1`).
 */
function keyValues(
  raw: unknown,
  at: string,
  problems: Problem[],
  checkOne: (k: string, v: string) => string | undefined,
  checkAll: (r: Record<string, string>) => string | undefined,
): Record<string, string> | undefined {
  if (raw === undefined) return undefined;
  const out: Record<string, string> = {};
  const before = problems.length;
  const add = (path: string, k: string, v: unknown) => {
    if (typeof v !== "string") return void problems.push({ path, message: `must be a string${quoteHint(v)}` });
    const problem = checkOne(k, v);
    if (problem) problems.push({ path, message: problem });
    else out[k] = v;
  };
  if (Array.isArray(raw)) {
    raw.forEach((item, i) => {
      const eq = typeof item === "string" ? item.indexOf("=") : -1;
      if (eq <= 0) problems.push({ path: `${at}.${i}`, message: 'must be a "KEY=VALUE" string' });
      else add(`${at}.${i}`, (item as string).slice(0, eq), (item as string).slice(eq + 1));
    });
  } else if (isRecord(raw)) {
    for (const [k, v] of Object.entries(raw)) add(`${at}.${k}`, k, v);
  } else {
    problems.push({ path: at, message: 'must be a map of strings, or a list of "KEY=VALUE" strings' });
    return undefined;
  }
  if (problems.length > before) return undefined;
  const problem = checkAll(out);
  if (problem) problems.push({ path: at, message: problem });
  return out;
}

/** YAML reads `1`, `true` and `null` as non-strings; say how to write the string. */
function quoteHint(v: unknown): string {
  return typeof v === "number" || typeof v === "boolean" || v === null ? ` (quote it: "${String(v)}")` : "";
}
