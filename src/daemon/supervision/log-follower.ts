// Follows a plugin's output file as it grows (the plugin writes, the daemon reads), in
// bounded reads, and rotates it (copy to <file>.1, truncate) past a size limit so that a
// chatty plugin cannot fill the disk.
import { watch, type FSWatcher } from "node:fs";
import { copyFile, open, truncate, type FileHandle } from "node:fs/promises";
import { LineSplitter } from "./plugin-output.js";

const READ_CHUNK = 64 * 1024;
export const DEFAULT_MAX_LOG_BYTES = 8 * 1024 * 1024;

export interface FollowOptions {
  /** Start at the current end (reattach) instead of the beginning (a fresh start). */
  fromEnd?: boolean;
  maxBytes?: number;
  pollMs?: number;
}

export class LogFollower {
  private fh: FileHandle | undefined;
  private offset = 0;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly splitter: LineSplitter;
  private readonly buffer = Buffer.allocUnsafe(READ_CHUNK);
  private readonly decoder = new TextDecoder("utf-8");

  constructor(
    private readonly path: string,
    onLine: (line: string) => void,
    private readonly opts: FollowOptions = {},
  ) {
    this.splitter = new LineSplitter(onLine);
  }

  async start(): Promise<void> {
    this.fh = await open(this.path, "r");
    if (this.opts.fromEnd) this.offset = (await this.fh.stat()).size;
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
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
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
    const fh = this.fh;
    if (!fh) return;
    for (;;) {
      const { bytesRead } = await fh.read(this.buffer, 0, READ_CHUNK, this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      this.splitter.push(this.decoder.decode(this.buffer.subarray(0, bytesRead), { stream: true }));
    }
    const size = (await fh.stat()).size;
    if (size < this.offset) this.offset = size; // truncated by someone else
    if (this.offset > (this.opts.maxBytes ?? DEFAULT_MAX_LOG_BYTES)) {
      // Copy-truncate: the plugin holds the file open (O_APPEND), so it keeps writing to it.
      await copyFile(this.path, `${this.path}.1`);
      await truncate(this.path, 0);
      this.offset = 0;
    }
  }
}
