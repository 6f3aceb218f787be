// The program: the global flags, and every command registered in the order `plugprom --help`
// lists them. A command's arguments, flags, options and work live in its own file under
// commands/ (the shape is described in factory.ts); nothing command-specific happens here.
import { Command, Option, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { errorMessage } from "../shared/errors.js";
import { readTokenFile } from "../shared/token.js";
import { VERSION } from "../shared/version.js";
import type { ControlClient } from "./client.js";
import { newCompleteNamesCommand, newCompletionCommand } from "./commands/completion.js";
import { newDaemonCommand } from "./commands/daemon.js";
import { newGetCommand } from "./commands/get.js";
import { newKillCommand } from "./commands/kill.js";
import { newListCommand } from "./commands/list.js";
import { newLogsCommand } from "./commands/logs.js";
import { newRestartCommand } from "./commands/restart.js";
import { newScrapeCommand } from "./commands/scrape.js";
import { newShutdownCommand } from "./commands/shutdown.js";
import { newStartCommand } from "./commands/start.js";
import { newStatusCommand } from "./commands/status.js";
import { newStopCommand } from "./commands/stop.js";
import { newTargetsCommand } from "./commands/targets.js";
import { newTopCommand } from "./commands/top.js";
import { newVersionCommand } from "./commands/version.js";
import { usageError } from "./errors.js";
import type { CallOptions, Factory, GlobalFlags } from "./factory.js";
import { duration } from "./flags.js";
import type { IO } from "./output.js";

export const DEFAULT_ADDR = "127.0.0.1:50051";

export interface ProgramDeps {
  client(addr: string, token: string | undefined): ControlClient;
  io(globals: GlobalFlags): IO;
  cwd(): string;
  /** Where commander writes help and usage errors; default process.stdout/stderr. */
  writeOut?(text: string): void;
  writeErr?(text: string): void;
}

export type NewCommand = (f: Factory) => CommandUnknownOpts;

/** Every command, in help order. Names starting with "__" are for scripts and hidden. */
export const COMMANDS: readonly NewCommand[] = [
  newDaemonCommand,
  newStartCommand,
  newStopCommand,
  newKillCommand,
  newRestartCommand,
  newListCommand,
  newGetCommand,
  newTargetsCommand,
  newScrapeCommand,
  newStatusCommand,
  newLogsCommand,
  newShutdownCommand,
  newTopCommand,
  newCompletionCommand,
  newCompleteNamesCommand,
  newVersionCommand,
];

/** The program with `commands` registered (tests register one with a captured run). */
export function buildProgram(deps: ProgramDeps, commands: readonly NewCommand[] = COMMANDS): CommandUnknownOpts {
  const program = new Command("plugprom")
    .description("Supervise go-plugin plugins and make each one observable by Prometheus through one daemon.")
    .version(VERSION, "-V, --version", "print the CLI version")
    .addOption(new Option("--addr <addr>", "daemon control address: host:port or unix:/path").env("PLUGPROM_ADDR").default(DEFAULT_ADDR))
    .option("--json", "machine-readable JSON output", false)
    .option("--timeout <duration>", "deadline for each call to the daemon (0: none; logs -f has none)", "60s")
    .option("--debug", "print stack traces on errors", false)
    .option("--no-color", "no colours (also off when NO_COLOR is set or stdout is not a terminal)")
    .option("--token-file <file>", "control token for a daemon started with --control-token-file (or PLUGPROM_TOKEN)")
    .exitOverride()
    .configureOutput(outputFor("plugprom", deps));

  const globals = (): GlobalFlags => program.opts();
  const f: Factory = {
    globals,
    seams: () => {
      const g = globals();
      return { client: deps.client(g.addr, tokenOf(g)), io: deps.io(g), call: deadline(g) };
    },
    io: () => deps.io(globals()),
    cwd: () => deps.cwd(),
  };
  for (const newCommand of commands) {
    const command = newCommand(f);
    // As program.command() would (exitOverride and all), but with its own output settings,
    // so that a usage error points at this command's help.
    command.copyInheritedSettings(program).configureOutput(outputFor(`plugprom ${command.name()}`, deps));
    program.addCommand(command, { hidden: command.name().startsWith("__") });
  }
  return program;
}

/** --token-file wins over PLUGPROM_TOKEN; neither means no token. */
function tokenOf(g: GlobalFlags): string | undefined {
  if (g.tokenFile !== undefined) {
    try {
      return readTokenFile(g.tokenFile, "--token-file");
    } catch (err) {
      throw usageError(errorMessage(err));
    }
  }
  return process.env.PLUGPROM_TOKEN || undefined;
}

/** --timeout as call options; 0 means no deadline (connect would fail a 0 ms deadline at once). */
function deadline(g: GlobalFlags): CallOptions {
  const timeoutMs = duration("--timeout", g.timeout);
  return timeoutMs > 0 ? { timeoutMs } : {};
}

/** Usage errors are one line on stderr, like every other error of the CLI. */
function outputFor(command: string, deps: ProgramDeps) {
  return {
    ...(deps.writeOut ? { writeOut: deps.writeOut } : {}),
    ...(deps.writeErr ? { writeErr: deps.writeErr } : {}),
    outputError: (str: string, write: (s: string) => void) =>
      write(`plugprom: ${str.replace(/^error: /, "").trimEnd().replace(/\s*\n\s*/g, " ")} (see "${command} --help")\n`),
  };
}
