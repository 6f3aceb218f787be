// An instance as the control API shows it: the PluginInfo message built from a supervisor's
// read-only state, plus its process's CPU and memory read from /proc at the time of asking.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { formatAddress } from "../../shared/address.js";
import { formatPromDuration } from "../../shared/duration.js";
import { PluginInfoSchema, type PluginInfo } from "../../shared/gen/plugprom/v1/control_pb.js";
import { cpuSeconds, readProcStatSync, residentBytes } from "../proc.js";
import type { Supervisor } from "../supervision/supervisor.js";

export function pluginInfo(sup: Supervisor, lastScrapeSeconds?: number): PluginInfo {
  const { spec, handshake: h } = sup;
  const stat = sup.pid ? readProcStatSync(sup.pid) : undefined;
  const { livenessFailures, healthIntervalMs } = sup.supervision;
  return create(PluginInfoSchema, {
    name: sup.name,
    state: sup.state,
    pid: sup.pid ?? 0,
    command: spec.command,
    args: [...sup.args],
    labels: { ...spec.labels },
    startedAt: sup.startedAt ? timestampFromDate(sup.startedAt) : undefined,
    stoppedAt: sup.stoppedAt ? timestampFromDate(sup.stoppedAt) : undefined,
    restarts: sup.restarts,
    metricsEndpoint: sup.metricsEndpoint ? formatAddress(sup.metricsEndpoint) : "",
    lastError: sup.lastError,
    lastExitCode: sup.lastExitCode,
    lastExitSignal: sup.lastExitSignal,
    protocolVersion: h?.appVersion ?? 0,
    rpcAddress: h ? `${h.network}:${h.address}` : "",
    rpcProtocol: h?.protocol ?? "",
    plugin: spec.source,
    healthy: sup.healthy,
    workingDir: spec.workingDir,
    scrapeInterval: spec.scrapeIntervalMs ? formatPromDuration(spec.scrapeIntervalMs) : "",
    scrapeTimeout: spec.scrapeTimeoutMs ? formatPromDuration(spec.scrapeTimeoutMs) : "",
    restartPolicy: spec.restartPolicy,
    nextRestartAt: sup.nextRestartAt ? timestampFromDate(sup.nextRestartAt) : undefined,
    cpuSeconds: stat ? cpuSeconds(stat) : 0,
    rssBytes: stat ? BigInt(residentBytes(stat)) : 0n,
    lastScrapeSeconds: lastScrapeSeconds ?? 0,
    livenessFailures,
    healthInterval: formatPromDuration(healthIntervalMs),
    failedHealthChecks: sup.failedHealthChecks,
    livenessRestarts: sup.livenessRestarts,
    memoryLimitBytes: BigInt(sup.limits.memoryBytes),
    memoryEnforcement: sup.memoryEnforcement,
    maxPids: sup.limits.pids,
    groupRssBytes: BigInt(sup.groupRssBytes ?? 0),
  });
}
