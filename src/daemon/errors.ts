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
  | "corrupt"
  /** A resource ran out: disk space, file descriptors, memory. */
  | "exhausted"
  /** The daemon failed at something that should not fail (its state could not be saved). */
  | "internal";

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
export const exhausted = (message: string, cause?: unknown) => new DaemonError("exhausted", message, { cause });
export const internal = (message: string, cause?: unknown) => new DaemonError("internal", message, { cause });

/** Error codes that mean a resource ran out (disk, descriptors, memory), not a bug. */
export const RESOURCE_ERRNOS: ReadonlySet<string> = new Set(["ENOSPC", "EDQUOT", "EMFILE", "ENFILE", "ENOMEM", "EAGAIN"]);

/**
 * A system error as one short line that names its cause: "ENOSPC (no space left on device)".
 * Anything else: its message.
 */
export function describeSystemError(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e.code === "string" && /^E[A-Z0-9]+$/.test(e.code)) {
    const what = new RegExp(`^${e.code}: ([^,]+)`).exec(e.message ?? "")?.[1];
    return what ? `${e.code} (${what})` : e.code;
  }
  return e instanceof Error ? e.message : String(err);
}

/** `outcome: <what failed>: <cause>`, as "exhausted" when a resource ran out, else "internal". */
export function systemFailure(outcome: string, err: unknown): DaemonError {
  const message = `${outcome}: ${describeSystemError(err)}`;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code && RESOURCE_ERRNOS.has(code) ? exhausted(message, err) : internal(message, err);
}
