// Writing a state file so that a crash at any moment leaves either the old content or the
// new, never a torn file; and coalescing bursts of writes of one file. Used for
// instances.json, daemon.json and the file SD output.
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Serialises atomic writes of one file: at most one write in flight and one pending (the
 * newest content wins), so a burst of changes costs two writes, not one per change. Content
 * equal to what was last written is not written again (most state changes, e.g. health,
 * change nothing that is saved).
 */
export class CoalescingFileWriter {
  private writing: Promise<void> | undefined;
  private pending: { render: () => string; seq: number } | undefined;
  private written: string | undefined;
  /** save() calls so far, and the last of them whose content is on disk. */
  private requested = 0;
  private savedUpTo = 0;
  private lastError: unknown;

  constructor(
    private readonly path: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Schedules a write of `render()` (called when the write actually happens). */
  save(render: () => string): void {
    this.pending = { render, seq: ++this.requested };
    this.writing ??= this.drain();
  }

  /**
   * Resolves when everything scheduled so far is on disk; rejects with the write's error when
   * it is not (a later successful write of newer content makes it so again).
   */
  async flush(): Promise<void> {
    const wanted = this.requested;
    while (this.writing) await this.writing;
    if (this.savedUpTo < wanted) throw this.lastError ?? new Error(`${this.path} was not written`);
  }

  private async drain(): Promise<void> {
    // Never finish synchronously: save() stores the promise returned here, and the finally
    // below must clear it after that, not before (an unchanged content writes nothing).
    await null;
    try {
      while (this.pending) {
        const { render, seq } = this.pending;
        this.pending = undefined;
        const content = render();
        if (content !== this.written) {
          try {
            await writeAtomic(this.path, content);
            this.written = content;
          } catch (err) {
            this.lastError = err;
            this.onError(err);
            continue;
          }
        }
        this.savedUpTo = seq;
      }
    } finally {
      this.writing = undefined;
    }
  }
}

/** temp file, fsync, rename, fsync of the directory: the file is either old or new, never torn. */
export async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    // A full disk leaves a partial temp file: it must not eat what space is left.
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dirname(path));
}

/** fsync of a directory: a rename or unlink in it survives a power cut. */
export async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
