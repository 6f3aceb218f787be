// What a command gets from the program, and the shape every command file follows.
//
// A command lives in commands/<verb>.ts and exports three things: its options type (what the
// command line means, parsed and checked: durations in ms, pairs as records), a
// `new<Verb>Command(f, runF)` that declares its arguments and flags and turns them into those
// options, and a `run<Verb>(options, seams)` that does the work through the seams. The
// program registers the commands; tests give `new<Verb>Command` their own runF to see the
// options a command line makes, and call `run<Verb>` with a fake client to see the output.
import type { ControlClient } from "./client.js";
import type { IO } from "./output.js";

/** The flags every command accepts, before or after its name (README "Commands"). */
export interface GlobalFlags {
  addr: string;
  tokenFile?: string;
  json: boolean;
  timeout: string;
  debug: boolean;
  /** false for --no-color. */
  color: boolean;
}

/** Per-call options of the control client; no timeoutMs means no deadline (--timeout 0). */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What a command that talks to the daemon runs through. */
export interface Seams {
  client: ControlClient;
  io: IO;
  /** The --timeout deadline, for each call. */
  call: CallOptions;
}

export interface Factory {
  /** The global flags, once the command line is parsed. */
  globals(): GlobalFlags;
  /** Client, output and deadline from the global flags; a bad --addr, --token-file or --timeout is a usage error here. */
  seams(): Seams;
  /** Output alone, for a command that never asks the daemon. */
  io(): IO;
  /** The user's working directory (paths on the command line are relative to it). */
  cwd(): string;
}

/** A client command's work: its options in, output through the seams. */
export type Run<O> = (o: O, s: Seams) => Promise<void>;
