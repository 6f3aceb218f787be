// From what the user asked (a Start request: a catalog entry, a path, a command, or nothing
// for the bundled greeter) to the complete spec a supervisor runs, validated, with every
// setting left out taking its documented default, written once here.
import { isAbsolute } from "node:path";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { MetricsTransport, type StartRequest } from "../../shared/gen/plugprom/v1/control_pb.js";
import { invalid, notFound } from "../errors.js";
import { checkArgs, checkEnv, checkInstanceName, checkLabels } from "../../shared/names.js";
import { bundledGreeterScript } from "../../shared/paths.js";
import { DEFAULT_MAGIC_COOKIE_KEY, DEFAULT_MAGIC_COOKIE_VALUE, DEFAULT_PROTOCOL_VERSIONS } from "../../goplugin/handshake.js";
import { RESTART_POLICIES, type InstanceSpec, type ResourceLimits, type RestartPolicy } from "../spec.js";
import type { Catalog, CatalogEntry } from "./catalog.js";
import { placeholdersIn } from "./template.js";
import { checkResourceLimits, checkScrapeSettings, checkSupervisionSettings } from "../../shared/plugin-entry.js";

/** What a spec is before its name and start timeout are settled. */
type BaseSpec = Omit<InstanceSpec, "name" | "startTimeoutMs">;

/** The default of every per-instance setting that a catalog entry or Start request may leave out. */
export function instanceDefaults(): Pick<
  BaseSpec,
  "magicCookieKey" | "magicCookieValue" | "protocolVersions" | "metricsTransport" | "autoMtls" | "greetAfterStart" | "sha256" | "restartPolicy"
> {
  return {
    magicCookieKey: DEFAULT_MAGIC_COOKIE_KEY,
    magicCookieValue: DEFAULT_MAGIC_COOKIE_VALUE,
    protocolVersions: [...DEFAULT_PROTOCOL_VERSIONS],
    metricsTransport: "unix",
    autoMtls: true,
    greetAfterStart: false,
    sha256: "",
    restartPolicy: "on-failure",
  };
}

