// Converging the registry to a plugins file: the one implementation behind the Apply RPC
// (`plugprom apply` and `plugprom diff`) and `plugprom daemon --apply`. Each instance is
// handled under the registry's per-name serialization, a few at a time.
import { ConnectError } from "@connectrpc/connect";
import { dirname } from "node:path";
import { errorMessage } from "../../shared/errors.js";
import { invalid } from "../errors.js";
import { formatSize } from "../../shared/size.js";
import { formatPromDuration } from "../../shared/duration.js";
import { instanceRequests, parsePluginsFile, PluginsFileError } from "../../shared/plugins-file.js";
import type { Problem } from "../../shared/plugin-entry.js";
import type { InstanceSpec } from "../spec.js";
import type { Catalog } from "./catalog.js";
import type { Registry } from "./registry.js";

export type ApplyActionName = "created" | "updated" | "unchanged" | "deleted" | "failed";

export interface InstanceOutcome {
  name: string;
  action: ApplyActionName;
  /** For "failed": what was attempted, and why it failed. */
  attempted?: Exclude<ApplyActionName, "failed" | "unchanged">;
  error?: string;
  /** For an update: the fields that differ, "env.MODE fast -> slow". */
  changes: string[];
}

export interface ConvergeOptions {
  /** The file's absolute path: the origin recorded on what it creates or updates. */
  origin: string;
  /** Which instances the file does not name are stopped: none, all, or those it created. */
  prune: "none" | "all" | "origin";
  dryRun: boolean;
}

/** Instances started, restarted or stopped at once; the rest wait their turn. */
export const APPLY_CONCURRENCY = 4;

/**
 * Parses `text` and resolves every instance into the spec `plugprom start` would give it.
 * Any problem, with the file or with one instance, refuses the whole file: INVALID_ARGUMENT
 * with one problem per line.
 */
