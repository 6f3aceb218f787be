// Finds processes by what the daemon put in their environment: every plugin and every child
// it spawns inherits PLUGIN_UNIX_SOCKET_DIR=<state-dir>/sockets and PLUGPROM_INSTANCE=<name>,
// so a scan of /proc tells whether anything a daemon started is still alive, and for which
// instance, whatever its pid or process group. Zombies count as dead.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface PluginProcessInfo {
  pid: number;
  /** PLUGPROM_INSTANCE from its environment ("" when absent). */
  instance: string;
  /** Process group: the plugin's leader pid for the plugin and everything it started. */
  pgid: number;
}

/** Every live (non-zombie) process whose environment marks it as started by this state dir. */
export function pluginProcesses(stateDir: string): PluginProcessInfo[] {
  const marker = `PLUGIN_UNIX_SOCKET_DIR=${join(stateDir, "sockets")}`;
  const found: PluginProcessInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string[];
    let stat: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (!environ.includes(marker) || fields[0] === "Z") continue;
    const instance = environ.find((e) => e.startsWith("PLUGPROM_INSTANCE="))?.slice("PLUGPROM_INSTANCE=".length) ?? "";
    found.push({ pid: Number(entry), instance, pgid: Number(fields[2]) });
  }
  return found;
}

export function processesStartedBy(stateDir: string): number[] {
  return pluginProcesses(stateDir).map((p) => p.pid);
}

/** Kills whatever a test's daemon left behind, so a failing test still reaps everything. */
export function killProcessesStartedBy(stateDir: string): void {
  for (const pid of processesStartedBy(stateDir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}

/** Process groups per instance: more than one group for a name means two copies run. */
export function groupsByInstance(stateDir: string): Map<string, Set<number>> {
  const groups = new Map<string, Set<number>>();
  for (const p of pluginProcesses(stateDir)) {
    const set = groups.get(p.instance) ?? new Set<number>();
    set.add(p.pgid);
    groups.set(p.instance, set);
  }
  return groups;
}
