// Whether a plugin answers: go-plugin's health check (grpc.health.v1 for service "plugin",
// as its Ping does) for gRPC plugins, a connect to its address for net/rpc ones (whose RPC
// we do not speak); waiting for the first SERVING at start; and the periodic check of a
// RUNNING plugin, which owns its timer.
import { connect as netConnect } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { errorMessage } from "../../shared/errors.js";
import { startFailed, timedOut } from "../errors.js";
import type { Handshake } from "../../goplugin/handshake.js";
import type { PluginClient } from "../../goplugin/host.js";
import type { Clock, TimerHandle } from "./clock.js";

/** No single health call waits longer than this. */
export const HEALTH_CALL_TIMEOUT_MS = 5_000;
const HEALTH_POLL_MS = 50;

/** One check: SERVING over gRPC, or a connect for net/rpc. False on any failure. */
export async function isServing(h: Handshake, client: PluginClient | undefined, timeoutMs: number): Promise<boolean> {
  try {
    if (client) return (await client.checkHealth(timeoutMs)) === "SERVING";
    await probeConnect(h);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once something accepts a connection on the handshake's address. */
export function probeConnect(h: Pick<Handshake, "network" | "address">): Promise<void> {
  return new Promise((resolve, reject) => {
    const i = h.address.lastIndexOf(":");
    const socket = h.network === "unix" ? netConnect({ path: h.address }) : netConnect({ host: h.address.slice(0, i), port: Number(h.address.slice(i + 1)) });
    socket.setTimeout(HEALTH_CALL_TIMEOUT_MS, () => socket.destroy(new Error("connect timed out")));
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
 * Checks a running plugin every intervalMs and reports each result. A check never outlives
 * the interval: a hung plugin is reported, not waited for. After stop() nothing is reported.
 */
export class HealthMonitor {
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly o: {
      check: (timeoutMs: number) => Promise<boolean>;
      intervalMs: number;
      clock: Clock;
      onResult: (ok: boolean) => void;
    },
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (!this.stopped) this.timer = this.o.clock.setTimeout(() => void this.tick(), this.o.intervalMs);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const ok = await this.o.check(Math.min(HEALTH_CALL_TIMEOUT_MS, Math.max(100, this.o.intervalMs)));
    if (this.stopped) return;
    this.o.onResult(ok);
    this.schedule();
  }
}
