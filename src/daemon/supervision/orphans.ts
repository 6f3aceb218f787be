// Processes of this state dir that no instance owns: a plugin whose start was cut off by the
// daemon's death before its identity was saved, or a second copy a crash left behind. Every
// plugin (and everything it starts) carries PLUGPROM_DAEMON_STATE_DIR and PLUGPROM_INSTANCE in its
// environment, so they are found in /proc whatever their pid or parent, and stopped before
// a restored daemon starts anything again.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "../log.js";
import { isSameProcess, parseProcStat } from "../proc.js";

export interface MarkedProcess {
  pid: number;
  ppid: number;
  pgrp: number;
  startTicks: string;
  /** PLUGPROM_INSTANCE: the instance it was started for. */
  instance: string;
}

/**
 * Every live process whose environment says this state dir started it for an instance: both
 * PLUGPROM_INSTANCE and the state dir (PLUGPROM_DAEMON_STATE_DIR, or the sockets directory
 * in PLUGIN_UNIX_SOCKET_DIR for plugins an older daemon started). The daemon itself and its
 * ancestors never are, whatever their environment says.
 */
export async function scanMarkedProcesses(stateDir: string): Promise<MarkedProcess[]> {
  const markers = [`PLUGPROM_DAEMON_STATE_DIR=${stateDir}`, `PLUGIN_UNIX_SOCKET_DIR=${join(stateDir, "sockets")}`];
  const mine = await ancestors(process.pid);
  const found: MarkedProcess[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || mine.has(Number(entry))) continue;
    try {
      const environ = (await readFile(`/proc/${entry}/environ`, "latin1")).split("\0");
      const instance = environ.find((e) => e.startsWith("PLUGPROM_INSTANCE="))?.slice("PLUGPROM_INSTANCE=".length);
      if (!instance || !environ.some((e) => markers.includes(e))) continue;
      const st = parseProcStat(await readFile(`/proc/${entry}/stat`, "utf8"));
      if (st.state === "Z") continue; // dead, waiting for its parent (or init) to reap it
      found.push({ pid: st.pid, ppid: st.ppid, pgrp: st.pgrp, startTicks: st.startTicks, instance });
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}

/** `pid` and every process above it, up to init. */
async function ancestors(pid: number): Promise<Set<number>> {
  const chain = new Set<number>();
  for (let p = pid; p > 1 && !chain.has(p) && chain.size < 256; ) {
    chain.add(p);
    try {
      p = parseProcStat(await readFile(`/proc/${p}/stat`, "utf8")).ppid;
    } catch {
      break;
    }
  }
  return chain;
}

/**
 * The processes none of `owned` (plugin leader pids) accounts for: not in an owned process
 * group, and not descended from an owned process through other marked processes.
 */
export function unownedProcesses(processes: readonly MarkedProcess[], owned: ReadonlySet<number>): MarkedProcess[] {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const isOwned = (p: MarkedProcess): boolean => {
    for (let q: MarkedProcess | undefined = p, hops = 0; q && hops < 64; q = byPid.get(q.ppid), hops++) {
      if (owned.has(q.pid) || owned.has(q.pgrp)) return true;
    }
    return false;
  };
  return processes.filter((p) => !isOwned(p));
}

/**
 * Kills (SIGKILL) every marked process that no owned plugin accounts for, a whole group at a
 * time when its leader is one of them, and waits until they are gone. Returns what it found.
 */
export async function stopOrphans(stateDir: string, owned: ReadonlySet<number>, log: Logger, waitMs = 5_000): Promise<MarkedProcess[]> {
  const orphans = unownedProcesses(await scanMarkedProcesses(stateDir), owned);
  if (orphans.length === 0) return [];
  const leaders = new Set(orphans.filter((p) => p.pid === p.pgrp).map((p) => p.pgrp));
  for (const p of orphans) {
    log.warn("stopping a plugin process no instance owns", { pid: p.pid, instance: p.instance, group: p.pgrp });
    try {
      process.kill(leaders.has(p.pgrp) ? -p.pgrp : p.pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + waitMs;
  while (orphans.some((p) => isSameProcess(p.pid, p.startTicks)) && Date.now() < deadline) await delay(20);
  return orphans;
}
