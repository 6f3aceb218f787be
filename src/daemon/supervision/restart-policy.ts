// When a plugin that went down is started again, and when plugprom gives up: pure decisions
// over an instance's failure history, with the clock's reading and the random source passed
// in, so that every rule is testable without processes or timers.
import type { RestartPolicy } from "../spec.js";

/** A run this long resets the backoff: the plugin is not crash-looping any more. */
export const STABLE_RUN_MS = 10_000;
/** This many failures within the window is a crash loop (shown as CRASHLOOP). */
export const CRASH_LOOP_COUNT = 5;
export const CRASH_LOOP_WINDOW_MS = 60_000;
/** After this many failures in a row without a stable run, the policy gives up: FAILED. */
export const MAX_CONSECUTIVE_FAILURES = 10;
/** Each wait is the backoff ±20 %, so that plugins that died together do not restart in lockstep. */
export const JITTER = 0.2;

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Failures since the last stable run (or the user's last start). Immutable. */
export interface FailureHistory {
  /** Failures in a row: crashes and failed automatic starts. */
  readonly consecutive: number;
  /** When recent failures happened (ms since the epoch), within the crash-loop window. */
  readonly recent: readonly number[];
}

export const NO_FAILURES: FailureHistory = { consecutive: 0, recent: [] };

/** What an exit of a running plugin leads to under its restart policy. */
export type ExitOutcome =
  /** Try again (after a backoff, decided by nextAttempt). */
  | "restart"
  /** A failure the policy does not restart: it stays down as CRASHED. */
  | "crashed"
  /** A clean exit (0) the policy does not restart: STOPPED. */
  | "stopped";

/**
 * `failed` is any exit but a clean 0, including an unknown status (a reattached process,
 * not our child). "always" restarts every exit; "on-failure" only failures; "never" none.
 */
export function exitOutcome(policy: RestartPolicy, failed: boolean): ExitOutcome {
  if (policy === "always" || (policy === "on-failure" && failed)) return "restart";
  return failed ? "crashed" : "stopped";
}

/** A run of at least STABLE_RUN_MS means the failures before it are history. */
export function afterRun(history: FailureHistory, runMs: number): FailureHistory {
  return runMs >= STABLE_RUN_MS ? NO_FAILURES : history;
}

export type Attempt =
  /** Policy "never": a failure is final. */
  | { kind: "never" }
  /** Too many failures in a row: FAILED until the user restarts it. */
  | { kind: "give-up"; history: FailureHistory }
  /** Start again after waitMs; crashLoop when the failures are dense enough to say so. */
  | { kind: "retry"; history: FailureHistory; waitMs: number; crashLoop: boolean };

/**
 * After a failure (a crash the policy restarts, or a failed automatic start) at `now`:
 * wait and try again, or give up. The backoff doubles from initialMs per failure in a row,
 * up to maxMs, with jitter from `random` (uniform in [0, 1), as Math.random).
 */
export function nextAttempt(
  history: FailureHistory,
  now: number,
  o: { policy: RestartPolicy; backoff: Backoff; random: () => number },
): Attempt {
  if (o.policy === "never") return { kind: "never" };
  const next: FailureHistory = {
    consecutive: history.consecutive + 1,
    recent: [...history.recent.filter((t) => now - t < CRASH_LOOP_WINDOW_MS), now],
  };
  if (next.consecutive > MAX_CONSECUTIVE_FAILURES) return { kind: "give-up", history: next };
  return { kind: "retry", history: next, waitMs: backoffMs(next.consecutive, o.backoff, o.random), crashLoop: next.recent.length >= CRASH_LOOP_COUNT };
}

/** The wait before the attempt that follows `failures` failures in a row (≥ 1). */
export function backoffMs(failures: number, backoff: Backoff, random: () => number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (failures - 1));
  return Math.round(base * (1 - JITTER + random() * 2 * JITTER));
}
