// Time as the supervisor sees it: the current time and one-shot timers, passed in so that
// its state machine runs against a fake clock in tests. Timers never keep the daemon alive.

export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Calls fn once after ms; the handle is for clearTimeout. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a handle that already fired, or undefined, is ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};
