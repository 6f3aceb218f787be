// `plugprom start`: builds a StartRequest from flags and asks the daemon to launch it.
import { isAbsolute, resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { MetricsTransport, StartRequestSchema, type StartRequest } from "../../shared/gen/plugprom/v1/control_pb.js";
import { parseDuration } from "../../shared/duration.js";
import { checkArgs, checkEnv, checkInstanceName, checkLabels, parseKeyValues } from "../../shared/names.js";
import type { ControlClient } from "../client.js";
import { usageError } from "../errors.js";
import { pluginJson, renderPluginDetails, toJson, type IO } from "../output.js";

export interface StartOptions {
  name: string;
  command: string[];
  plugin?: string;
  label: string[];
  env: string[];
  magicCookie?: string;
  protocolVersion: string[];
  metricsTransport?: string;
  startTimeout?: string;
  autoMtls: boolean;
  sha256?: string;
  scrapeInterval?: string;
  restart?: string;
  inheritEnv?: boolean;
  noMetrics?: boolean;
  scrapeTimeout?: string;
  cwd: string;
  json: boolean;
}

export function buildStartRequest(o: StartOptions): StartRequest {
  const problem = checkInstanceName(o.name);
  if (problem) throw usageError(problem);
  const labels = keyValues("--label", o.label);
  const env = keyValues("--env", o.env);
  const invalid = checkLabels(labels) ?? checkEnv(env) ?? checkArgs(o.command);
  if (invalid) throw usageError(invalid);
  if (labels.plugin !== undefined) throw usageError('--label plugin=…: "plugin" is set by plugprom to the instance name; choose another label name');

  let magicCookieKey = "";
  let magicCookieValue = "";
  if (o.magicCookie !== undefined) {
    const cookie = keyValues("--magic-cookie", [o.magicCookie]);
    [magicCookieKey, magicCookieValue] = Object.entries(cookie)[0];
  }
  const protocolVersions = o.protocolVersion.map((v) => {
    if (!/^[1-9]\d{0,8}$/.test(v)) throw usageError(`--protocol-version ${JSON.stringify(v)}: expected a positive integer`);
    return Number(v);
  });
  let metricsTransport = MetricsTransport.UNSPECIFIED;
  if (o.metricsTransport !== undefined) {
    if (o.metricsTransport === "unix") metricsTransport = MetricsTransport.UNIX;
    else if (o.metricsTransport === "tcp") metricsTransport = MetricsTransport.TCP;
    else throw usageError(`--metrics-transport ${JSON.stringify(o.metricsTransport)}: expected unix or tcp`);
  }
  if (o.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(o.sha256)) throw usageError("--sha256: expected 64 hex characters");
  let plugin = o.plugin ?? "";
  // A path is resolved here: the daemon runs in another directory than the user.
  if (plugin.includes("/") && !isAbsolute(plugin)) plugin = resolve(o.cwd, plugin);
  const command = [...o.command];
  if (plugin === "" && command.length > 0 && command[0].includes("/") && !isAbsolute(command[0])) {
    command[0] = resolve(o.cwd, command[0]);
  }

  return create(StartRequestSchema, {
    name: o.name,
    plugin,
    command,
    labels,
    env,
    magicCookieKey,
    magicCookieValue,
    protocolVersions,
    metricsTransport,
    workingDir: o.cwd,
    startTimeout: o.startTimeout !== undefined ? durationFromMs(duration("--start-timeout", o.startTimeout)) : undefined,
    autoMtls: o.autoMtls ? undefined : false,
    sha256: o.sha256?.toLowerCase() ?? "",
    restartPolicy: restartPolicy(o.restart),
    inheritEnv: o.inheritEnv ?? false,
    noMetrics: o.noMetrics ?? false,
    scrapeInterval: o.scrapeInterval !== undefined ? durationFromMs(duration("--scrape-interval", o.scrapeInterval)) : undefined,
    scrapeTimeout: o.scrapeTimeout !== undefined ? durationFromMs(duration("--scrape-timeout", o.scrapeTimeout)) : undefined,
  });
}

export async function runStart(o: StartOptions, client: ControlClient, io: IO, callOptions: { timeoutMs?: number }): Promise<void> {
  const req = buildStartRequest(o);
  const res = await client.start(req, callOptions);
  const info = res.plugin!;
  await io.out(o.json ? toJson(pluginJson(info)) : renderPluginDetails(info, io));
}

function restartPolicy(text: string | undefined): string {
  if (text === undefined) return "";
  if (!["always", "on-failure", "never"].includes(text)) throw usageError(`--restart ${JSON.stringify(text)}: expected always, on-failure or never`);
  return text;
}

export function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw usageError(`${flag}: ${(err as Error).message}`);
  }
}

function keyValues(flag: string, items: string[]): Record<string, string> {
  try {
    return parseKeyValues(flag, items);
  } catch (err) {
    throw usageError((err as Error).message);
  }
}
