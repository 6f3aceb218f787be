// What a plugin writes on stdout/stderr: split into bounded lines, kept in a bounded ring
// for error messages and `plugprom logs`, and re-logged by the daemon (hclog JSON lines keep
// their level and fields).
import type { Readable } from "node:stream";
import type { LogLevel } from "../options.js";

export type OutputStream = "stdout" | "stderr";

export interface OutputLine {
  time: Date;
  stream: OutputStream;
  text: string;
}

/** Lines longer than this are cut: one runaway line must not grow the daemon. */
export const MAX_LINE_CHARS = 8 * 1024;

/**
 * Splits pushed text into lines. A line longer than MAX_LINE_CHARS is cut there and the rest
 * of it dropped: one runaway line must not grow the daemon.
 */
export class LineSplitter {
  private partial = "";
  private truncating = false;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", start);
      if (nl === -1) break;
      if (!this.truncating) this.onLine(stripCR(this.partial + chunk.slice(start, nl)).slice(0, MAX_LINE_CHARS));
      this.partial = "";
      this.truncating = false;
      start = nl + 1;
    }
    if (this.truncating) return;
    this.partial += chunk.slice(start);
    if (this.partial.length > MAX_LINE_CHARS) {
      this.onLine(this.partial.slice(0, MAX_LINE_CHARS));
      this.partial = "";
      this.truncating = true;
    }
  }

  /** The next bytes do not follow the last ones (output was skipped): drop up to the next newline. */
  resync(): void {
    this.partial = "";
    this.truncating = true;
  }

  /** Flushes a final line that had no newline. */
  end(): void {
    if (this.partial !== "" && !this.truncating) this.onLine(stripCR(this.partial));
    this.partial = "";
  }
}

/** Calls onLine for each complete line of a byte stream; a final partial line on end. */
export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  const splitter = new LineSplitter(onLine);
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => splitter.push(chunk));
  stream.on("end", () => splitter.end());
}

function stripCR(s: string): string {
  return s.endsWith("\r") ? s.slice(0, -1) : s;
}

/**
 * A fixed-capacity ring of the most recent lines, with live subscribers for `logs -f`. A push
 * costs the same however full it is: a plugin may send hundreds of thousands of lines a second.
 */
export class OutputRing {
  private readonly slots: OutputLine[] = [];
  /** Where the next line goes once the ring is full. */
  private next = 0;
  private readonly subscribers = new Set<(line: OutputLine) => void>();

  constructor(readonly capacity = 500) {}

  push(line: OutputLine): void {
    if (this.slots.length < this.capacity) this.slots.push(line);
    else {
      this.slots[this.next] = line;
      this.next = (this.next + 1) % this.capacity;
    }
    for (const s of this.subscribers) s(line);
  }

  tail(n: number, stream?: OutputStream): OutputLine[] {
    const ordered = this.slots.length < this.capacity ? this.slots : [...this.slots.slice(this.next), ...this.slots.slice(0, this.next)];
    const lines = stream ? ordered.filter((l) => l.stream === stream) : ordered;
    return n <= 0 ? [] : lines.slice(-n);
  }

  subscribe(fn: (line: OutputLine) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }
}

export interface HclogEntry {
  level: LogLevel;
  message: string;
  fields: Record<string, unknown>;
}

/**
 * Recognises an hclog JSON line (go-plugin plugins and our SDK log this way): an object with
 * "@level" and "@message". Other lines return undefined and are logged as plain text.
 */
export function parseHclogLine(text: string): HclogEntry | undefined {
  if (!text.startsWith("{")) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof obj !== "object" || obj === null) return undefined;
  const rec = obj as Record<string, unknown>;
  if (typeof rec["@level"] !== "string" || typeof rec["@message"] !== "string") return undefined;
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (!k.startsWith("@")) fields[k] = v;
  }
  if (typeof rec["@module"] === "string") fields.module = rec["@module"];
  return { level: hclogLevel(rec["@level"]), message: rec["@message"], fields };
}

function hclogLevel(level: string): LogLevel {
  switch (level.toLowerCase()) {
    case "trace":
    case "debug":
      return "debug";
    case "warn":
    case "warning":
      return "warn";
    case "error":
      return "error";
    default:
      return "info";
  }
}

/** The last lines of stderr, formatted for an error message. */
export function stderrTail(ring: OutputRing, n = 5): string {
  // hclog lines are shown by their message: the JSON around it only hides the reason.
  const lines = ring.tail(n, "stderr").map((l) => parseHclogLine(l.text)?.message ?? l.text);
  return lines.length === 0 ? "(no stderr output)" : lines.join(" | ");
}
