// Test harness: a real `bin/plugprom daemon` process on ephemeral ports with a temp state
// dir, the real CLI binary, and plain HTTP helpers. Everything started here is reaped by
// the returned handle's close(), which tests register with t.after.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { repoRoot } from "./paths.js";
import { killProcessesStartedBy } from "./procs.js";
import type { PluginJson } from "../../src/cli/output.js";

export type { PluginJson };

export const PLUGPROM = join(repoRoot, "bin", "plugprom");
export const GREETER = join(repoRoot, "bin", "plugprom-greeter");

export interface DaemonHandle {
  proc: ChildProcess;
  stateDir: string;
  grpcAddr: string;
  httpAddr: string;
  advertiseAddr: string;
  httpBase: string;
  /** Everything the daemon logged so far. */
  log(): string;
  /** Resolves when the daemon's log contains `text` (or matches the pattern). */
  waitForLog(pattern: string | RegExp, timeoutMs?: number): Promise<void>;
  cli(args: string[], opts?: CliOptions): Promise<CliResult>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Reaps the daemon (SIGKILL if still running) and removes the state dir. */
  close(): Promise<void>;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  /** Another plugprom executable than this checkout's (an installed package). */
  bin?: string;
  cwd?: string;
  input?: string;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StartDaemonOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  stateDir?: string;
  /** Keep the state dir on close (tests that restart a daemon on it). */
  keepStateDir?: boolean;
  /** Node flags for the daemon process (e.g. --cpu-prof for the benchmarks). */
  nodeFlags?: string[];
  /** A command that runs the daemon, e.g. ["prlimit", "--nofile=128:128", "--"] (it must exec it). */
  wrapper?: string[];
  /** Another plugprom executable than this checkout's (an installed package). */
  bin?: string;
}

/** The environment tests give plugprom processes: no colour, short plugin tick for tests. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  for (const k of Object.keys(env)) if (k.startsWith("PLUGPROM_")) delete env[k];
  return { ...env, ...extra };
}

export async function startDaemon(opts: StartDaemonOptions = {}): Promise<DaemonHandle> {
  // Short: Unix socket paths inside it must stay under 107 bytes.
  const stateDir = opts.stateDir ?? (await mkdtemp(join(tmpdir(), "pp-")));
  const args = [
    "daemon",
    "--grpc-addr",
    "127.0.0.1:0",
    "--http-addr",
    "127.0.0.1:0",
    "--state-dir",
    stateDir,
    "--log-level",
    "debug",
    ...(opts.args ?? []),
  ];
  const bin = opts.bin ?? PLUGPROM;
  const command = opts.nodeFlags ? [process.execPath, ...opts.nodeFlags, bin, ...args] : [bin, ...args];
  if (opts.wrapper) command.unshift(...opts.wrapper);
  const proc = spawn(command[0], command.slice(1), { env: testEnv(opts.env), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString("utf8");
    for (const w of waiters) w();
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  const exited = once(proc, "exit") as Promise<[number | null, NodeJS.Signals | null]>;

  const waitForLog = (pattern: string | RegExp, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const matches = () => (typeof pattern === "string" ? output.includes(pattern) : pattern.test(output));
      if (matches()) return resolve();
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`daemon log never matched ${pattern} within ${timeoutMs} ms. Log:\n${output}`));
      }, timeoutMs);
      const check = () => {
        if (matches()) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      void exited.then(([code]) => {
        if (waiters.has(check)) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`daemon exited (${code}) before its log matched ${pattern}. Log:\n${output}`));
        }
      });
    });

  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
    killProcessesStartedBy(stateDir);
    if (!opts.keepStateDir) await rm(stateDir, { recursive: true, force: true });
  };

  try {
    await waitForLog("plugprom daemon ready");
  } catch (err) {
    await close();
    throw err;
  }
  const state = JSON.parse(await readFile(join(stateDir, "daemon.json"), "utf8")) as {
    grpcAddr: string;
    httpAddr: string;
    advertiseAddr: string;
  };
  return {
    proc,
    stateDir,
    grpcAddr: state.grpcAddr,
    httpAddr: state.httpAddr,
    advertiseAddr: state.advertiseAddr,
    httpBase: `http://${state.httpAddr}`,
    log: () => output,
    waitForLog,
    cli: (cliArgs, cliOpts) => runCli(["--addr", state.grpcAddr, ...cliArgs], { bin, ...cliOpts }),
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const [code] = await exited;
      return code;
    },
    close,
  };
}

export interface RefusedDaemon {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr together. */
  output: string;
}

