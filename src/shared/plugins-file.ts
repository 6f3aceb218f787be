// A plugins file (`plugprom apply -f`, `plugprom daemon --apply`): the set of instances a
// host runs, in YAML or JSON. Parsed and validated here, by the CLI for early errors and by
// the daemon before it converges; the whole file is refused on any problem, and every
// problem is reported with its path.
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { parseDocument } from "yaml";
import { MetricsTransport, StartRequestSchema, type StartRequest } from "./gen/plugprom/v1/control_pb.js";
import { checkInstanceName, LIMITS } from "./names.js";
import { isRecord, readCatalog, readEntry, type CatalogEntry, type PluginEntry, type Problem } from "./plugin-entry.js";


/** An instance as the file says it: entry fields, and the catalog entry it builds on. */
export interface InstanceEntry extends PluginEntry {
  plugin?: string;
}

export interface PluginsFile {
  /** The file's own `plugins:` catalog. */
  catalog: Map<string, CatalogEntry>;
  /** Instances by name, in name order. */
  instances: Map<string, InstanceEntry>;
}

export class PluginsFileError extends Error {
  override name = "PluginsFileError";
  constructor(
    readonly file: string,
    readonly problems: Problem[],
  ) {
    super(`${file}: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
  }

  /** One line per problem, each naming the file and the path. */
  lines(): string[] {
    return this.problems.map((p) => `${this.file}: ${p.path}: ${p.message}`);
  }
}

/**
 * Parses and validates a plugins file's text. `dir` (absolute) anchors relative paths;
 * `file` names it in messages. Throws PluginsFileError listing every problem.
 */
export function parsePluginsFile(text: string, dir: string, file: string): PluginsFile {
  const problems: Problem[] = [];
  const fail = (path: string, message: string) => {
    problems.push({ path, message });
    return new PluginsFileError(file, problems);
  };
  if (Buffer.byteLength(text, "utf8") > LIMITS.pluginsFileBytes) throw fail("(file)", `larger than ${LIMITS.pluginsFileBytes / 1024} KiB`);
  // YAML 1.2 (JSON is valid YAML); duplicate keys are errors, and aliases are bounded so that a
  // small file cannot expand into a huge one.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const at = e.linePos?.[0];
      problems.push({ path: at ? `line ${at.line} column ${at.col}` : "(file)", message: firstLine(e.message).replace(/ at line \d+, column \d+:?$/, "") });
    }
    throw new PluginsFileError(file, problems);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw fail("(file)", firstLine((err as Error).message));
  }
  if (raw === null || raw === undefined) raw = {};
  if (!isRecord(raw)) throw fail("(top level)", "must be a map with plugins: and instances:");
  for (const key of Object.keys(raw)) {
    if (key !== "plugins" && key !== "instances") problems.push({ path: key, message: 'unknown field (expected "plugins" and "instances")' });
  }
  const catalog = readCatalog(raw.plugins ?? undefined, "plugins", dir, problems);
  const instances = new Map<string, InstanceEntry>();
  const list = raw.instances ?? {};
  if (!isRecord(list)) problems.push({ path: "instances", message: "must be a map of instance names to their fields" });
  else {
    for (const name of Object.keys(list).sort()) {
      const at = `instances.${name}`;
      const problem = checkInstanceName(name);
      if (problem) problems.push({ path: at, message: problem });
      const item = list[name] ?? {}; // `abc:` with nothing after it: every default
      const before = problems.length;
      const entry: InstanceEntry = readEntry(item, at, dir, problems, ["plugin"]);
      if (isRecord(item) && item.plugin !== undefined) {
        if (typeof item.plugin !== "string" || item.plugin === "") problems.push({ path: `${at}.plugin`, message: "must be the name of an entry under plugins:" });
        else entry.plugin = item.plugin;
        if (item.command !== undefined) problems.push({ path: `${at}.command`, message: "give either plugin or command, not both" });
      }
      if (entry.plugin === undefined && entry.command === undefined && entry.args !== undefined) {
        problems.push({ path: `${at}.args`, message: "arguments need a command or a plugin (without either, the bundled example plugin runs)" });
      }
      if (problems.length === before) instances.set(name, entry);
    }
  }
  if (problems.length > 0) throw new PluginsFileError(file, problems);
  return { catalog, instances };
}

/** A Start request for one instance of the file, and what it was started from. */
export interface InstanceRequest {
  request: StartRequest;
  /** The catalog entry, the command, or "" for the bundled greeter (PluginInfo.plugin). */
  source: string;
}

/**
 * What to start for each instance: the instance's fields over its catalog entry's (the
 * file's own `plugins:` first, then `external`, the daemon's --config catalog); labels and
 * env merged, arguments appended, as `plugprom start --plugin` does. Entries it cannot find
 * are problems.
 */
export function instanceRequests(
  file: PluginsFile,
  dir: string,
  external: ReadonlyMap<string, CatalogEntry>,
  problems: Problem[],
): Map<string, InstanceRequest> {
  const out = new Map<string, InstanceRequest>();
  for (const [name, inst] of file.instances) {
    let base: CatalogEntry | undefined;
    if (inst.plugin !== undefined) {
      base = file.catalog.get(inst.plugin) ?? external.get(inst.plugin);
      if (!base) {
        const known = [...new Set([...file.catalog.keys(), ...external.keys()])].sort();
        problems.push({ path: `instances.${name}.plugin`, message: `no entry "${inst.plugin}" under plugins: or in the daemon's --config${known.length ? ` (known: ${known.join(", ")})` : ""}` });
        continue;
      }
    }
    const e: PluginEntry = { ...base, ...defined(inst) };
    e.args = [...(base?.args ?? []), ...(inst.args ?? [])];
    e.env = { ...base?.env, ...inst.env };
    e.labels = { ...base?.labels, ...inst.labels };
    const command = e.command === undefined ? [] : [e.command, ...e.args];
    out.set(name, {
      source: base ? base.name : (e.command ?? ""),
      request: create(StartRequestSchema, {
        name,
        command,
        labels: e.labels,
        env: e.env,
        magicCookieKey: e.magicCookieKey ?? "",
        magicCookieValue: e.magicCookieValue ?? "",
        protocolVersions: e.protocolVersions ?? [],
        metricsTransport: e.metricsTransport === "tcp" ? MetricsTransport.TCP : e.metricsTransport === "unix" ? MetricsTransport.UNIX : MetricsTransport.UNSPECIFIED,
        workingDir: e.workingDir ?? dir,
        startTimeout: e.startTimeoutMs !== undefined ? durationFromMs(e.startTimeoutMs) : undefined,
        autoMtls: e.autoMtls,
        sha256: e.sha256 ?? "",
        scrapeInterval: e.scrapeIntervalMs !== undefined ? durationFromMs(e.scrapeIntervalMs) : undefined,
        scrapeTimeout: e.scrapeTimeoutMs !== undefined ? durationFromMs(e.scrapeTimeoutMs) : undefined,
        restartPolicy: e.restartPolicy ?? "",
        inheritEnv: e.inheritEnv ?? false,
        noMetrics: e.noMetrics ?? false,
        livenessFailures: e.livenessFailures,
        healthInterval: e.healthIntervalMs !== undefined ? durationFromMs(e.healthIntervalMs) : undefined,
        maxMemoryBytes: e.maxMemoryBytes !== undefined ? BigInt(e.maxMemoryBytes) : undefined,
        maxPids: e.maxPids,
      }),
    });
  }
  return out;
}

/** The fields that are set, so that spreading them does not erase a catalog entry's. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function firstLine(s: string): string {
  return s.split("\n")[0].trim();
}
