// The CLI's entry point: runs the program and turns every failure into one line on stderr
// and a documented exit code (README "Exit codes"). --debug adds the stack.
import { Code, ConnectError } from "@connectrpc/connect";
import { CommanderError } from "commander";
import { ExitCode, exitCodeFor } from "../shared/errors.js";
import { createControlClient, unreachableReason } from "./client.js";
import { CliError } from "./errors.js";
import { processIO } from "./output.js";
import { buildProgram, DEFAULT_ADDR } from "./program.js";

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  let addr = process.env.PLUGPROM_ADDR || DEFAULT_ADDR;
  const program = buildProgram({
    client: (a, token) => {
      addr = a;
      return createControlClient(a, token);
    },
    io: (g) => processIO({ noColor: !g.color }),
    cwd: () => process.cwd(),
  });
  try {
    await program.parseAsync(argv);
    return ExitCode.OK;
  } catch (err) {
    return report(err, { debug, addr });
  }
}

function report(err: unknown, ctx: { debug: boolean; addr: string }): number {
  const fail = (message: string, code: number) => {
    process.stderr.write(`plugprom: ${message}\n`);
    if (ctx.debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return code;
  };
  if (err instanceof CommanderError) {
    // Commander already printed its message (help, version, or a usage error).
    return err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help" ? ExitCode.OK : ExitCode.USAGE;
  }
  if (err instanceof CliError) return fail(err.message, err.exitCode);
  const unreachable = unreachableReason(err);
  if (unreachable) {
    return fail(
      `cannot reach the plugprom daemon at ${ctx.addr} (${unreachable}). Is it running? ` +
        'Start it with "plugprom daemon", or point --addr/PLUGPROM_ADDR at it.',
      ExitCode.UNREACHABLE,
    );
  }
  if (err instanceof ConnectError && err.code === Code.Unauthenticated) {
    return fail(`${err.rawMessage} (daemon at ${ctx.addr})`, ExitCode.UNAUTHENTICATED);
  }
  if (err instanceof ConnectError) {
    if (err.code === Code.DeadlineExceeded && /operation timed out/.test(err.rawMessage)) {
      return fail(`the daemon at ${ctx.addr} did not answer in time (--timeout)`, ExitCode.FAILED);
    }
    return fail(err.rawMessage, exitCodeFor(err.code));
  }
  // Flag validation in the daemon's startup (bad --config, address in use…).
  return fail(err instanceof Error ? err.message : String(err), ExitCode.FAILED);
}
