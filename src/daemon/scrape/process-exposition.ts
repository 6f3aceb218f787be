// The standard process_* metrics of a plugin process, read from /proc by the daemon: what a
// plugin started with --no-metrics (an uninstrumented program) is scraped for, so it is still
// a useful target. Names and meanings follow the client libraries' process collectors.
import { bootTimeSeconds, cpuSeconds, openFds, readProcStatSync, residentBytes, startTimeSeconds } from "../proc.js";

export function processExposition(pid: number | undefined): string | undefined {
  const stat = pid ? readProcStatSync(pid) : undefined;
  if (!pid || !stat) return undefined;
  const fds = openFds(pid);
  const families: Array<[string, "counter" | "gauge", string, number | undefined]> = [
    ["process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpuSeconds(stat)],
    ["process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", residentBytes(stat)],
    ["process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", stat.vsizeBytes],
    ["process_open_fds", "gauge", "Number of open file descriptors.", fds],
    ["process_threads", "gauge", "Number of OS threads in the process.", stat.threads],
    ["process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", startTimeSeconds(stat, bootTimeSeconds())],
  ];
  return families
    .filter(([, , , v]) => v !== undefined)
    .map(([name, type, help, v]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${v}\n`)
    .join("");
}
