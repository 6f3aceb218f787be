// <state-dir>/instances.json: the instances the user asked for, and what is needed to find
// their processes again (go-plugin's ReattachConfig plus the process start time), written
// atomically on every change so that a daemon killed at any moment loses nothing.
import { link, readFile, readlink, rm, stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import { dirname, join } from "node:path";
import { CoalescingFileWriter, syncDirectory } from "./atomic-file.js";
import { instancesProblem } from "./instances-shape.js";
import type { InstanceSpec } from "../spec.js";
import { DaemonError, describeSystemError } from "../errors.js";

export const INSTANCES_FILE = "instances.json";
export const STATE_FORMAT_VERSION = 1;

/** What a live process needs for a reattach: pid + start time, its RPC and AutoMTLS material. */
export interface ReattachInfo {
  pid: number;
  startTicks: string;
  startedAt: string;
  appVersion: number;
  network: "tcp" | "unix";
  address: string;
  protocol: "grpc" | "netrpc";
  /** base64 DER of the plugin's server certificate, when it runs with AutoMTLS. */
  serverCert?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  metricsEndpoint: string;
  args: string[];
  stdoutLog: string;
  stderrLog: string;
}

/** A process's identity: pid and start time (clock ticks since boot, from /proc). */
export interface ProcessIdentity {
  pid: number;
  startTicks: string;
}

export interface PersistedInstance {
  spec: InstanceSpec;
  restarts: number;
  /**
   * The plugins file (absolute path) that created or last updated it; absent when started by
   * hand. `daemon --apply` prunes only its own file's instances.
   */
  origin?: string;
  /**
   * The process, from the moment it was spawned (before its handshake): a daemon that finds
   * it alive without `reattach` stops it, since the start it belonged to was cut off.
   */
  process?: ProcessIdentity;
  reattach?: ReattachInfo;
}

export interface PersistedState {
  version: number;
  instances: PersistedInstance[];
}

export class StateFileError extends DaemonError {
  override name = "StateFileError";

  constructor(message: string) {
    super("corrupt", message);
  }
}

/** An instances.json that could not be parsed, moved aside so that nothing overwrites it. */
export interface SetAsideFile {
  /** Where it is now: `instances.json.corrupt-<time>`. */
  path: string;
  /** Why it could not be used: "is empty", "is truncated (it ends mid-JSON)", "is not text (garbage bytes)". */
  reason: string;
}

export interface LoadedState {
  instances: PersistedInstance[];
  /** Set when the daemon starts with no instances because the file could not be parsed. */
  setAside?: SetAsideFile;
}

/** Larger than any real state (5,000 instances with AutoMTLS material are ~15 MiB): not read. */
export const MAX_INSTANCES_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Reads instances.json. The rules (README "The state directory"): no file is no instances; a
 * file whose bytes cannot be parsed (empty, truncated, garbage) is moved aside and the daemon
 * starts with none; a file that cannot be read, of another format version, or of the wrong
 * shape is refused (StateFileError) and left as it is, since it may be intact, newer, or
 * mendable by hand, and starting without it would stop every plugin it names.
 */
export async function loadDesiredState(stateDir: string, now: Date = new Date()): Promise<LoadedState> {
  const file = join(stateDir, INSTANCES_FILE);
  const refuse = (problem: string, remedy = "fix it or move it aside to start with no instances") =>
    new StateFileError(`${file} ${problem}; the daemon did not start and left it as it is: ${remedy}`);
  const text = await readStateText(file, refuse);
  if (text === undefined) return { instances: [] };
  // A byte-order mark is what some editors add: the file is still the one plugprom wrote.
  const json = text.replace(/^\uFEFF/, "");
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    const broken = damage(json, err as SyntaxError);
    if ("edited" in broken) throw refuse(`is not valid JSON: ${broken.edited}`);
    return { instances: [], setAside: { path: await setAside(file, now, refuse), reason: broken.reason } };
  }
  const version = (doc as Partial<PersistedState> | null)?.version;
  if (typeof version !== "number") throw refuse('has no format "version": it is not a plugprom instances file');
  if (version > STATE_FORMAT_VERSION) {
    throw refuse(
      `has format version ${version}, newer than this plugprom reads (${STATE_FORMAT_VERSION})`,
      "run the plugprom version that wrote it (or a newer one); state is never downgraded",
    );
  }
  if (version !== STATE_FORMAT_VERSION) {
    throw refuse(`has format version ${version}, which this plugprom does not read (only ${STATE_FORMAT_VERSION})`);
  }
  const problem = instancesProblem((doc as PersistedState).instances);
  if (problem) throw refuse(`is not what plugprom writes: ${problem}`);
  return { instances: (doc as PersistedState).instances };
}

