// A clock for state machines under test: time moves only when the test says, and timers
// fire in order as it does. Pending timers are visible, so a test can say none leaked.
import type { Clock, TimerHandle } from "../../src/daemon/supervision/clock.js";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private time: number;
  private nextId = 1;
  private timers: Timer[] = [];

  constructor(start = Date.UTC(2025, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Timers not yet fired nor cleared, with how long until each fires. */
  pending(): number[] {
    return this.timers.map((t) => t.at - this.time).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by ms without firing anything, as a blocked event loop does: timers
   * that became due fire late, at the next advance().
   */
  stall(ms: number): void {
    this.time += ms;
  }

  /** Moves time forward by ms, firing due timers in order and letting what they start settle. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at); // a timer that fires late (after a stall) fires now
      due.fn();
    }
    this.time = until;
    await settle();
  }
}

/** Lets promise chains and I/O callbacks queued so far run. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
