// `plugprom logs`: an instance's recent output lines, and with -f the new ones as they come.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ControlClient } from "../client.js";
import { usageError } from "../errors.js";
import type { IO } from "../output.js";

export interface LogsOptions {
  name: string;
  lines?: string;
  follow: boolean;
  json: boolean;
}

export async function runLogs(o: LogsOptions, client: ControlClient, io: IO, call: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
  let lines = 0;
  if (o.lines !== undefined) {
    if (!/^\d{1,6}$/.test(o.lines)) throw usageError(`-n ${JSON.stringify(o.lines)}: expected a number of lines`);
    lines = Number(o.lines);
  }
  for await (const { line } of client.logs({ name: o.name, lines, follow: o.follow }, call)) {
    if (!line) continue;
    const time = line.time ? timestampDate(line.time).toISOString() : "";
    await io.out(o.json ? `${JSON.stringify({ time, stream: line.stream, text: line.text })}\n` : `${time} ${line.stream} ${line.text}\n`);
  }
}
