// A plugin's OS process, whether the daemon spawned it or found it again after a restart:
// its pid and start time, liveness, exit, and signals to its process group. Output goes to
// files, not pipes, so that a plugin outlives the daemon (a pipe whose reader died would
// kill it with SIGPIPE on its next log line).
import { spawn } from "node:child_process";
import { constants as fsConstants, readdirSync, readFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { isSameProcess, readProcStatSync } from "../proc.js";

export interface ExitStatus {
  /** null when the process was not our child (reattached): its status is unknowable. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface PluginProcess {
  readonly pid: number;
  /** Start time in clock ticks (from /proc): with the pid, the process's identity. */
  readonly startTicks: string;
  alive(): boolean;
  readonly exited: Promise<ExitStatus>;
  /** Signals the whole process group (the plugin is its leader); ESRCH is ignored. */
  signalGroup(signal: NodeJS.Signals): void;
  /** Stops watching (a reattached process is polled); the process itself is untouched. */
  detach(): void;
}

export interface SpawnOptions {
  cwd: string;
  env: Record<string, string>;
  stdoutPath: string;
  stderrPath: string;
  /**
   * Called synchronously as soon as the process exists, before the daemon does anything
   * else (the plugin has just exec'd): the moment to move it into its cgroup.
   */
  onSpawned?: (pid: number) => void;
}

/** Spawns in a new session and process group; resolves once the process exists. */
export async function spawnPlugin(command: string, args: string[], o: SpawnOptions): Promise<PluginProcess> {
  // Fresh files per start (the daemon reads them from the beginning for the handshake), in
  // append mode so that the daemon's rotation can truncate them under the running plugin.
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_APPEND;
  const opened = await Promise.allSettled([open(o.stdoutPath, flags, 0o600), open(o.stderrPath, flags, 0o600)]);
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    // The one that did open is closed here, not left to the GC (EMFILE, ENOSPC on a new inode).
    await Promise.all(opened.map((r) => (r.status === "fulfilled" ? r.value.close() : undefined)));
    throw failed.reason;
  }
  const [out, err] = opened.map((r) => (r as PromiseFulfilledResult<FileHandle>).value);
  try {
    const child = spawn(command, args, { cwd: o.cwd, env: o.env, detached: true, stdio: ["ignore", out.fd, err.fd] });
    if (child.pid !== undefined) o.onSpawned?.(child.pid);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    // The daemon may exit (upgrade, --keep-plugins) while the plugin runs on.
    child.unref();
    const pid = child.pid!;
    const exited = new Promise<ExitStatus>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    let done = false;
    void exited.then(() => (done = true));
    return {
      pid,
      startTicks: readProcStatSync(pid)?.startTicks ?? "",
      alive: () => !done,
      exited,
      signalGroup: (signal) => signalGroup(pid, signal),
      detach: () => undefined,
    };
  } finally {
    await out.close();
    await err.close();
  }
}

/**
 * Adopts a plugin a previous daemon started. It is not our child, so its exit is noticed by
 * polling /proc (pid + start time, so a recycled pid is never mistaken for it).
 */
export function attachPlugin(pid: number, startTicks: string, pollMs = 250, marks: readonly string[] = []): PluginProcess {
  let resolveExit!: (s: ExitStatus) => void;
  const exited = new Promise<ExitStatus>((r) => (resolveExit = r));
  let done = false;
  /**
   * Whoever sees it gone first (the poll, or alive()) reports the exit: were alive() false
   * while `exited` waits for the next poll, a stop or kill would be over before the exit's
   * clean-up ran, and that clean-up (unlinking the metrics socket) would hit the next
   * instance of the name.
   */
  const stillAlive = (): boolean => {
    if (done) return false;
    if (isSameProcess(pid, startTicks)) return true;
    clearInterval(timer);
    done = true;
    resolveExit({ code: null, signal: null });
    return false;
  };
  const timer = setInterval(stillAlive, pollMs);
  timer.unref();
  return {
    pid,
    startTicks,
    alive: stillAlive,
    exited,
    signalGroup: (signal) => {
      if (isSameProcess(pid, startTicks)) signalGroup(pid, signal);
      // Its leader gone, the group may still hold what it started (a command that does not
      // exec). It is not our child, so no exit told us when its pid was freed: rather than
      // signal the group number blindly, signal the members whose environment names them ours.
      else if (marks.length > 0) for (const member of markedGroupMembers(pid, marks)) signalProcess(member, signal);
    },
    detach: () => clearInterval(timer),
  };
}

/** Live processes of process group `pgid` whose environment holds every one of `marks` (KEY=VALUE). */
function markedGroupMembers(pgid: number, marks: readonly string[]): number[] {
  const members: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const st = readProcStatSync(Number(entry));
    if (!st || st.pgrp !== pgid || st.state === "Z") continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "latin1").split("\0");
      if (marks.every((m) => environ.includes(m))) members.push(st.pid);
    } catch {
      // exited meanwhile
    }
  }
  return members;
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: gone already
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}
