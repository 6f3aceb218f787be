// <state-dir>/instances.json: the instances the user asked for, and what is needed to find
// their processes again (go-plugin's ReattachConfig plus the process start time), written
// atomically on every change so that a daemon killed at any moment loses nothing.
import { open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { InstanceSpec } from "./supervisor.js";

export const INSTANCES_FILE = "instances.json";
export const STATE_FORMAT_VERSION = 1;

/** What a live process needs for a reattach: pid + start time, its RPC and AutoMTLS material. */
export interface ReattachInfo {
  pid: number;
  startTicks: string;
  startedAt: string;
  appVersion: number;
  network: "tcp" | "unix";
  address: string;
  protocol: "grpc" | "netrpc";
  /** base64 DER of the plugin's server certificate, when it runs with AutoMTLS. */
  serverCert?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  metricsEndpoint: string;
  args: string[];
  stdoutLog: string;
  stderrLog: string;
}

export interface PersistedInstance {
  spec: InstanceSpec;
  restarts: number;
  reattach?: ReattachInfo;
}

export interface PersistedState {
  version: number;
  instances: PersistedInstance[];
}

export class StateFileError extends Error {
  override name = "StateFileError";
}

export async function loadDesiredState(stateDir: string): Promise<PersistedInstance[]> {
  const file = join(stateDir, INSTANCES_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new StateFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
  }
  let doc: PersistedState;
  try {
    doc = JSON.parse(text) as PersistedState;
  } catch {
    throw new StateFileError(`${file} is not valid JSON; move it aside to start with no instances`);
  }
  if (doc.version !== STATE_FORMAT_VERSION) {
    throw new StateFileError(
      `${file} has format version ${String(doc.version)}, this plugprom reads ${STATE_FORMAT_VERSION}; ` +
        "run the plugprom version that wrote it, or move the file aside",
    );
  }
  if (!Array.isArray(doc.instances)) throw new StateFileError(`${file}: "instances" must be an array`);
  return doc.instances;
}

/** Writes instances.json through a CoalescingFileWriter. */
export class DesiredStateWriter {
  private readonly file: CoalescingFileWriter;

  constructor(stateDir: string, onError: (err: unknown) => void) {
    this.file = new CoalescingFileWriter(join(stateDir, INSTANCES_FILE), onError);
  }

  /** Schedules a write of `snapshot()` (called when the write actually happens). */
  save(snapshot: () => PersistedInstance[]): void {
    this.file.save(() => `${JSON.stringify({ version: STATE_FORMAT_VERSION, instances: snapshot() }, null, 2)}\n`);
  }

  flush(): Promise<void> {
    return this.file.flush();
  }
}

/**
 * Serialises atomic writes of one file: at most one write in flight and one pending (the
 * newest content wins), so a burst of changes costs two writes, not one per change. Content
 * equal to what was last written is not written again (most state changes, e.g. health,
 * change nothing that is saved).
 */
export class CoalescingFileWriter {
  private writing: Promise<void> | undefined;
  private pending: (() => string) | undefined;
  private written: string | undefined;

  constructor(
    private readonly path: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Schedules a write of `render()` (called when the write actually happens). */
  save(render: () => string): void {
    this.pending = render;
    this.writing ??= this.drain();
  }

  /** Resolves when everything scheduled so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    // Never finish synchronously: save() stores the promise returned here, and the finally
    // below must clear it after that, not before (an unchanged content writes nothing).
    await null;
    try {
      while (this.pending) {
        const render = this.pending;
        this.pending = undefined;
        const content = render();
        if (content === this.written) continue;
        try {
          await writeAtomic(this.path, content);
          this.written = content;
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}

/** temp file, fsync, rename, fsync of the directory: the file is either old or new, never torn. */
export async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
