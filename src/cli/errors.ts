// CLI-side failures that never reached the daemon: usage errors (exit 2) and an unreachable
// daemon (exit 3). Errors the daemon returns are ConnectErrors, mapped in main.ts.
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
