// Whether a plugin's output can be written at all: a plugin on a full filesystem loses what it
// writes (a Go plugin ignores the write error), its handshake line included, and the start
// would otherwise fail only at its timeout with a misleading "did not print its handshake".
import { statfs } from "node:fs/promises";
import { DaemonError, exhausted } from "../errors.js";

/** True when not one more block can be written in `dir`'s filesystem by this user. */
export async function filesystemFull(dir: string): Promise<boolean> {
  try {
    const st = await statfs(dir);
    // root may write into the reserved blocks that bavail leaves out.
    const free = process.getuid?.() === 0 ? st.bfree : st.bavail;
    return free === 0;
  } catch {
    return false;
  }
}

/**
 * A missing handshake explained: when the filesystem of `stdoutLog` is full, the line was
 * lost writing it. Any other error is returned as it is.
 */
export async function explainLostHandshake(err: unknown, logDir: string, stdoutLog: string): Promise<unknown> {
  if (!(err instanceof DaemonError) || err.reason !== "timeout" || !(await filesystemFull(logDir))) return err;
  return exhausted(
    `the plugin's handshake line was lost: the filesystem of ${stdoutLog} is full (ENOSPC), so its output could not be written; ` +
      `free some space and start it again (${err.message})`,
    err,
  );
}
