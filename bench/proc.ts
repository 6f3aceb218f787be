// What the benchmarks read from /proc about the processes they measure.
import { readdirSync, readFileSync } from "node:fs";
import { CLOCK_TICKS, readProcStatSync } from "../src/daemon/proc.js";

/** User + system CPU seconds of a process, all its threads. */
export function cpuSeconds(pid: number): number {
  const stat = readProcStatSync(pid);
  if (!stat) throw new Error(`process ${pid} is gone`);
  return (stat.utimeTicks + stat.stimeTicks) / CLOCK_TICKS;
}

/** Seconds the process's threads spent runnable but waiting for a CPU (/proc/<pid>/schedstat of each). */
export function runQueueSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1e9;
}
