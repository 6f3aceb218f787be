// The one mapping from a control-API error code to a CLI exit code. The daemon raises
// ConnectError with a Code; the CLI turns it into one line on stderr and this exit code.
import { Code, ConnectError } from "@connectrpc/connect";

export const ExitCode = {
  OK: 0,
  /** The operation failed (plugin would not start, scrape failed, internal error). */
  FAILED: 1,
  /** Usage error or invalid argument. */
  USAGE: 2,
  /** The daemon could not be reached. */
  UNREACHABLE: 3,
  /** No plugin instance by that name. */
  NOT_FOUND: 4,
  /** Already exists, or the instance is in a state that conflicts with the request. */
  CONFLICT: 5,
  /** Missing or wrong control token. */
  UNAUTHENTICATED: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export function exitCodeFor(code: Code): ExitCode {
  switch (code) {
    case Code.InvalidArgument:
      return ExitCode.USAGE;
    case Code.NotFound:
      return ExitCode.NOT_FOUND;
    case Code.AlreadyExists:
    case Code.FailedPrecondition:
      return ExitCode.CONFLICT;
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return ExitCode.UNAUTHENTICATED;
    default:
      return ExitCode.FAILED;
  }
}

/** Shorthands so that daemon code reads like the condition it reports. */
export const invalidArgument = (msg: string) => new ConnectError(msg, Code.InvalidArgument);
export const notFound = (msg: string) => new ConnectError(msg, Code.NotFound);
export const alreadyExists = (msg: string) => new ConnectError(msg, Code.AlreadyExists);
export const failedPrecondition = (msg: string) => new ConnectError(msg, Code.FailedPrecondition);
export const unavailable = (msg: string) => new ConnectError(msg, Code.Unavailable);
export const deadlineExceeded = (msg: string) => new ConnectError(msg, Code.DeadlineExceeded);
export const resourceExhausted = (msg: string) => new ConnectError(msg, Code.ResourceExhausted);
export const internal = (msg: string) => new ConnectError(msg, Code.Internal);
/** A plugin process failed to come up (bad command, exited early, bad handshake). */
export const aborted = (msg: string) => new ConnectError(msg, Code.Aborted);

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
  return errorMessage(err);
}

/** Errors that mean a resource ran out (disk, descriptors, memory), not a bug. */
export const RESOURCE_ERRNOS: ReadonlySet<string> = new Set(["ENOSPC", "EDQUOT", "EMFILE", "ENFILE", "ENOMEM", "EAGAIN"]);

export function errorMessage(err: unknown): string {
  if (err instanceof ConnectError) return err.rawMessage;
  if (err instanceof Error) return err.message;
  return String(err);
}
