// Follows a plugin's output file as it grows (the plugin writes, the daemon reads), in
// bounded reads, and rotates it (copy to <file>.1, truncate) past a size limit so that a
// chatty plugin cannot fill the disk. The file is opened only while there is something to
// read: an idle plugin costs the daemon no descriptor and no read buffer (a daemon with
// thousands of plugins would otherwise hold two of each per plugin).
import { watch, type FSWatcher } from "node:fs";
import { copyFile, open, stat, truncate } from "node:fs/promises";
import { LineSplitter } from "./plugin-output.js";

const READ_CHUNK = 64 * 1024;
const MIN_READ = 4 * 1024;
export const DEFAULT_MAX_LOG_BYTES = 8 * 1024 * 1024;

export interface FollowOptions {
  /** Start at the current end (reattach) instead of the beginning (a fresh start). */
  fromEnd?: boolean;
  maxBytes?: number;
  pollMs?: number;
}

export class LogFollower {
  private offset = 0;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly splitter: LineSplitter;
  private readonly decoder = new TextDecoder("utf-8");

  constructor(
    private readonly path: string,
    onLine: (line: string) => void,
    private readonly opts: FollowOptions = {},
  ) {
    this.splitter = new LineSplitter(onLine);
  }

  async start(): Promise<void> {
    const { size } = await stat(this.path); // the file must exist
    if (this.opts.fromEnd) this.offset = size;
    // inotify makes the handshake arrive promptly; the poll covers what it can miss. With
    // inotify the poll is only a safety net, and slow: a daemon with hundreds of plugins
    // would otherwise spend its threadpool on reads that find nothing (two files each).
    try {
      this.watcher = watch(this.path, () => this.poke());
      this.watcher.on("error", () => {
        this.watcher?.close();
        this.watcher = undefined;
        this.poll(this.opts.pollMs ?? 250);
      });
      this.poll(this.opts.pollMs ?? 2_000);
    } catch {
      this.poll(this.opts.pollMs ?? 250); // no inotify: the poll alone will do
    }
    this.poke();
  }

  /** Reads what is left, then stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    while (this.reading) await this.reading;
    await this.drain().catch(() => undefined);
    this.splitter.end();
  }

  private poll(ms: number): void {
    clearInterval(this.timer);
    if (this.stopped) return;
    this.timer = setInterval(() => this.poke(), ms);
    this.timer.unref();
  }

  private poke(): void {
    if (this.reading) {
      this.again = true;
      return;
    }
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

  private async drain(): Promise<void> {
    // One stat when nothing was written (the safety poll's usual case), not a read and a stat.
    const { size } = await stat(this.path);
    if (size < this.offset) this.offset = size; // truncated by someone else
    if (size > this.offset) {
      const fh = await open(this.path, "r");
      try {
        const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(MIN_READ, size - this.offset)));
        for (;;) {
          const { bytesRead } = await fh.read(buffer, 0, buffer.length, this.offset);
          if (bytesRead === 0) break;
          this.offset += bytesRead;
          this.splitter.push(this.decoder.decode(buffer.subarray(0, bytesRead), { stream: true }));
        }
      } finally {
        await fh.close();
      }
    }
    if (this.offset > (this.opts.maxBytes ?? DEFAULT_MAX_LOG_BYTES)) {
      // Copy-truncate: the plugin holds the file open (O_APPEND), so it keeps writing to it.
      await copyFile(this.path, `${this.path}.1`);
      await truncate(this.path, 0);
      this.offset = 0;
    }
  }
}
