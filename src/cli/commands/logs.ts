// `plugprom logs <name> [-n N] [-f]`: an instance's recent output lines, and with -f the new
// ones as they come.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Command } from "@commander-js/extra-typings";
import { usageError } from "../errors.js";
import type { Factory, Run, Seams } from "../factory.js";
import { instanceName } from "../flags.js";

export interface LogsOptions {
  name: string;
  /** 0: the daemon's default (50). */
  lines: number;
  follow: boolean;
  json: boolean;
}

export function newLogsCommand(f: Factory, runF: Run<LogsOptions> = runLogs) {
  return new Command("logs")
    .description("print an instance's recent output lines")
    .addArgument(instanceName())
    .option("-n, --lines <n>", "how many lines (default 50)")
    .option("-f, --follow", "keep printing new lines", false)
    .action((name, flags) => runF({ name, lines: lineCount(flags.lines), follow: flags.follow, json: f.globals().json }, f.seams()));
}

function lineCount(text: string | undefined): number {
  if (text === undefined) return 0;
  if (!/^\d{1,6}$/.test(text)) throw usageError(`-n ${JSON.stringify(text)}: expected a number of lines`);
  return Number(text);
}

export async function runLogs(o: LogsOptions, { client, io, call }: Seams): Promise<void> {
  // A followed log has no end, so no deadline (--timeout was still checked).
  const { timeoutMs: _none, ...untimed } = call;
  for await (const { line } of client.logs({ name: o.name, lines: o.lines, follow: o.follow }, o.follow ? untimed : call)) {
    if (!line) continue;
    const time = line.time ? timestampDate(line.time).toISOString() : "";
    await io.out(o.json ? `${JSON.stringify({ time, stream: line.stream, text: line.text })}\n` : `${time} ${line.stream} ${line.text}\n`);
  }
}
