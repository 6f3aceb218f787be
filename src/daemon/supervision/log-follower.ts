// Follows a plugin's output file as it grows (the plugin writes, the daemon reads) and keeps it
// bounded on disk whatever the plugin's rate: it reads at most a budget of bytes a second
// (what a faster plugin writes is skipped, and counted), checks the size on every write
// notification, and past the limit rotates the file (copy to <file>.1, truncate) or, when the
// reader is behind, truncates it, dropping what nobody read (counted too). The file is opened
// only while there is something to read: an idle plugin costs the daemon no descriptor and no
// read buffer (a daemon with thousands of plugins would otherwise hold two of each per plugin).
// A file's head (go-plugin's handshake line) is read before anything is skipped or truncated.
import { watch, type FSWatcher } from "node:fs";
import { open, stat, truncate } from "node:fs/promises";
import { LineSplitter } from "./plugin-output.js";

const READ_CHUNK = 64 * 1024;
const MIN_READ = 4 * 1024;
export const DEFAULT_MAX_LOG_BYTES = 8 * 1024 * 1024;
/** What the daemon reads of one output file each second; more is skipped. */
export const DEFAULT_READ_BYTES_PER_SECOND = 1024 * 1024;
/** At most one copy to <file>.1 a second: a flood is truncated in between. */
const MIN_ROTATION_GAP_MS = 1_000;
/** Write notifications closer than this are handled together (a flood sends thousands). */
const MIN_CHECK_GAP_MS = 5;
/**
 * While a plugin floods, inotify would wake the daemon for every write (a core's worth of
 * system time at GB/s); a poll this often checks the size as promptly for a fraction of it.
 */
const FLOOD_POLL_MS = 10;
/** Checks in a row that find nothing new before a flood is over and inotify is back. */
const CALM_CHECKS = 20;
/** The safety poll's interval while inotify works (unless FollowOptions.pollMs says otherwise). */
const SAFETY_POLL_MS = 2_000;
/** What stop() still reads: the end of the output (a crash's last lines), not a backlog. */
const FINAL_READ_BYTES = 64 * 1024;
/**
 * How far into the file the head is looked for, past the budget, before output may be skipped
 * or truncated: a handshake line is at most a few KiB (a certificate), a few empty lines may
 * come first.
 */
const MAX_HEAD_BYTES = 64 * 1024;

export type SkipReason = "too fast" | "rotated away";

export interface FollowOptions {
  /** Start at the current end (reattach) instead of the beginning (a fresh start). */
  fromEnd?: boolean;
  maxBytes?: number;
  pollMs?: number;
  readBytesPerSecond?: number;
  /**
   * The file's head (go-plugin's handshake: the first non-empty stdout line): lines are offered
   * here first, in order, until it takes one (returns true). Until then nothing is skipped or
   * truncated unread: the first MAX_HEAD_BYTES are read whatever the budget, so a plugin that
   * floods right after its handshake cannot bury it. Lines it refuses go to onLine.
   */
  head?: (line: string) => boolean;
  /** Bytes of output the daemon did not read, and why (counted, and told to the user). */
  onSkipped?: (bytes: number, why: SkipReason) => void;
  now?: () => number;
}

/** Followers on the shared safety poll, and its timer (running while there are any). */
const safetyPolled = new Set<LogFollower>();
let safetyTicker: NodeJS.Timeout | undefined;

function leaveSafetyPoll(f: LogFollower): void {
  if (!safetyPolled.delete(f) || safetyPolled.size > 0) return;
  clearInterval(safetyTicker);
  safetyTicker = undefined;
}

export class LogFollower {
  private offset = 0;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastCheck = -Infinity;
  private lastRotation = -Infinity;
  private flooding = false;
  private calmChecks = 0;
  /** Whether the head is still to be read, and how much more may be read for it past the budget. */
  private headPending: boolean;
  private headBytesLeft = MAX_HEAD_BYTES;
  /** Read budget: a token bucket of bytes, refilled at readBytesPerSecond. */
  private tokens: number;
  private tokensAt: number;
  private readonly splitter: LineSplitter;
  private readonly decoder = new TextDecoder("utf-8");
  private readonly now: () => number;
  private readonly maxBytes: number;
  private readonly rate: number;

