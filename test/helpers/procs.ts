// Finds processes by what the daemon put in their environment: every plugin and every child
// it spawns inherits PLUGIN_UNIX_SOCKET_DIR=<state-dir>/sockets, so a scan of /proc tells
// whether anything a daemon started is still alive, whatever its pid or process group.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export function processesStartedBy(stateDir: string): number[] {
  const marker = `PLUGIN_UNIX_SOCKET_DIR=${join(stateDir, "sockets")}`;
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, "utf8");
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    if (environ.split("\0").includes(marker) && !isZombie(entry)) pids.push(Number(entry));
  }
  return pids;
}

function isZombie(pid: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
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
