// The one mapping from a control-API error code to a CLI exit code. The daemon's errors reach
// the CLI as ConnectErrors with a Code (daemon/control/errors.ts maps them); the CLI turns
// one into one line on stderr and this exit code.
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
  /** `daemon`: a state file it will not use or touch (unreadable, unknown version, wrong shape). */
  STATE: 7,
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
    case Code.DataLoss:
      return ExitCode.STATE;
    default:
      return ExitCode.FAILED;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof ConnectError) return err.rawMessage;
  if (err instanceof Error) return err.message;
  return String(err);
}