/**
 * How a file that JSON.parse refused was damaged. Empty, cut short, or not text at all: what a
 * crash, a plain copy cut off, or a disk fault leaves, with nothing in it to read back (set
 * aside). Well-formed text with a syntax error in the middle: a hand edit gone wrong (a
 * trailing comma), which whoever made it can mend (refused, with the place).
 */
function damage(text: string, err: SyntaxError): { reason: string } | { edited: string } {
  const body = text.trimEnd();
  if (body.trim() === "") return { reason: "is empty" };
  // NUL and other control bytes, or invalid UTF-8 (decoded as U+FFFD): not a text file.
  if (/[\x00-\x08\x0e-\x1f\ufffd]/.test(body)) return { reason: "is not text (garbage bytes)" };
  const at = /at position (\d+)/.exec(err.message);
  if (/end of JSON input/.test(err.message) || (at && Number(at[1]) >= body.length)) return { reason: "is truncated (it ends mid-JSON)" };
  // V8 quotes the text around an unexpected token: not into a one-line error.
  if (!at) return { edited: err.message.split(/, "/)[0].replace(/\s+/g, " ").slice(0, 120) };
  const before = text.slice(0, Number(at[1]));
  const line = before.split("\n").length;
  return { edited: `${err.message.replace(/ in JSON at position \d+/, "")} at line ${line}, column ${before.length - before.lastIndexOf("\n")}` };
}

/**
 * The file's text; undefined when there is none. Only a regular file of a sane size is read:
 * a FIFO would block the daemon forever, and a huge file would exhaust its memory.
 */
async function readStateText(file: string, refuse: (problem: string, remedy?: string) => StateFileError): Promise<string | undefined> {
  let st: Stats;
  try {
    st = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw refuse(`cannot be read: ${describeSystemError(err)}`);
    // A dangling symbolic link is a file that is missing, not "no instances".
    const target = await readlink(file).catch(() => undefined);
    if (target !== undefined) throw refuse(`is a symbolic link to ${target}, which does not exist`);
    return undefined;
  }
  if (!st.isFile()) throw refuse(`cannot be read: it is ${st.isDirectory() ? "a directory" : "not a regular file"}`);
  if (st.size > MAX_INSTANCES_FILE_BYTES) throw refuse(`cannot be read: it is larger than ${MAX_INSTANCES_FILE_BYTES / 1024 / 1024} MiB`);
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const denied = code === "EACCES" || code === "EPERM";
    throw refuse(`cannot be read: ${describeSystemError(err)}`, denied ? `make it readable by the daemon's user (it runs as uid ${process.getuid?.()})` : undefined);
  }
}

/**
 * Moves `file` to `<file>.corrupt-<time>` (never over an existing file: link, then unlink)
 * and makes that durable before anything can write a new `file`.
 */
async function setAside(file: string, now: Date, refuse: (problem: string) => StateFileError): Promise<string> {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  for (let n = 1; n <= 100; n++) {
    const aside = `${file}.corrupt-${stamp}${n === 1 ? "" : `-${n}`}`;
    try {
      await link(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw refuse(`could not be parsed, and could not be kept aside as ${aside}: ${describeSystemError(err)}`);
    }
    await rm(file);
    await syncDirectory(dirname(file));
    return aside;
  }
  throw refuse("could not be parsed, and 100 copies of it are kept aside already");
}

/** Writes instances.json through a CoalescingFileWriter. */
export class DesiredStateWriter {
  private readonly file: CoalescingFileWriter;

  constructor(stateDir: string, onError: (err: unknown) => void) {
    this.file = new CoalescingFileWriter(join(stateDir, INSTANCES_FILE), onError);
  }

  /** Schedules a write of `snapshot()` (called when the write actually happens). */
  save(snapshot: () => PersistedInstance[]): void {
    this.file.save(() => `${JSON.stringify({ version: STATE_FORMAT_VERSION, instances: snapshot() }, null, 2)}\n`);
  }

  flush(): Promise<void> {
    return this.file.flush();
  }
}
