// `plugprom top`: a live view of every plugin (state, CPU %, RSS, restarts, last scrape),
// refreshed every second on a terminal until q or Ctrl-C; a single snapshot otherwise.
import { Command } from "@commander-js/extra-typings";
import type { PluginInfo } from "../../shared/gen/plugprom/v1/control_pb.js";
import type { Factory, Run, Seams } from "../factory.js";
import { duration } from "../flags.js";
import { colorState, table, type IO } from "../output.js";

const ENTER_ALT_SCREEN = "\x1b[?1049h\x1b[?25l";
const LEAVE_ALT_SCREEN = "\x1b[?25h\x1b[?1049l";
const HOME_AND_CLEAR = "\x1b[H\x1b[2J";

export interface TopOptions {
  intervalMs: number;
}

export function newTopCommand(f: Factory, runF: Run<TopOptions> = runTop) {
  return new Command("top")
    .description("a live view of every plugin: state, CPU, memory, restarts, last scrape (q quits)")
    .option("--interval <duration>", "refresh interval", "1s")
    .action((flags) => runF({ intervalMs: duration("--interval", flags.interval) }, f.seams()));
}

/** One frame: `previous` (the last sample) turns CPU seconds into a CPU %. */
export function renderTop(plugins: readonly PluginInfo[], previous: Map<string, { cpu: number; at: number }>, now: number, io: IO): string {
  const rows = plugins.map((p) => {
    const prev = previous.get(p.name);
    const cpu = prev && now > prev.at && p.cpuSeconds >= prev.cpu ? `${(((p.cpuSeconds - prev.cpu) / ((now - prev.at) / 1000)) * 100).toFixed(1)}%` : "-";
    return [
      p.name,
      colorState(p.state, io),
      p.pid ? String(p.pid) : "-",
      cpu,
      p.rssBytes > 0n ? `${(Number(p.rssBytes) / 2 ** 20).toFixed(1)} MiB` : "-",
      String(p.restarts),
      p.lastScrapeSeconds > 0 ? `${(p.lastScrapeSeconds * 1000).toFixed(1)} ms` : "-",
    ];
  });
  return rows.length === 0 ? "no plugins\n" : table(["NAME", "STATE", "PID", "CPU", "RSS", "RESTARTS", "LAST SCRAPE"], rows);
}

/** Frames on a terminal (io.tty) until q; one snapshot otherwise. */
export async function runTop(o: TopOptions, { client, io, call }: Seams): Promise<void> {
  const previous = new Map<string, { cpu: number; at: number }>();
  const sample = async () => {
    const { plugins } = await client.list({}, call);
    const now = Date.now();
    const frame = renderTop(plugins, previous, now, io);
    previous.clear();
    for (const p of plugins) previous.set(p.name, { cpu: p.cpuSeconds, at: now });
    return frame;
  };
  if (!io.tty) {
    await io.out(await sample());
    return;
  }

  const { input } = io.tty;
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onKey = (key: Buffer) => {
    // q, Q, Ctrl-C (raw mode delivers it as a byte instead of a signal), Esc
    if (key.includes(0x71) || key.includes(0x51) || key.includes(0x03) || key[0] === 0x1b) stop();
  };
  const restore = () => {
    if (input.isTTY) input.setRawMode(false);
    input.off("data", onKey);
    input.pause();
    process.stdout.write(LEAVE_ALT_SCREEN);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (input.isTTY) input.setRawMode(true);
  input.on("data", onKey);
  input.resume();
  await io.out(ENTER_ALT_SCREEN);
  try {
    for (;;) {
      const frame = await sample();
      await io.out(`${HOME_AND_CLEAR}plugprom top · every ${o.intervalMs / 1000}s · q to quit\n\n${frame}`);
      const next = new Promise<"tick">((resolve) => setTimeout(() => resolve("tick"), o.intervalMs).unref());
      if ((await Promise.race([next, stopped.then(() => "stop" as const)])) === "stop") break;
    }
  } finally {
    restore();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
