// `plugprom start <name> [flags] [-- <command> [args...]]`: checks the flags into a
// StartRequest and asks the daemon to launch it; returns once the instance is RUNNING.
import { isAbsolute, resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Command } from "@commander-js/extra-typings";
import { MetricsTransport, StartRequestSchema, type StartRequest } from "../../shared/gen/plugprom/v1/control_pb.js";
import { checkArgs, checkEnv, checkInstanceName, checkLabels } from "../../shared/names.js";
import { usageError } from "../errors.js";
import type { Factory, Run, Seams } from "../factory.js";
import { collect, keyValues, memoryLimit, nonNegativeInt, oneOf, optionalDuration, positiveInt, requestDuration } from "../flags.js";
import { checkSupervisionSettings, MAX_LIVENESS_FAILURES, MAX_PIDS_LIMIT } from "../../shared/plugin-entry.js";
import { renderPlugin } from "../output.js";

export interface StartOptions {
  /** Everything the daemon is asked for, checked; unset fields leave the daemon's defaults. */
  request: StartRequest;
  json: boolean;
}

/** The command and its flags, without an action; their types are inferred from here. */
function declareStart() {
  return new Command("start")
    .description("launch a plugin instance; returns once it is RUNNING")
    .argument("<name>", "instance name")
    .argument("[command...]", "command and arguments, after --")
    .option("--plugin <entry|path>", "catalog entry or executable path")
    .option("--label <k=v>", "target label (repeatable)", collect, [])
    .option("--env <K=V>", "environment variable for the plugin (repeatable)", collect, [])
    .option("--magic-cookie <K=V>", "go-plugin magic cookie (default PLUGPROM_PLUGIN=plugprom)")
    .option("--protocol-version <n>", "app protocol version offered (repeatable, default 1)", collect, [])
    .option("--metrics-transport <unix|tcp>", "where the plugin serves its metrics (default unix)")
    .option("--start-timeout <duration>", "handshake and health deadline (default: the daemon's)")
    .option("--no-auto-mtls", "no go-plugin AutoMTLS for this instance")
    .option("--sha256 <hex>", "refuse to run the executable unless its SHA-256 matches")
    .option("--restart <policy>", "always, on-failure (default) or never")
    .option("--inherit-env", "give the plugin the daemon's whole environment, not the minimal one", false)
    .option("--no-metrics", "the plugin serves no metrics; its target serves its process_* metrics from /proc")
    .option("--scrape-interval <duration>", "this target's Prometheus scrape interval (__scrape_interval__)")
    .option("--scrape-timeout <duration>", "this target's Prometheus scrape timeout (__scrape_timeout__)")
    .option("--liveness-failures <n>", "failed health checks in a row that get it SIGKILLed and restarted; 0: never (default: the daemon's)")
    .option("--health-interval <duration>", "how often it is health-checked, 100ms to 1h (default: the daemon's)")
    .option("--max-memory <size>", "restart it when its process group's resident memory stays above this, e.g. 256MiB; 0 for none (default: the daemon's)")
    .option("--max-pids <n>", "processes its cgroup may hold; 0 for none (default: the daemon's)");
}

type StartFlags = ReturnType<ReturnType<typeof declareStart>["opts"]>;

export function newStartCommand(f: Factory, runF: Run<StartOptions> = runStart) {
  return declareStart().action((name, command, flags) => runF({ request: startRequest(name, command, flags, f.cwd()), json: f.globals().json }, f.seams()));
}

/** Paths are made absolute against `cwd`: the daemon runs in another directory than the user. */
export function startRequest(name: string, args: readonly string[], flags: StartFlags, cwd: string): StartRequest {
  const problem = checkInstanceName(name);
  if (problem) throw usageError(problem);
  const labels = keyValues("--label", flags.label);
  const env = keyValues("--env", flags.env);
  const invalid = checkLabels(labels) ?? checkEnv(env) ?? checkArgs(args);
  if (invalid) throw usageError(invalid);
  if (labels.plugin !== undefined) throw usageError('--label plugin=…: "plugin" is set by plugprom to the instance name; choose another label name');

  const [magicCookieKey, magicCookieValue] = flags.magicCookie === undefined ? ["", ""] : Object.entries(keyValues("--magic-cookie", [flags.magicCookie]))[0];
  const protocolVersions = flags.protocolVersion.map((v) => positiveInt("--protocol-version", v, 999_999_999));
  const transport = flags.metricsTransport === undefined ? undefined : oneOf("--metrics-transport", flags.metricsTransport, ["unix", "tcp"]);
  if (flags.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(flags.sha256)) throw usageError("--sha256: expected 64 hex characters");
  let plugin = flags.plugin ?? "";
  if (plugin.includes("/") && !isAbsolute(plugin)) plugin = resolve(cwd, plugin);
  const command = [...args];
  if (plugin === "" && command.length > 0 && command[0].includes("/") && !isAbsolute(command[0])) command[0] = resolve(cwd, command[0]);
  const startTimeout = requestDuration(optionalDuration("--start-timeout", flags.startTimeout));
  const restartPolicy = flags.restart === undefined ? "" : oneOf("--restart", flags.restart, ["always", "on-failure", "never"]);
  const scrapeInterval = requestDuration(optionalDuration("--scrape-interval", flags.scrapeInterval));
  const scrapeTimeout = requestDuration(optionalDuration("--scrape-timeout", flags.scrapeTimeout));
  const livenessFailures = flags.livenessFailures === undefined ? undefined : nonNegativeInt("--liveness-failures", flags.livenessFailures, MAX_LIVENESS_FAILURES);
  const healthIntervalMs = optionalDuration("--health-interval", flags.healthInterval);
  const [badInterval] = checkSupervisionSettings(undefined, healthIntervalMs);
  if (badInterval) throw usageError(`--health-interval ${flags.healthInterval}: ${badInterval[1]}`);
  const maxMemoryBytes = flags.maxMemory === undefined ? undefined : BigInt(memoryLimit("--max-memory", flags.maxMemory));
  const maxPids = flags.maxPids === undefined ? undefined : nonNegativeInt("--max-pids", flags.maxPids, MAX_PIDS_LIMIT);

  return create(StartRequestSchema, {
    name,
    plugin,
    command,
    labels,
    env,
    magicCookieKey,
    magicCookieValue,
    protocolVersions,
    metricsTransport: transport === "unix" ? MetricsTransport.UNIX : transport === "tcp" ? MetricsTransport.TCP : MetricsTransport.UNSPECIFIED,
    workingDir: cwd,
    startTimeout,
    // Unset (not true) unless turned off: AutoMTLS is the daemon's default to keep.
    autoMtls: flags.autoMtls ? undefined : false,
    sha256: flags.sha256?.toLowerCase() ?? "",
    restartPolicy,
    inheritEnv: flags.inheritEnv,
    noMetrics: !flags.metrics,
    scrapeInterval,
    scrapeTimeout,
    livenessFailures,
    healthInterval: requestDuration(healthIntervalMs),
    maxMemoryBytes,
    maxPids,
  });
}

export async function runStart(o: StartOptions, { client, io, call }: Seams): Promise<void> {
  const { plugin } = await client.start(o.request, call);
  await io.out(renderPlugin(plugin!, o.json, io));
}
