// Opening the state directory for one daemon: its private sockets/ and logs/ folders, the
// lock that keeps a second daemon out, and the instances a previous daemon left.
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { acquireStateDirLock } from "./lock.js";
import { loadDesiredState, type PersistedInstance } from "./instances-file.js";

export interface OpenStateDir {
  /** Private 0700 directory for metrics sockets and plugins' Unix sockets. */
  socketDir: string;
  /** Private 0700 directory for plugin output files. */
  logDir: string;
  /** What instances.json holds: the instances to bring back. */
  saved: PersistedInstance[];
  releaseLock(): Promise<void>;
}

export async function openStateDir(stateDir: string): Promise<OpenStateDir> {
  const socketDir = join(stateDir, "sockets");
  const logDir = join(stateDir, "logs");
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  for (const dir of [socketDir, logDir]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode does not apply to a directory that already exists.
    await chmod(dir, 0o700);
  }
  const releaseLock = await acquireStateDirLock(stateDir);
  try {
    return { socketDir, logDir, saved: await loadDesiredState(stateDir), releaseLock };
  } catch (err) {
    await releaseLock();
    throw err;
  }
}
