// What the benchmarks read from /proc about the processes they measure.
import { readFileSync } from "node:fs";
import { cpuSeconds as statCpuSeconds, readProcStatSync } from "../src/daemon/proc.js";

/** User + system CPU seconds of a process, all its threads. */
export function cpuSeconds(pid: number): number {
  const stat = readProcStatSync(pid);
  if (!stat) throw new Error(`process ${pid} is gone`);
  return statCpuSeconds(stat);
}

/**
 * Seconds the process's main thread (the event loop, or nginx's worker) spent runnable but
 * waiting for a CPU (/proc/<pid>/schedstat): time the machine's other load took from it.
 */
export function runQueueSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[1]) / 1e9;
}