  constructor(
    private readonly path: string,
    onLine: (line: string) => void,
    private readonly opts: FollowOptions = {},
  ) {
    this.headPending = opts.head !== undefined && !opts.fromEnd;
    this.splitter = new LineSplitter((line) => {
      if (this.headPending && opts.head!(line)) this.headPending = false;
      else onLine(line);
    });
    this.now = opts.now ?? Date.now;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_LOG_BYTES;
    this.rate = opts.readBytesPerSecond ?? DEFAULT_READ_BYTES_PER_SECOND;
    // A fresh start may read its first second's worth at once (the handshake, early lines).
    this.tokens = this.rate;
    this.tokensAt = this.now();
  }

  async start(): Promise<void> {
    const { size } = await stat(this.path); // the file must exist
    if (this.stopped) return;
    if (this.opts.fromEnd) this.offset = size;
    this.watchFile();
    this.poke();
  }

  /**
   * inotify makes the handshake arrive promptly; the poll covers what it can miss. With
   * inotify the poll is only a safety net, and slow: a daemon with hundreds of plugins would
   * otherwise spend its threadpool on reads that find nothing.
   */
  private watchFile(): void {
    try {
      this.watcher = watch(this.path, () => this.poke());
      this.watcher.on("error", () => {
        this.watcher?.close();
        this.watcher = undefined;
        this.poll(this.opts.pollMs ?? 250);
      });
      if (this.opts.pollMs === undefined) this.safetyPoll();
      else this.poll(this.opts.pollMs);
    } catch {
      this.poll(this.opts.pollMs ?? 250); // no inotify: the poll alone will do
    }
  }

  /** Flooding (or not any more): a fast poll instead of inotify, and back. */
  private setFlooding(flooding: boolean): void {
    this.calmChecks = 0;
    if (flooding === this.flooding || this.stopped) return;
    this.flooding = flooding;
    if (flooding) {
      this.watcher?.close();
      this.watcher = undefined;
      this.poll(FLOOD_POLL_MS);
    } else {
      this.watchFile();
    }
  }

  /**
   * Reads what is left, at most its last FINAL_READ_BYTES (a crash's last lines; a flood's
   * backlog is skipped), then closes the file. Prompt whatever the plugin wrote.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    leaveSafetyPoll(this);
    clearTimeout(this.checkTimer);
    while (this.reading) await this.reading;
    try {
      const { size } = await stat(this.path);
      if (size < this.offset) this.offset = size;
      await this.readHead(size);
      if (size - this.offset > FINAL_READ_BYTES) this.skipTo(size - FINAL_READ_BYTES, "too fast");
      await this.read(size - this.offset);
    } catch {
      // the file went away: nothing more to read
    } finally {
      this.splitter.end();
    }
  }

  private poll(ms: number): void {
    clearInterval(this.timer);
    leaveSafetyPoll(this);
    if (this.stopped) return;
    this.timer = setInterval(() => this.poke(), ms);
    this.timer.unref();
  }

  /** The slow poll beside inotify: one timer for every follower (one wake-up, not one per file). */
  private safetyPoll(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    safetyPolled.add(this);
    safetyTicker ??= setInterval(() => {
      for (const f of safetyPolled) f.poke();
    }, SAFETY_POLL_MS).unref();
  }

