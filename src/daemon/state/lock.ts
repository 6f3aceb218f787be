// One daemon per state directory: a lock file holding the owner's pid and process start
// time. A lock whose owner is gone (or whose pid now belongs to another process) is stale
// and taken over; a live owner makes a second daemon fail at once.
import { link, lstat, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DaemonError } from "../errors.js";
import { isSameProcess, readProcStatSync } from "../proc.js";

export const LOCK_FILE = "daemon.lock";

export class StateDirLockedError extends Error {
  override name = "StateDirLockedError";
  constructor(
    readonly stateDir: string,
    readonly ownerPid: number,
  ) {
    super(
      `another plugprom daemon (pid ${ownerPid}) is using state dir ${stateDir}; ` +
        "stop it first, or give this one another --state-dir",
    );
  }
}

interface LockContent {
  pid: number;
  startTicks: string;
}

/** Takes the lock or throws StateDirLockedError; returns the release function. */
export async function acquireStateDirLock(stateDir: string): Promise<() => Promise<void>> {
  const lockPath = join(stateDir, LOCK_FILE);
  const me: LockContent = { pid: process.pid, startTicks: readProcStatSync(process.pid)?.startTicks ?? "" };
  const tmp = join(stateDir, `${LOCK_FILE}.${process.pid}.tmp`);
  try {
    // Inside the try: a full disk leaves a partial temp file, which must go too.
    await writeFile(tmp, `${JSON.stringify(me)}\n`, { mode: 0o600 });
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        // link() fails if the lock exists: the create is atomic even between two daemons.
        await link(tmp, lockPath);
        return async () => {
          const owner = await readLock(lockPath);
          if (owner?.pid === me.pid) await rm(lockPath, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      await refuseNonFile(lockPath);
      const owner = await readLock(lockPath);
      if (owner && owner.pid !== me.pid && isSameProcess(owner.pid, owner.startTicks)) {
        throw new StateDirLockedError(stateDir, owner.pid);
      }
      // Stale: move it aside atomically so that only one contender removes it.
      const aside = join(stateDir, `${LOCK_FILE}.stale.${process.pid}`);
      await rename(lockPath, aside).catch(() => undefined);
      await rm(aside, { force: true });
    }
    throw new Error(`could not take the lock ${lockPath}; is another daemon starting on the same state dir?`);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * A lock that is not a file (a directory, a FIFO) was not made by a daemon: taking it over
 * would mean deleting something of someone else's.
 */
async function refuseNonFile(lockPath: string): Promise<void> {
  const st = await lstat(lockPath).catch(() => undefined);
  if (st && !st.isFile()) {
    throw new DaemonError("corrupt", `${lockPath} is ${st.isDirectory() ? "a directory" : "not a regular file"}, not a plugprom lock; remove it if no daemon uses this state dir`);
  }
}

async function readLock(path: string): Promise<LockContent | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<LockContent>;
    if (typeof parsed.pid === "number" && typeof parsed.startTicks === "string") return { pid: parsed.pid, startTicks: parsed.startTicks };
  } catch {
    // unreadable or half-written: treat as stale
  }
  return undefined;
}
