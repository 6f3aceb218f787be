// What goes wrong in the daemon, said in its own terms: a reason a caller can act on, the
// message for the user, and the error it came from (cause) when one was wrapped. The control
// API (control/errors.ts) and the HTTP side (http/response.ts) each turn a reason into their
// protocol's code once, at their boundary; nothing below them knows about RPC codes.

export type ErrorReason =
  /** The request or configuration is wrong: a bad name, flag, path, executable or file. */
  | "invalid"
  /** No instance (or catalog entry) by that name. */
  | "not-found"
  /** An instance by that name exists already. */
  | "exists"
  /** The instance's state does not allow it now (starting, stopping, not running). */
  | "conflict"
  /** The plugin would not come up: it exited, printed a bad handshake, or was refused. */
  | "start-failed"
  /** Something did not happen within its deadline. */
  | "timeout"
  /** The plugin's endpoint refused, broke or answered with an error. */
  | "unreachable"
  /** The caller went away. */
  | "canceled"
  /** A state file is damaged; the daemon will not overwrite what it cannot read. */
  | "corrupt";

export class DaemonError extends Error {
  override name = "DaemonError";

  constructor(
    readonly reason: ErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Shorthands so that daemon code reads like the condition it reports. */
export const invalid = (message: string, cause?: unknown) => new DaemonError("invalid", message, { cause });
export const notFound = (message: string) => new DaemonError("not-found", message);
export const exists = (message: string) => new DaemonError("exists", message);
export const conflict = (message: string) => new DaemonError("conflict", message);
export const startFailed = (message: string, cause?: unknown) => new DaemonError("start-failed", message, { cause });
export const timedOut = (message: string) => new DaemonError("timeout", message);
export const unreachable = (message: string, cause?: unknown) => new DaemonError("unreachable", message, { cause });
export const canceled = (message: string) => new DaemonError("canceled", message);