  private poke(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    if (this.checkTimer) return; // a check is already due
    const wait = this.lastCheck + MIN_CHECK_GAP_MS - this.now();
    if (wait > 0) {
      this.checkTimer = setTimeout(() => {
        this.checkTimer = undefined;
        this.poke();
      }, wait);
      this.checkTimer.unref();
      return;
    }
    this.lastCheck = this.now();
    this.reading = this.drain()
      .catch(() => undefined)
      .finally(() => {
        this.reading = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.poke();
        }
      });
  }

  /** Reads within the budget; keeps the file under its size limit while doing so. */
  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      // One stat when nothing was written (the safety poll's usual case), not a read and a stat.
      const { size } = await stat(this.path);
      if (size < this.offset) this.offset = size; // truncated by someone else
      const unread = size - this.offset;
      // What follows would skip or truncate unread output: the head is read first.
      if (unread > 0 && (size > this.maxBytes || unread > this.rate) && (await this.readHead(size)) > 0) continue;
      const budget = Math.floor(this.refill());
      // Past the limit: rotate once everything was read, or at once when the budget cannot
      // read it (a flood: then only a prompt truncate keeps the file bounded).
      if (size > this.maxBytes && (unread === 0 || unread > budget)) {
        if (unread > budget) this.setFlooding(true);
        await this.rotate(size, unread === 0);
        continue;
      }
      if (unread === 0) {
        if (this.flooding && ++this.calmChecks >= CALM_CHECKS) this.setFlooding(false);
        return;
      }
      // Further behind than a second's budget: the most recent output is what matters.
      if (unread > this.rate) this.skipTo(size - Math.min(budget, this.rate), "too fast");
      if (budget < 1) {
        // Out of budget: the fast poll looks again (for the size limit), and reads once it refills.
        this.setFlooding(true);
        return;
      }
      this.tokens -= await this.read(Math.min(budget, size - this.offset));
    }
  }

  /** Reads on, past the budget, while the head is still to be read (at most MAX_HEAD_BYTES); returns what it read. */
  private async readHead(size: number): Promise<number> {
    if (!this.headPending || this.headBytesLeft <= 0) return 0;
    const n = await this.read(Math.min(this.headBytesLeft, size - this.offset));
    // Nothing more to read (the file shrank): the head is not waited for any longer.
    this.headBytesLeft = n === 0 ? 0 : this.headBytesLeft - n;
    // Not taken from the budget: once per process and bounded, it must not delay what follows.
    return n;
  }

  /** Reads up to `bytes` from the current offset, with the file open only meanwhile; returns what it read. */
  private async read(bytes: number): Promise<number> {
    if (bytes <= 0) return 0;
    const fh = await open(this.path, "r");
    let done = 0;
    try {
      const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(MIN_READ, bytes)));
      while (done < bytes) {
        const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, bytes - done), this.offset);
        if (bytesRead === 0) break;
        done += bytesRead;
        this.offset += bytesRead;
        this.splitter.push(this.decoder.decode(buffer.subarray(0, bytesRead), { stream: true }));
      }
    } finally {
      await fh.close();
    }
    return done;
  }

  private refill(): number {
    const now = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.tokensAt) / 1000) * this.rate);
    this.tokensAt = now;
    return this.tokens;
  }

  /** Moves the read position forward, dropping the partial line it lands in. */
  private skipTo(offset: number, why: SkipReason): void {
    if (offset <= this.offset) return;
    this.opts.onSkipped?.(offset - this.offset, why);
    this.offset = offset;
    this.decoder.decode(); // forget a partial UTF-8 sequence
    this.splitter.resync();
  }

  /**
   * Copy-truncate: the plugin holds the file open with O_APPEND, so after the truncate its
   * next write lands at the start again. What was not read yet is skipped: it is in <file>.1
   * after a copy, lost after a bare truncate.
   */
  private async rotate(size: number, caughtUp: boolean): Promise<void> {
    const now = this.now();
    // A copy delays the truncate: only for a reader that keeps up, at most once a second.
    if (caughtUp && now - this.lastRotation >= MIN_ROTATION_GAP_MS) {
      this.lastRotation = now;
      await this.copyTail(size);
    }
    // Counted before the truncate, so that whoever sees the file emptied sees the count too.
    const unread = size - this.offset;
    if (unread > 0) {
      this.opts.onSkipped?.(unread, "rotated away");
      this.decoder.decode();
      this.splitter.resync();
    }
    this.offset = 0;
    await truncate(this.path, 0);
  }

  /** Copies the last maxBytes before `size` to <file>.1 (bounded: the plugin keeps appending). */
  private async copyTail(size: number): Promise<void> {
    const [src, dst] = [await open(this.path, "r"), await open(`${this.path}.1`, "w", 0o600).catch(() => undefined)];
    try {
      if (!dst) return;
      const chunk = Buffer.allocUnsafe(READ_CHUNK);
      for (let pos = Math.max(0, size - this.maxBytes); pos < size; ) {
        const { bytesRead } = await src.read(chunk, 0, Math.min(READ_CHUNK, size - pos), pos);
        if (bytesRead === 0) break;
        await dst.write(chunk, 0, bytesRead);
        pos += bytesRead;
      }
    } finally {
      await src.close();
      await dst?.close();
    }
  }
}