/** Turns a Start request into a complete spec: catalog entry, bundled greeter or command. */
export function resolveSpec(req: StartRequest, o: { catalog: Catalog; startTimeoutMs: number }): InstanceSpec {
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
  if (problem) throw invalid(problem);

  let base: BaseSpec;
  let entryStartTimeoutMs: number | undefined;
  const fromCatalog = req.plugin !== "" && !req.plugin.includes("/");
  if (fromCatalog) {
    const entry = o.catalog.get(req.plugin);
    if (!entry) {
      const known = [...o.catalog.keys()];
      throw notFound(`no plugin "${req.plugin}" in the catalog${known.length ? ` (known: ${known.join(", ")})` : " (the daemon was started without --config)"}`);
    }
    base = catalogSpec(entry, req);
    entryStartTimeoutMs = entry.startTimeoutMs;
  } else if (req.plugin !== "") {
    if (!isAbsolute(req.plugin)) throw invalid(`plugin path ${JSON.stringify(req.plugin)} must be absolute`);
    base = commandSpec(req.plugin, req.plugin, req.command, req);
  } else if (req.command.length > 0) {
    base = commandSpec(req.command[0], req.command[0], req.command.slice(1), req);
  } else {
    // The bundled example plugin, run with this very Node.js so no PATH lookup is involved.
    base = { ...commandSpec("", process.execPath, [bundledGreeterScript], req), greetAfterStart: true };
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
    if (!/^[0-9a-f]{64}$/.test(req.sha256)) throw invalid("sha256 must be 64 lower-case hex characters");
    base.sha256 = req.sha256;
  }

  let used;
  try {
    used = placeholdersIn(base.args);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  if (req.metricsTransport === MetricsTransport.TCP) base.metricsTransport = "tcp";
  else if (req.metricsTransport === MetricsTransport.UNIX) base.metricsTransport = "unix";
  else if (used.has("metrics_port")) base.metricsTransport = "tcp"; // a plugin that takes a port gets one

  if (req.inheritEnv) base.inheritEnv = true;
  if (req.noMetrics) base.noMetrics = true;
  if (req.restartPolicy !== "") {
    if (!RESTART_POLICIES.includes(req.restartPolicy as RestartPolicy)) {
      throw invalid(`restart policy ${JSON.stringify(req.restartPolicy)}: expected always, on-failure or never`);
    }
    base.restartPolicy = req.restartPolicy as RestartPolicy;
  }
  if (req.scrapeInterval) base.scrapeIntervalMs = durationMs(req.scrapeInterval);
  if (req.scrapeTimeout) base.scrapeTimeoutMs = durationMs(req.scrapeTimeout);
  const scrapeProblem = checkScrapeSettings(base.scrapeIntervalMs, base.scrapeTimeoutMs);
  if (scrapeProblem) throw invalid(scrapeProblem);
  // Left unset, they stay unset: the daemon's default applies, now and after its restart.
  if (req.livenessFailures !== undefined) base.livenessFailures = req.livenessFailures;
  if (req.healthInterval) base.healthIntervalMs = durationMs(req.healthInterval);
  const [supervisionProblem] = checkSupervisionSettings(base.livenessFailures, base.healthIntervalMs);
  if (supervisionProblem) throw invalid(`${supervisionProblem[0]} ${supervisionProblem[1]}`);

  if (req.maxMemoryBytes !== undefined) base.maxMemoryBytes = Number(req.maxMemoryBytes);
  if (req.maxPids !== undefined) base.maxPids = req.maxPids;
  const limitProblem = checkResourceLimits(base.maxMemoryBytes, base.maxPids);
  if (limitProblem) throw invalid(limitProblem);

  const startTimeoutMs = req.startTimeout ? durationMs(req.startTimeout) : (entryStartTimeoutMs ?? o.startTimeoutMs);
  if (!(startTimeoutMs > 0 && startTimeoutMs <= 10 * 60_000)) throw invalid("start timeout must be between 0 and 10m");
  return { ...base, name: req.name, startTimeoutMs };
}

/** A catalog entry, with the request's command appended and its env and labels on top. */
function catalogSpec(entry: CatalogEntry, req: StartRequest): BaseSpec {
  const { name, command, args, env, labels, workingDir, startTimeoutMs: _, ...settings } = entry;
  const set = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as Partial<BaseSpec>;
  return {
    ...instanceDefaults(),
    ...set,
    source: name,
    command,
    args: [...args, ...req.command],
    env: { ...env, ...req.env },
    labels: { ...labels, ...req.labels },
    workingDir,
  };
}

function commandSpec(source: string, command: string, args: string[], req: StartRequest): BaseSpec {
  if (command === "") throw invalid("empty plugin command");
  return { ...instanceDefaults(), source, command, args, env: { ...req.env }, labels: { ...req.labels }, workingDir: process.cwd() };
}

/** The daemon's defaults for the supervision settings a spec may leave out. */
export interface SupervisionDefaults {
  healthIntervalMs: number;
  livenessFailures: number;
}

/** What an instance is supervised with, its spec's settings first. */
export type SupervisionSettings = SupervisionDefaults;

/**
 * The one place the effective settings are decided: a spec that leaves one out follows the
 * daemon's flag, so a daemon restarted with a new default applies it to that instance.
 */
export function effectiveSupervision(spec: Pick<InstanceSpec, "healthIntervalMs" | "livenessFailures">, defaults: SupervisionDefaults): SupervisionSettings {
  return {
    healthIntervalMs: spec.healthIntervalMs ?? defaults.healthIntervalMs,
    livenessFailures: spec.livenessFailures ?? defaults.livenessFailures,
  };
}

/**
 * The limits an instance runs with: its own, else the daemon's, decided here as the
 * supervision settings are (an instance that sets none follows a daemon restarted with
 * another default).
 */
export function effectiveLimits(spec: Pick<InstanceSpec, "maxMemoryBytes" | "maxPids">, daemon: ResourceLimits): ResourceLimits {
  return { memoryBytes: spec.maxMemoryBytes ?? daemon.memoryBytes, pids: spec.maxPids ?? daemon.pids };
}
