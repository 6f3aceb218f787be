// Re-logs one plugin's output lines into the daemon's log (hclog JSON lines at their own level
// with their fields, other lines as they are), at most so many lines a second: a plugin that
// floods its output must not flood the daemon's log or pin its CPU too. What is over the limit
// is counted, and summed up once a second: "suppressed N lines of plugin output"; so is output
// the daemon did not read at all (skipped or rotated away by the log follower).
import type { Logger } from "../log.js";
import type { SkipReason } from "./log-follower.js";
import { parseHclogLine, type OutputStream } from "./plugin-output.js";

export const DEFAULT_RELOG_LINES_PER_SECOND = 100;
export const DEFAULT_RELOG_BURST = 500;
const SUMMARY_EVERY_MS = 1_000;

export interface RelogOptions {
  linesPerSecond?: number;
  burst?: number;
  now?: () => number;
}

export class OutputRelogger {
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private tokensAt: number;
  private suppressed = 0;
  private readonly skipped = new Map<OutputStream, number>();
  private summaryTimer: NodeJS.Timeout | undefined;

  /** `mark` puts a line in the plugin's own output (the ring `plugprom logs` shows). */
  constructor(
    private readonly log: Logger,
    opts: RelogOptions = {},
    private readonly mark: (stream: OutputStream, text: string) => void = () => undefined,
  ) {
    this.rate = opts.linesPerSecond ?? DEFAULT_RELOG_LINES_PER_SECOND;
    this.burst = opts.burst ?? DEFAULT_RELOG_BURST;
    this.now = opts.now ?? Date.now;
    this.tokens = this.burst;
    this.tokensAt = this.now();
  }

  line(stream: OutputStream, text: string): void {
    if (!this.take()) {
      this.suppressed++;
      this.summarizeSoon();
      return;
    }
    const entry = parseHclogLine(text);
    if (entry) this.log[entry.level](entry.message, { ...entry.fields, stream });
    else this.log.info(text, { stream });
  }

  /** Output the daemon did not read: told in the next summary, and in the plugin's output. */
  skippedBytes(stream: OutputStream, bytes: number, why: SkipReason): void {
    this.skipped.set(stream, (this.skipped.get(stream) ?? 0) + bytes);
    void why; // both reasons read the same to a user: output went unread
    this.summarizeSoon();
  }

  /** Logs what was suppressed or skipped since the last summary, if anything. */
  summarize(): void {
    clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    if (this.suppressed > 0) {
      this.log.warn(`suppressed ${this.suppressed} lines of plugin output`, { limit: `${this.rate} lines/s` });
      this.suppressed = 0;
    }
    for (const [stream, bytes] of this.skipped) {
      const text = `[plugprom] ${bytes} bytes of ${stream} not read: written faster than the daemon follows output, or rotated away first`;
      this.log.warn(`dropped ${bytes} bytes of plugin output`, { stream });
      this.mark(stream, text);
    }
    this.skipped.clear();
  }

  private summarizeSoon(): void {
    this.summaryTimer ??= setTimeout(() => {
      this.summaryTimer = undefined;
      this.summarize();
    }, SUMMARY_EVERY_MS);
  }

  private take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.rate);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
