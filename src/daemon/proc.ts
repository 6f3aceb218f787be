// Reads /proc/<pid>/stat: a process's start time (to tell a live plugin from a recycled pid
// after a daemon restart) and its resource usage (for process metrics).
import { readdir, readFile } from "node:fs/promises";
import { readdirSync, readFileSync } from "node:fs";

export interface ProcStat {
  pid: number;
  /** One-letter state: R, S, D, Z, T… */
  state: string;
  ppid: number;
  /** Process group id: a plugin's leader pid for the plugin and everything it started. */
  pgrp: number;
  /** Start time in clock ticks since boot: with the pid, a unique process identity. */
  startTicks: string;
  utimeTicks: number;
  stimeTicks: number;
  threads: number;
  vsizeBytes: number;
  rssPages: number;
}

/** Parses the content of /proc/<pid>/stat (the command name may contain spaces and parens). */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  const pid = Number(text.slice(0, text.indexOf(" ")));
  // Fields after the command name, numbered from 3 (state) as in proc(5).
  const f = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number) => f[n - 3];
  return {
    pid,
    state: field(3),
    ppid: Number(field(4)),
    pgrp: Number(field(5)),
    utimeTicks: Number(field(14)),
    stimeTicks: Number(field(15)),
    threads: Number(field(20)),
    startTicks: field(22),
    vsizeBytes: Number(field(23)),
    rssPages: Number(field(24)),
  };
}

/** Off the event loop (the thread pool), for scans that may read many processes. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

export function readProcStatSync(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Clock ticks per second and page size: Linux's fixed values on every platform Node runs on here. */
const CLOCK_TICKS = 100;
const PAGE_SIZE = 4096;

/** User plus system CPU time, in seconds. */
export function cpuSeconds(stat: ProcStat): number {
  return (stat.utimeTicks + stat.stimeTicks) / CLOCK_TICKS;
}

export function residentBytes(stat: ProcStat): number {
  return stat.rssPages * PAGE_SIZE;
}

/** When the process started, in seconds since the epoch, given the boot time (bootTimeSeconds). */
export function startTimeSeconds(stat: ProcStat, bootTime: number): number {
  return bootTime + Number(stat.startTicks) / CLOCK_TICKS;
}

/** Seconds since the epoch at boot (btime in /proc/stat), for process start times. */
export function bootTimeSeconds(): number {
  try {
    return Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Open file descriptors of a process, or undefined when /proc does not let us look. */
export function openFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/**
 * Processes read per turn of the event loop by mapInSlices: a stat and an fd directory take
 * about 35 µs synchronously, so a scrape waiting behind a pass over thousands of plugins waits
 * about a millisecond, not the whole pass. (Through fs/promises the same pass cost seven times
 * the CPU: a threadpool round trip and a promise per open, fstat, read and close.)
 */
const PROC_SLICE = 25;

/** fn over every item, synchronously in slices, yielding to the event loop between slices. */
export async function mapInSlices<T, R>(items: readonly T[], fn: (item: T) => R): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % PROC_SLICE === 0) await new Promise(setImmediate);
    out.push(fn(items[i]));
  }
  return out;
}

/** True while `pid` is the same live (non-zombie) process that started at `startTicks`. */
export function isSameProcess(pid: number, startTicks: string): boolean {
  const st = readProcStatSync(pid);
  return st !== undefined && st.startTicks === startTicks && st.state !== "Z";
}

/** Stat files read at once by residentBytesByGroup: bounded, so a big /proc does not flood the thread pool. */
const SCAN_CONCURRENCY = 32;

/**
 * Resident memory of every process group, summed over its live members, in one pass over
 * /proc with asynchronous reads (off the event loop's critical path).
 */
export async function residentBytesByGroup(): Promise<Map<number, number>> {
  const pids = (await readdir("/proc")).filter((e) => /^\d+$/.test(e)).map(Number);
  const groups = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < pids.length) {
      const st = await readProcStat(pids[next++]);
      if (st && st.state !== "Z") groups.set(st.pgrp, (groups.get(st.pgrp) ?? 0) + residentBytes(st));
    }
  };
  await Promise.all(Array.from({ length: SCAN_CONCURRENCY }, worker));
  return groups;
}
