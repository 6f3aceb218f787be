// Test seams for the CLI: a fake control client that records calls, and a run of the real
// main() (commander wiring, error reporting, exit codes) with captured stdout and stderr.
import { main, type MainDeps } from "../../src/cli/main.js";
import type { ControlClient } from "../../src/cli/client.js";
import type { IO } from "../../src/cli/output.js";

export type FakeMethods = Partial<Record<keyof ControlClient, (req: any, options?: any) => unknown>>;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Each io.out() call, in order: shows whether output was streamed or batched. */
  writes: string[];
  /** RPCs the command made: [method, request, call options]. */
  calls: Array<[string, any, any]>;
}

export interface RunOptions {
  color?: boolean;
  cwd?: string;
  /** Replaces the fake client, e.g. with the real one. */
  createClient?: MainDeps["createClient"];
  /** Called on every io.out(); may throw to simulate a closed stdout. */
  onWrite?: (data: string) => void | Promise<void>;
}

export async function runCli(methods: FakeMethods, args: string[], o: RunOptions = {}): Promise<CliRun> {
  const calls: CliRun["calls"] = [];
  const fake = new Proxy({} as ControlClient, {
    get: (_t, method: string) => (req: unknown, options: unknown) => {
      calls.push([method, req, options]);
      const impl = methods[method as keyof ControlClient];
      if (!impl) throw new Error(`unexpected call ${method}`);
      return impl(req, options);
    },
  });
  const run: CliRun = { code: -1, stdout: "", stderr: "", writes: [], calls };
  const io: IO = {
    out: async (d) => {
      const text = typeof d === "string" ? d : Buffer.from(d).toString();
      await o.onWrite?.(text);
      run.writes.push(text);
      run.stdout += text;
    },
    err: (l) => void (run.stderr += l.endsWith("\n") ? l : `${l}\n`),
    color: o.color ?? false,
    now: () => new Date("2026-01-01T00:01:30Z"),
  };
  run.code = await main(["node", "plugprom", ...args], {
    createClient: o.createClient ?? (() => fake),
    io: () => io,
    writeOut: (t) => void (run.stdout += t),
    writeErr: (t) => void (run.stderr += t),
    cwd: () => o.cwd ?? "/home/me/project",
  });
  return run;
}
