// The CLI's entry point: runs the program and turns every failure into one line on stderr
// and a documented exit code (README "Exit codes"). --debug adds the stack.
import { Code, ConnectError } from "@connectrpc/connect";
import { CommanderError } from "commander";
import { formatDuration } from "../shared/duration.js";
import { ExitCode, exitCodeFor } from "../shared/errors.js";
import { createControlClient, daemonWentAway, failedCallOf, unreachableReason, type ControlClient } from "./client.js";
import { CliError, OutputClosedError, QuietExit } from "./errors.js";
import type { GlobalFlags } from "./factory.js";
import { address } from "./flags.js";
import { installLiteHeaders } from "./headers.js";
import { processIO, type IO } from "./output.js";
import { buildProgram, COMMANDS, DEFAULT_ADDR, type NewCommand } from "./program.js";

/** The process-facing seams of the CLI; tests replace them, bin/plugprom uses the defaults. */
export interface MainDeps {
  createClient(addr: string, token: string | undefined): ControlClient;
  io(globals: GlobalFlags): IO;
  /** Commander's help text. */
  writeOut(text: string): void;
  /** Error lines (ours and commander's). */
  writeErr(text: string): void;
  cwd(): string;
  /** The commands; tests register one whose run they capture. */
  commands: readonly NewCommand[];
}

const processDeps: MainDeps = {
  createClient: (addr, token) => {
    // This process is a CLI client: spare it the load of undici behind the global Headers.
    installLiteHeaders();
    return createControlClient(addr, token);
  },
  io: (g) => processIO({ noColor: !g.color }),
  writeOut: (text) => void process.stdout.write(text),
  writeErr: (text) => void process.stderr.write(text),
  cwd: () => process.cwd(),
  commands: COMMANDS,
};

/** Runs the CLI on `argv` (as process.argv: node, script, args…) and returns the exit code. */
export async function main(argv: string[], overrides: Partial<MainDeps> = {}): Promise<number> {
  const deps = { ...processDeps, ...overrides };
  // Only flags before "--" are ours: after it comes a plugin's command line.
  const end = argv.indexOf("--");
  const debug = (end < 0 ? argv : argv.slice(0, end)).includes("--debug");
  let addr = process.env.PLUGPROM_ADDR || DEFAULT_ADDR;
  const program = buildProgram(
    {
      client: (a, token) => {
        addr = a;
        return deps.createClient(address("--addr", a), token);
      },
      io: deps.io,
      cwd: deps.cwd,
      writeOut: deps.writeOut,
      writeErr: deps.writeErr,
    },
    deps.commands,
  );
  try {
    await program.parseAsync(argv);
    return ExitCode.OK;
  } catch (err) {
    return report(err, { debug, addr, writeErr: deps.writeErr });
  }
}

function report(err: unknown, ctx: { debug: boolean; addr: string; writeErr(text: string): void }): number {
  const fail = (message: string, code: number) => {
    // A message of several problems (an invalid plugins file) is one line per problem.
    ctx.writeErr(message.split("\n").map((line) => `plugprom: ${line}\n`).join(""));
    if (ctx.debug && err instanceof Error && err.stack) ctx.writeErr(`${err.stack}\n`);
    return code;
  };
  if (err instanceof CommanderError) {
    // Commander already printed its message (help, version, or a one-line usage error).
    return err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help" ? ExitCode.OK : ExitCode.USAGE;
  }
  if (err instanceof OutputClosedError) return ExitCode.OK;
  if (err instanceof QuietExit) return err.exitCode;
  if (err instanceof CliError) return fail(err.message, err.exitCode);
  const unreachable = unreachableReason(err);
  if (unreachable) {
    return fail(
      `cannot reach the plugprom daemon at ${ctx.addr} (${unreachable}). Is it running? ` +
        'Start it with "plugprom daemon", or point --addr/PLUGPROM_ADDR at it.',
      ExitCode.UNREACHABLE,
    );
  }
  const call = failedCallOf(err);
  if (call?.timedOut) {
    return fail(
      `the ${call.procedure} call to the daemon at ${ctx.addr} timed out after ${formatDuration(call.elapsedMs)} (--timeout)`,
      ExitCode.FAILED,
    );
  }
  if (call && daemonWentAway(err)) {
    return fail(
      `the daemon at ${ctx.addr} went away during the ${call.procedure} call (it exited or was killed): ` +
        'whether it took effect is unknown; "plugprom list" shows what a restarted daemon has',
      ExitCode.FAILED,
    );
  }
  if (err instanceof ConnectError && err.code === Code.Unauthenticated) {
    return fail(`${err.rawMessage} (daemon at ${ctx.addr})`, ExitCode.UNAUTHENTICATED);
  }
  if (err instanceof ConnectError) return fail(err.rawMessage, exitCodeFor(err.code));
  // Flag validation in the daemon's startup (bad --config, address in use…).
  return fail(err instanceof Error ? err.message : String(err), ExitCode.FAILED);
}
