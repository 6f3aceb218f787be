// The optional plugin catalog (`plugprom daemon --config plugins.json`): named recipes that
// `plugprom start <name> --plugin <entry>` refers to. Loaded once and validated strictly so
// that a typo is a clear startup error, not a mystery at start time.
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { checkArgs, checkEnv, checkLabels, INSTANCE_NAME_PATTERN } from "../../shared/names.js";
import { parseDuration } from "../../shared/duration.js";
import { DaemonError } from "../errors.js";

export interface CatalogEntry {
  name: string;
  /** Absolute path (relative paths in the file are resolved against its directory) or a bare name. */
  command: string;
  args: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  magicCookieKey?: string;
  magicCookieValue?: string;
  protocolVersions?: number[];
  metricsTransport?: "unix" | "tcp";
  autoMtls?: boolean;
  /** Hex SHA-256 the executable must have. */
  sha256?: string;
  scrapeIntervalMs?: number;
  scrapeTimeoutMs?: number;
  restartPolicy?: "always" | "on-failure" | "never";
  inheritEnv?: boolean;
  /** Directory the plugin runs in; defaults to the catalog file's directory. */
  workingDir: string;
}

export type Catalog = ReadonlyMap<string, CatalogEntry>;

export class CatalogError extends DaemonError {
  override name = "CatalogError";

  constructor(message: string) {
    super("invalid", message);
  }
}

export async function loadCatalog(file: string): Promise<Catalog> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new CatalogError(`cannot read catalog ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CatalogError(`catalog ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseCatalog(doc, dirname(resolve(file)), file);
}

/** Validates a parsed catalog document; `baseDir` anchors relative commands and directories. */
export function parseCatalog(doc: unknown, baseDir: string, source = "catalog"): Catalog {
  const fail = (path: string, problem: string): never => {
    throw new CatalogError(`${source}: ${path}: ${problem}`);
  };
  if (!isRecord(doc)) fail("(top level)", 'must be an object like {"plugins": {...}}');
  const top = doc as Record<string, unknown>;
  for (const key of Object.keys(top)) if (key !== "plugins") fail(key, "unknown field (expected only \"plugins\")");
  const plugins = top.plugins ?? {};
  if (!isRecord(plugins)) fail("plugins", "must be an object mapping entry names to plugin definitions");

  const catalog = new Map<string, CatalogEntry>();
  for (const [name, raw] of Object.entries(plugins as Record<string, unknown>)) {
    const at = `plugins.${name}`;
    if (!INSTANCE_NAME_PATTERN.test(name)) fail(at, "entry names use a-z, 0-9, '_', '.', '-' (at most 63 characters)");
    if (!isRecord(raw)) fail(at, "must be an object");
    const e = raw as Record<string, unknown>;
    const known = ["command", "args", "env", "labels", "handshake", "metricsTransport", "autoMtls", "sha256", "scrapeInterval", "scrapeTimeout", "restart", "inheritEnv", "workingDir"];
    for (const key of Object.keys(e)) if (!known.includes(key)) fail(`${at}.${key}`, `unknown field (known: ${known.join(", ")})`);

    if (typeof e.command !== "string" || e.command === "") fail(`${at}.command`, "must be a non-empty string");
    const command = e.command as string;
    const args = stringArray(e.args ?? [], `${at}.args`, fail);
    const env = stringRecord(e.env ?? {}, `${at}.env`, fail);
    const labels = stringRecord(e.labels ?? {}, `${at}.labels`, fail);
    const problem = checkArgs(args) ?? checkEnv(env) ?? checkLabels(labels) ?? (labels.plugin !== undefined ? 'label "plugin" is set by plugprom' : undefined);
    if (problem) fail(at, problem);

    const entry: CatalogEntry = {
      name,
      command: command.includes("/") && !isAbsolute(command) ? resolve(baseDir, command) : command,
      args,
      env,
      labels,
      workingDir: baseDir,
    };
    if (e.workingDir !== undefined) {
      if (typeof e.workingDir !== "string" || e.workingDir === "") fail(`${at}.workingDir`, "must be a non-empty string");
      entry.workingDir = resolve(baseDir, e.workingDir as string);
    }
    if (e.handshake !== undefined) {
      if (!isRecord(e.handshake)) fail(`${at}.handshake`, "must be an object");
      const h = e.handshake as Record<string, unknown>;
      for (const key of Object.keys(h)) {
        if (!["magicCookieKey", "magicCookieValue", "protocolVersions"].includes(key)) fail(`${at}.handshake.${key}`, "unknown field");
      }
      if (h.magicCookieKey !== undefined || h.magicCookieValue !== undefined) {
        if (typeof h.magicCookieKey !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(h.magicCookieKey)) {
          fail(`${at}.handshake.magicCookieKey`, "must be an environment variable name");
        }
        if (typeof h.magicCookieValue !== "string") fail(`${at}.handshake.magicCookieValue`, "must be a string");
        entry.magicCookieKey = h.magicCookieKey as string;
        entry.magicCookieValue = h.magicCookieValue as string;
      }
      if (h.protocolVersions !== undefined) {
        const v = h.protocolVersions;
        if (!Array.isArray(v) || v.length === 0 || v.length > 32 || !v.every((n) => Number.isInteger(n) && n > 0 && n < 2 ** 31)) {
          fail(`${at}.handshake.protocolVersions`, "must be a non-empty array of positive integers");
        }
        entry.protocolVersions = v as number[];
      }
    }
    if (e.metricsTransport !== undefined) {
      if (e.metricsTransport !== "unix" && e.metricsTransport !== "tcp") fail(`${at}.metricsTransport`, 'must be "unix" or "tcp"');
      entry.metricsTransport = e.metricsTransport as "unix" | "tcp";
    }
    if (e.autoMtls !== undefined) {
      if (typeof e.autoMtls !== "boolean") fail(`${at}.autoMtls`, "must be true or false");
      entry.autoMtls = e.autoMtls as boolean;
    }
    if (e.sha256 !== undefined) {
      if (typeof e.sha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) fail(`${at}.sha256`, "must be 64 hex characters");
      entry.sha256 = (e.sha256 as string).toLowerCase();
    }
    for (const [field, key] of [["scrapeInterval", "scrapeIntervalMs"], ["scrapeTimeout", "scrapeTimeoutMs"]] as const) {
      if (e[field] === undefined) continue;
      try {
        if (typeof e[field] !== "string") throw new Error("must be a duration string such as \"15s\"");
        entry[key] = parseDuration(e[field] as string);
      } catch (err) {
        fail(`${at}.${field}`, (err as Error).message);
      }
    }
    if (e.inheritEnv !== undefined) {
      if (typeof e.inheritEnv !== "boolean") fail(`${at}.inheritEnv`, "must be true or false");
      entry.inheritEnv = e.inheritEnv as boolean;
    }
    if (e.restart !== undefined) {
      if (e.restart !== "always" && e.restart !== "on-failure" && e.restart !== "never") fail(`${at}.restart`, 'must be "always", "on-failure" or "never"');
      entry.restartPolicy = e.restart as CatalogEntry["restartPolicy"];
    }
    catalog.set(name, entry);
  }
  return catalog;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringArray(v: unknown, path: string, fail: (p: string, m: string) => never): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) fail(path, "must be an array of strings");
  return v as string[];
}

function stringRecord(v: unknown, path: string, fail: (p: string, m: string) => never): Record<string, string> {
  if (!isRecord(v) || !Object.values(v).every((s) => typeof s === "string")) fail(path, "must be an object of string values");
  return { ...(v as Record<string, string>) };
}