/**
 * Runs `plugprom daemon` on `stateDir` expecting it to refuse to start, and resolves with how
 * it exited. The deadline is generous (a loaded machine starts a daemon slowly); a daemon that
 * gets as far as "ready" or outlives it is killed and fails the test with its log, so a slow
 * start is never mistaken for a refusal.
 */
export async function refusedDaemon(stateDir: string, opts: { args?: string[]; wrapper?: string[]; timeoutMs?: number } = {}): Promise<RefusedDaemon> {
  const { args = [], wrapper = [], timeoutMs = 60_000 } = opts;
  const command = [...wrapper, PLUGPROM, "daemon", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--state-dir", stateDir, ...args];
  const proc = spawn(command[0], command.slice(1), {
    env: testEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  // "close": exited, and its output read to the end.
  const exited = once(proc, "close") as Promise<[number | null, NodeJS.Signals | null]>;
  const failure = new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve(`did not exit within ${timeoutMs} ms`), timeoutMs);
    void exited.then(() => clearTimeout(timer));
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes("plugprom daemon ready")) resolve("started instead of refusing");
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
  });
  const outcome = await Promise.race([exited, failure]);
  if (typeof outcome === "string") {
    proc.kill("SIGKILL");
    await exited;
    killProcessesStartedBy(stateDir);
    throw new Error(`plugprom daemon on ${stateDir} ${outcome}. Log:\n${output}`);
  }
  return { code: outcome[0], signal: outcome[1], output };
}

/** What a test context offers for cleanup (node:test's TestContext, or a suite's). */
export interface Cleanup {
  after(fn: () => Promise<void> | void): void;
}

/** A daemon for one test: started with these flags, reaped (and its state dir removed) when the test ends. */
export async function daemon(t: Cleanup, args: string[] = [], opts: Omit<StartDaemonOptions, "args"> = {}): Promise<DaemonHandle> {
  const d = await startDaemon({ ...opts, args });
  t.after(() => d.close());
  return d;
}

/**
 * Daemons that take turns on one state dir (restarts, crashes): each call starts the next one
 * on the same dir with `opts`; all are reaped, then the dir removed, when the test ends.
 */
export function daemonFleet(
  t: Cleanup,
  base: Omit<StartDaemonOptions, "args" | "keepStateDir"> = {},
): (args?: string[], opts?: Omit<StartDaemonOptions, "args" | "keepStateDir" | "stateDir">) => Promise<DaemonHandle> {
  const handles: DaemonHandle[] = [];
  let stateDir = base.stateDir;
  const ownDir = stateDir === undefined;
  t.after(async () => {
    for (const h of handles.reverse()) await h.close();
    if (stateDir && ownDir) await rm(stateDir, { recursive: true, force: true });
  });
  return async (args = [], opts = {}) => {
    const d = await startDaemon({ ...base, ...opts, args, stateDir, keepStateDir: true });
    stateDir ??= d.stateDir;
    handles.push(d);
    return d;
  };
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(opts.bin ?? PLUGPROM, args, { env: testEnv(opts.env), cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    proc.on("error", reject);
    proc.on("close", (code) => resolve({ code, stdout, stderr }));
    proc.stdin!.end(opts.input ?? "");
  });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function httpGet(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Running, and not a zombie (an orphaned plugin may stay a zombie until init reaps it). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

/** Polls `check` until it returns true (a condition, not a fixed sleep). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `plugprom get <name> --json`, which must succeed. */
export async function getPlugin(d: DaemonHandle, name: string): Promise<PluginJson> {
  const r = await d.cli(["get", name, "--json"]);
  if (r.code !== 0) throw new Error(`plugprom get ${name} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as PluginJson;
}
