// The Prometheus HTTP SD document: one target group for the daemon and one per advertised
// plugin instance, all pointing at the daemon's advertised address. Pure functions.
import { PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import { formatPromDuration } from "../../shared/duration.js";
import type { InstanceView } from "../instance.js";

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}


export function buildTargetGroups(instances: readonly InstanceView[], advertiseAddr: string, opts: { scheme?: "https" } = {}): TargetGroup[] {
  // Served over TLS, every target (the daemon's own HTTP server) is scraped over https.
  const scheme: Record<string, string> = opts.scheme ? { __scheme__: opts.scheme } : {};
  const groups: TargetGroup[] = [
    { targets: [advertiseAddr], labels: { __metrics_path__: "/metrics", ...scheme, __meta_plugprom_role: "daemon" } },
  ];
  const advertised = instances.filter((i) => i.advertised).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const inst of advertised) {
    const scrape: Record<string, string> = {};
    if (inst.scrapeIntervalMs) scrape.__scrape_interval__ = formatPromDuration(inst.scrapeIntervalMs);
    if (inst.scrapeTimeoutMs) scrape.__scrape_timeout__ = formatPromDuration(inst.scrapeTimeoutMs);
    groups.push({
      targets: [advertiseAddr],
      labels: {
        ...scrape,
        // User labels first: the reserved ones below always win.
        ...inst.labels,
        __metrics_path__: `/plugins/${inst.name}/metrics`,
        ...scheme,
        __meta_plugprom_plugin: inst.name,
        __meta_plugprom_role: "plugin",
        __meta_plugprom_state: PluginState[inst.state].toLowerCase(),
        // Every plugin shares the daemon's address (and so `instance`); this keeps their
        // series apart in Prometheus.
        plugin: inst.name,
      },
    });
  }
  return groups;
}

/** The exact bytes served on /sd_config and returned by the Targets RPC. */
export function renderSdDocument(groups: readonly TargetGroup[]): string {
  return `${JSON.stringify(groups)}\n`;
}
