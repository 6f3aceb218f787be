// What the benchmarks read from /proc about the processes they measure.
import { CLOCK_TICKS, readProcStatSync } from "../src/daemon/proc.js";

/** User + system CPU seconds of a process, all its threads. */
export function cpuSeconds(pid: number): number {
  const stat = readProcStatSync(pid);
  if (!stat) throw new Error(`process ${pid} is gone`);
  return (stat.utimeTicks + stat.stimeTicks) / CLOCK_TICKS;
}
