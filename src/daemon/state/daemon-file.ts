// <state-dir>/daemon.json: where a running daemon actually listens (ports may have been 0),
// for scripts, tests and the CLI's default address discovery.

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
