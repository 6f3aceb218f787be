// <state-dir>/daemon.json: where a running daemon actually listens (ports may have been 0),
// for scripts, tests and the CLI's default address discovery.
import { join } from "node:path";
import { DaemonError, systemFailure } from "../errors.js";
import { writeAtomic } from "./atomic-file.js";

export interface DaemonStateFile {
  pid: number;
  version: string;
  grpcAddr: string;
  httpAddr: string;
  advertiseAddr: string;
  stateDir: string;
  /** RFC 3339 */
  startedAt: string;
}

export const DAEMON_STATE_FILE = "daemon.json";

/**
 * Writes daemon.json (atomically: a reader never sees half of it). Whatever was there is
 * replaced, since it only ever says where a daemon listens; but a directory in its place is
 * refused, not removed.
 */
export async function writeDaemonFile(stateDir: string, content: DaemonStateFile): Promise<string> {
  const path = join(stateDir, DAEMON_STATE_FILE);
  try {
    await writeAtomic(path, `${JSON.stringify(content, null, 2)}\n`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EISDIR") {
      throw new DaemonError("corrupt", `${path} is a directory, not the daemon's address file; remove it if no daemon uses this state dir`);
    }
    throw systemFailure(`cannot write ${path}`, err);
  }
  return path;
}
