// CLI-side failures that never reached the daemon: usage errors (exit 2), and stdout closed
// under us (a pipe into `head`). Errors the daemon returns are ConnectErrors, mapped in main.ts.
import { ExitCode } from "../shared/errors.js";

export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, ExitCode.USAGE);

/**
 * The reader of our stdout went away (EPIPE). Not a failure worth a message: `plugprom
 * scrape x | head` is a normal thing to do, so main.ts exits quietly.
 */
export class OutputClosedError extends Error {
  override name = "OutputClosedError";
  constructor(cause: unknown) {
    super("stdout closed", { cause });
  }
}

/** A command's answer is its exit code alone (`diff` exits 1 when something would change). */
export class QuietExit extends Error {
  override name = "QuietExit";
  constructor(readonly exitCode: ExitCode) {
    super(`exit ${exitCode}`);
  }
}
