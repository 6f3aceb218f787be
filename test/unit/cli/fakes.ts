// Test seams for the CLI, after cli/cli's pattern of testing each command twice:
//  - flags -> options: `parseCommand(newXCommand, argv)` runs the real program (global flags,
//    commander, main()'s error reporting) with that command's run replaced by a capture;
//  - options -> output: `testSeams(methods)` gives a run function a fake control client that
//    records its calls and an IO that records what is printed.
// `runCli` runs the whole CLI on a fake client, for what only the wiring shows.
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { PluginInfoSchema, PluginState, type PluginInfo } from "../../../src/shared/gen/plugprom/v1/control_pb.js";
import type { ControlClient } from "../../../src/cli/client.js";
import type { CallOptions, Factory, Seams } from "../../../src/cli/factory.js";
import { main, type MainDeps } from "../../../src/cli/main.js";
import type { IO } from "../../../src/cli/output.js";
import { COMMANDS } from "../../../src/cli/program.js";

export type FakeMethods = Partial<Record<keyof ControlClient, (req: any, options?: any) => unknown>>;

/** What a command printed and asked. */
export interface Recorded {
  stdout: string;
  stderr: string;
  /** Each io.out() call, in order: shows whether output was streamed or batched. */
  writes: string[];
  /** RPCs the command made: [method, request, call options]. */
  calls: Array<[string, any, any]>;
}

export interface IOOptions {
  color?: boolean;
  /** Called on every io.out(); may throw to simulate a closed stdout. */
  onWrite?: (data: string) => void | Promise<void>;
}

/** The clock every test IO shows: 1m30s after the fixtures' start time. */
export const NOW = new Date("2026-01-01T00:01:30Z");

export function recorder(): Recorded {
  return { stdout: "", stderr: "", writes: [], calls: [] };
}

/** A control client whose methods are `methods`; any other call fails the test. */
export function fakeClient(methods: FakeMethods, rec: Recorded): ControlClient {
  return new Proxy({} as ControlClient, {
    get: (_t, method: string) => (req: unknown, options: unknown) => {
      rec.calls.push([method, req, options]);
      const impl = methods[method as keyof ControlClient];
      if (!impl) throw new Error(`unexpected call ${method}`);
      return impl(req, options);
    },
  });
}

export function testIO(rec: Recorded, o: IOOptions = {}): IO {
  return {
    out: async (d) => {
      const text = typeof d === "string" ? d : Buffer.from(d).toString();
      await o.onWrite?.(text);
      rec.writes.push(text);
      rec.stdout += text;
    },
    err: (l) => void (rec.stderr += l.endsWith("\n") ? l : `${l}\n`),
    color: o.color ?? false,
    now: () => NOW,
  };
}

/** Seams for calling a run function directly; `rec` shows what it printed and asked. */
export function testSeams(methods: FakeMethods, o: IOOptions & { call?: CallOptions } = {}): { seams: Seams; rec: Recorded } {
  const rec = recorder();
  return { seams: { client: fakeClient(methods, rec), io: testIO(rec, o), call: o.call ?? { timeoutMs: 60_000 } }, rec };
}

export interface CliRun extends Recorded {
  code: number;
}

export interface RunOptions extends IOOptions {
  cwd?: string;
  /** Replaces the fake client, e.g. with the real one. */
  createClient?: MainDeps["createClient"];
  commands?: MainDeps["commands"];
}

/** The whole CLI (main, commander, every command) on `args`, with a fake client. */
export async function runCli(methods: FakeMethods, args: string[], o: RunOptions = {}): Promise<CliRun> {
  const rec = recorder();
  const fake = fakeClient(methods, rec);
  const io = testIO(rec, o);
  const code = await main(["node", "plugprom", ...args], {
    createClient: o.createClient ?? (() => fake),
    io: () => io,
    writeOut: (t) => void (rec.stdout += t),
    writeErr: (t) => void (rec.stderr += t),
    cwd: () => o.cwd ?? "/home/me/project",
    ...(o.commands ? { commands: o.commands } : {}),
  });
  return { code, ...rec };
}

/** The one line a failing command wrote to stderr (fails unless it is exactly one). */
export function oneLine(stderr: string): string {
  assert.equal(stderr.split("\n").filter(Boolean).length, 1, `expected one line on stderr, got:\n${stderr}`);
  return stderr.trimEnd();
}

export interface Parsed<O> extends CliRun {
  /** The options the command's run got; undefined when the command line was refused. */
  options?: O;
}

/**
 * Runs the real program on `args` with `newCommand`'s run replaced by one that keeps the
 * options: flags -> options, with usage errors reported as main() reports them.
 */
export async function parseCommand<O>(
  newCommand: (f: Factory, runF: (o: O, ...rest: any[]) => Promise<void>) => CommandUnknownOpts,
  args: string[],
  o: Omit<RunOptions, "commands"> = {},
): Promise<Parsed<O>> {
  if (!(COMMANDS as readonly unknown[]).includes(newCommand)) throw new Error("parseCommand: not one of the program's commands");
  let options: O | undefined;
  const capture = async (opts: O) => void (options = opts);
  const commands = COMMANDS.map((c) => (c === newCommand ? (f: Factory) => newCommand(f, capture) : c));
  const run = await runCli({}, args, { ...o, commands });
  return { ...run, options };
}

// Fixtures: two instances as the daemon would describe them.

export const abc: PluginInfo = create(PluginInfoSchema, {
  name: "abc",
  state: PluginState.RUNNING,
  pid: 4242,
  command: "/usr/bin/node",
  args: ["greeter.js"],
  labels: { team: "core" },
  startedAt: timestampFromDate(new Date("2026-01-01T00:00:00Z")),
  restarts: 2,
  metricsEndpoint: "unix:/state/sockets/abc.metrics.sock",
  protocolVersion: 1,
  rpcAddress: "unix:/state/sockets/plugin1",
  rpcProtocol: "grpc",
  healthy: true,
  workingDir: "/home/me",
  restartPolicy: "on-failure",
  livenessFailures: 3,
  healthInterval: "10s",
});

export const crashed: PluginInfo = create(PluginInfoSchema, {
  name: "longer-name",
  state: PluginState.CRASHED,
  lastExitCode: 0,
  lastExitSignal: "SIGSEGV",
  lastError: "exited unexpectedly",
  healthInterval: "200ms",
  failedHealthChecks: 2,
  livenessRestarts: 1,
  livenessFailures: 2,
  stoppedAt: timestampFromDate(new Date("2026-01-01T00:01:00Z")),
});

/** The documented keys of a plugin's JSON object (README "JSON output"), sorted. */
export const PLUGIN_KEYS = [
  "args", "command", "failedHealthChecks", "groupRssBytes", "healthInterval", "healthy", "labels", "lastError", "lastExitCode",
  "lastExitSignal", "livenessFailures", "livenessRestarts", "maxPids", "memoryEnforcement", "memoryLimitBytes", "metricsEndpoint",
  "name", "nextRestartAt", "pid", "plugin", "protocolVersion", "restartPolicy", "restarts", "rpcAddress", "rpcProtocol",
  "scrapeInterval", "scrapeTimeout", "startedAt", "state", "stoppedAt", "workingDir",
];
