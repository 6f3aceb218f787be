// Opening the state directory for one daemon: its private sockets/ and logs/ folders, the
// lock that keeps a second daemon out, and the instances a previous daemon left.
import { chmod, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { DaemonError, systemFailure } from "../errors.js";
import { acquireStateDirLock, StateDirLockedError } from "./lock.js";
import { INSTANCES_FILE, loadDesiredState, type PersistedInstance, type SetAsideFile } from "./instances-file.js";
import { DAEMON_STATE_FILE } from "./daemon-file.js";

export interface OpenStateDir {
  /** Private 0700 directory for metrics sockets and plugins' Unix sockets. */
  socketDir: string;
  /** Private 0700 directory for plugin output files. */
  logDir: string;
  /** What instances.json holds: the instances to bring back. */
  saved: PersistedInstance[];
  /** instances.json could not be parsed: it was moved here, and `saved` is empty. */
  setAside?: SetAsideFile;
  releaseLock(): Promise<void>;
}

/**
 * Opens the state dir, or fails with one line: StateDirLockedError, a DaemonError "corrupt"
 * for a state file it will not touch, else what failed and why (ENOSPC, EACCES).
 */
export async function openStateDir(stateDir: string): Promise<OpenStateDir> {
  try {
    return await open(stateDir);
  } catch (err) {
    if (err instanceof DaemonError || err instanceof StateDirLockedError) throw err;
    throw systemFailure(`cannot use the state dir ${stateDir}`, err);
  }
}

async function open(stateDir: string): Promise<OpenStateDir> {
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
    const { instances, setAside } = await loadDesiredState(stateDir);
    // Only once the daemon will start: a refusal leaves the directory exactly as it was.
    await removeStaleTempFiles(stateDir);
    return { socketDir, logDir, saved: instances, setAside, releaseLock };
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

/**
 * The temp files of atomic writes a daemon killed mid-write left (`instances.json.<pid>.tmp`):
 * nobody else writes here while this daemon holds the lock, and on a small disk they hold
 * the space the next save needs.
 */
async function removeStaleTempFiles(stateDir: string): Promise<void> {
  const isStale = (name: string) => [INSTANCES_FILE, DAEMON_STATE_FILE].some((f) => name.startsWith(`${f}.`) && /^\d+\.tmp$/.test(name.slice(f.length + 1)));
  for (const name of await readdir(stateDir)) {
    if (isStale(name)) await rm(join(stateDir, name), { force: true });
  }
}