export function desiredSpecs(registry: Registry, catalog: Catalog, text: string, path: string): Map<string, InstanceSpec> {
  const dir = dirname(path);
  const problems: Problem[] = [];
  const specs = new Map<string, InstanceSpec>();
  try {
    const file = parsePluginsFile(text, dir, path);
    for (const [name, { request, source }] of instanceRequests(file, dir, catalog, problems)) {
      try {
        specs.set(name, { ...registry.resolve(request), source });
      } catch (err) {
        problems.push({ path: `instances.${name}`, message: errorMessage(err) });
      }
    }
  } catch (err) {
    if (!(err instanceof PluginsFileError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0) throw invalid(new PluginsFileError(path, problems).lines().join("\n"));
  return specs;
}

/** Makes the registry match `desired`; returns one outcome per instance, in name order. */
export async function converge(registry: Registry, desired: ReadonlyMap<string, InstanceSpec>, opts: ConvergeOptions): Promise<InstanceOutcome[]> {
  const tasks: Array<() => Promise<InstanceOutcome>> = [];
  for (const [name, spec] of desired) {
    tasks.push(() =>
      registry.serialized(name, "being applied", async () => {
        const current = registry.get(name);
        if (!current) return act(name, "created", [], opts, () => registry.launchNew(spec, opts.origin));
        const changes = specChanges(current.spec, spec);
        if (changes.length === 0) {
          if (!opts.dryRun) await registry.adopt(name, opts.origin);
          return { name, action: "unchanged", changes };
        }
        return act(name, "updated", changes, opts, () => registry.replace(spec, opts.origin));
      }),
    );
  }
  for (const sup of registry.list()) {
    if (desired.has(sup.name)) continue;
    if (opts.prune === "none" || (opts.prune === "origin" && sup.origin !== opts.origin)) continue;
    const name = sup.name;
    tasks.push(() =>
      registry.serialized(name, "being applied", async () => {
        if (!registry.get(name)) return { name, action: "deleted", changes: [] }; // stopped meanwhile
        return act(name, "deleted", [], opts, () => registry.stop(name, undefined, { locked: true }));
      }),
    );
  }
  const outcomes = await pool(tasks, APPLY_CONCURRENCY);
  return outcomes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function act(
  name: string,
  action: "created" | "updated" | "deleted",
  changes: string[],
  opts: ConvergeOptions,
  work: () => Promise<unknown>,
): Promise<InstanceOutcome> {
  if (opts.dryRun) return { name, action, changes };
  try {
    await work();
    return { name, action, changes };
  } catch (err) {
    return { name, action: "failed", attempted: action, error: err instanceof ConnectError ? err.rawMessage : errorMessage(err), changes };
  }
}

/** Runs the tasks, at most `limit` at once; results in task order. */
async function pool<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/**
 * How two specs differ, field by field, in the plugins file's terms; [] when they are the
 * same instance. Stable: key order does not matter, a default written out equals the default
 * left out (both specs are resolved), durations compare in milliseconds (`30s` = `30000ms`),
 * and an absent flag equals false. Fields this function does not know (added later) are
 * compared too, by value.
 */
export function specChanges(from: InstanceSpec, to: InstanceSpec): string[] {
  const a = fileView(from);
  const b = fileView(to);
  const changes: string[] = [];
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[key];
    const y = b[key];
    if (canonical(x) !== canonical(y)) changes.push(`${key} ${show(x, y)} -> ${show(y, x)}`);
  }
  return changes;
}

/** A spec flattened into the file's field names: env and labels one key each. */
function fileView(spec: InstanceSpec): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  const durations: Record<string, string> = { scrapeIntervalMs: "scrapeInterval", scrapeTimeoutMs: "scrapeTimeout", startTimeoutMs: "startTimeout", healthIntervalMs: "healthInterval" };
  const renamed: Record<string, string> = {
    source: "plugin",
    magicCookieKey: "handshake.magicCookieKey",
    magicCookieValue: "handshake.magicCookieValue",
    protocolVersions: "handshake.protocolVersions",
    restartPolicy: "restart",
  };
  for (const [key, value] of Object.entries(spec)) {
    if (key === "name" || key === "greetAfterStart") continue; // the key itself; follows from the command
    if (key === "env" || key === "labels") {
      for (const [k, v] of Object.entries(value as Record<string, string>)) view[`${key}.${k}`] = v;
    } else if (key in durations) {
      if (value !== undefined) view[durations[key]] = formatPromDuration(value as number);
    } else if (key === "maxMemoryBytes") {
      // 0 ("none") is said as much as a size: it overrides the daemon's default.
      if (value !== undefined) view.maxMemory = value === 0 ? "0" : formatSize(value as number);
    } else {
      view[renamed[key] ?? key] = value;
    }
  }
  return view;
}

/** Absent, undefined, false and "" all mean "not set"; objects compare with sorted keys. */
function canonical(v: unknown): string {
  if (v === undefined || v === false || v === "" || v === null) return "";
  return JSON.stringify(v, (_k, value: unknown) =>
    typeof value === "object" && value !== null && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([p], [q]) => (p < q ? -1 : 1)))
      : value,
  );
}

/** `other`: the value on the other side, so that an absent flag shows as false. */
function show(v: unknown, other: unknown): string {
  if (canonical(v) === "") return typeof v === "boolean" || typeof other === "boolean" ? "false" : "(none)";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The last apply that acted (not a dry run), for `plugprom status`. */
export interface LastApply {
  file: string;
  time: Date;
  ok: boolean;
  error: string;
}

/** Applies plugins files to one registry, and remembers how the last apply went. */
export class Applier {
  last: LastApply | undefined;
  private ready: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly registry: Registry,
    private readonly catalog: Catalog,
  ) {}

  /** Applies wait for `p` (the daemon's restore of instances.json): they compare against what runs. */
  holdUntil(p: Promise<unknown>): void {
    this.ready = p.catch(() => undefined);
  }

  /** Validates `text` (the file at `path`) and converges to it; INVALID_ARGUMENT for a bad file. */
  async apply(text: string, path: string, opts: { prune: ConvergeOptions["prune"]; dryRun: boolean }): Promise<InstanceOutcome[]> {
    await this.ready;
    let outcomes: InstanceOutcome[];
    try {
      outcomes = await converge(this.registry, desiredSpecs(this.registry, this.catalog, text, path), { ...opts, origin: path });
    } catch (err) {
      if (!opts.dryRun) this.last = { file: path, time: new Date(), ok: false, error: errorMessage(err) };
      throw err;
    }
    if (!opts.dryRun) {
      const failed = outcomes.filter((o) => o.action === "failed");
      this.last = { file: path, time: new Date(), ok: failed.length === 0, error: failed.map((o) => `${o.name}: ${o.error}`).join("; ") };
    }
    return outcomes;
  }
}
