// Whether a plugin answers: go-plugin's health check (grpc.health.v1 for service "plugin",
// as its Ping does) for gRPC plugins, a connect to its address for net/rpc ones (whose RPC
// we do not speak); waiting for the first SERVING at start; and the periodic check of a
// RUNNING plugin, which owns its timer and never waits for a check longer than its interval.
import { connect as netConnect } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { errorMessage } from "../../shared/errors.js";
import { startFailed, timedOut } from "../errors.js";
import type { Handshake } from "../../goplugin/handshake.js";
import type { PluginClient } from "../../goplugin/host.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { HealthResult } from "./plugin-runner.js";

/** No single health call waits longer than this. */
export const HEALTH_CALL_TIMEOUT_MS = 5_000;
const HEALTH_POLL_MS = 50;
/** Errors of the daemon's own resources: a check that fails so says nothing about the plugin. */
const DAEMON_FAULTS = new Set(["EMFILE", "ENFILE", "ENOMEM", "ENOBUFS"]);

/**
 * How long one periodic check may take: never longer than the interval, so that checks do
 * not pile up and n failed checks take n intervals, and at most HEALTH_CALL_TIMEOUT_MS.
 */
function healthCheckTimeoutMs(intervalMs: number): number {
  return Math.max(1, Math.min(HEALTH_CALL_TIMEOUT_MS, intervalMs));
}

/** One check: SERVING over gRPC, or a connect for net/rpc; on failure, why. */
export async function checkServing(h: Handshake, client: PluginClient | undefined, timeoutMs: number): Promise<HealthResult> {
  try {
    if (client) {
      const status = await client.checkHealth(timeoutMs);
      return status === "SERVING" ? { ok: true } : { ok: false, error: `health service "plugin" reported ${status}` };
    }
    await probeConnect(h, timeoutMs);
    return { ok: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, error: errorMessage(err), ...(code !== undefined && DAEMON_FAULTS.has(code) ? { daemonFault: true } : {}) };
  }
}

/** Resolves once something accepts a connection on the handshake's address. */
export function probeConnect(h: Pick<Handshake, "network" | "address">, timeoutMs = HEALTH_CALL_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const i = h.address.lastIndexOf(":");
    const socket = h.network === "unix" ? netConnect({ path: h.address }) : netConnect({ host: h.address.slice(0, i), port: Number(h.address.slice(i + 1)) });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`connect timed out after ${timeoutMs} ms`)));
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", reject);
  });
}

/** Polls the health service until SERVING; rejects at the deadline or when `signal` aborts. */
export async function waitServing(client: PluginClient, deadline: number, signal: AbortSignal): Promise<void> {
  let last = "no answer";
  while (Date.now() < deadline && !signal.aborted) {
    try {
      const status = await client.checkHealth(Math.min(HEALTH_CALL_TIMEOUT_MS, Math.max(1, deadline - Date.now())));
      if (status === "SERVING") return;
      last = status;
    } catch (err) {
      last = errorMessage(err);
    }
    await delay(HEALTH_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  if (signal.aborted) throw startFailed("stopped while starting");
  throw timedOut(`plugin did not report SERVING for health service "plugin" (last: ${last})`);
}

/**
 * A failed check that ended this much later than its timeout says more about the daemon (an
 * event loop stalled by garbage collection or CPU starvation, which made the answer look late)
 * than about the plugin.
 */
export function stallAllowanceMs(timeoutMs: number): number {
  return Math.max(100, timeoutMs / 2);
}

/**
 * Checks a running plugin every intervalMs and reports each result. A check never outlives
 * the interval: one that has not answered by then is reported as failed (a hung plugin is
 * reported, not waited for), and the next one starts an interval after the previous began.
 * Failures that are no verdict on the plugin go to onNotCounted instead: one that ended past
 * the stall allowance (the daemon was stalled, and the answer may have been waiting unread),
 * and the daemon's own faults (EMFILE, ...). After stop() nothing is reported.
 */
export class HealthMonitor {
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly o: {
      check: (timeoutMs: number) => Promise<HealthResult>;
      intervalMs: number;
      clock: Clock;
      onResult: (result: HealthResult) => void;
      /** A failed check that is the daemon's fault, not the plugin's: why. */
      onNotCounted?: (why: string) => void;
    },
  ) {}

  start(): void {
    this.schedule(this.o.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (!this.stopped) this.timer = this.o.clock.setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    const { clock, intervalMs } = this.o;
    const began = clock.now();
    const timeoutMs = healthCheckTimeoutMs(intervalMs);
    let giveUp: TimerHandle | undefined;
    const noAnswer = new Promise<HealthResult>((resolve) => {
      giveUp = clock.setTimeout(() => resolve({ ok: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    });
    // The timer is this tick's while the check runs: stop() clears it, and nothing is reported.
    this.timer = giveUp;
    const result = await Promise.race([this.o.check(timeoutMs), noAnswer]);
    clock.clearTimeout(giveUp);
    if (this.stopped) return;
    const tookMs = clock.now() - began;
    const notCounted = result.ok
      ? undefined
      : result.daemonFault
        ? result.error
        : tookMs > timeoutMs + stallAllowanceMs(timeoutMs)
          ? `the daemon itself was stalled: the check ended after ${tookMs} ms`
          : undefined;
    if (notCounted === undefined) this.o.onResult(result);
    else this.o.onNotCounted?.(notCounted);
    this.schedule(Math.max(0, intervalMs - tookMs));
  }
}
