// <state-dir>/instances.json: the instances the user asked for, and what is needed to find
// their processes again (go-plugin's ReattachConfig plus the process start time), written
// atomically on every change so that a daemon killed at any moment loses nothing.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CoalescingFileWriter } from "./atomic-file.js";
import type { InstanceSpec } from "../spec.js";
import { DaemonError } from "../errors.js";

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

export async function loadDesiredState(stateDir: string): Promise<PersistedInstance[]> {
  const file = join(stateDir, INSTANCES_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new StateFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
  }
  let doc: PersistedState;
  try {
    doc = JSON.parse(text) as PersistedState;
  } catch {
    throw new StateFileError(`${file} is not valid JSON; move it aside to start with no instances`);
  }
  if (doc.version !== STATE_FORMAT_VERSION) {
    throw new StateFileError(
      `${file} has format version ${String(doc.version)}, this plugprom reads ${STATE_FORMAT_VERSION}; ` +
        "run the plugprom version that wrote it, or move the file aside",
    );
  }
  if (!Array.isArray(doc.instances)) throw new StateFileError(`${file}: "instances" must be an array`);
  return doc.instances;
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
