// The memory limit's sampled half: the resident memory of a RUNNING instance's whole process
// group, read from /proc every second, and the rule that acts on it (above the limit on two
// consecutive samples: one sample over is a spike, such as a GC's peak; two are a trend).
import { formatSize } from "../../shared/size.js";
import { residentBytesByGroup } from "../proc.js";
import type { Clock, TimerHandle } from "./clock.js";

/** How often a limited instance is sampled (the rule needs two samples: a reaction within ~2 s). */
export const MEMORY_SAMPLE_MS = 1_000;

/** Samples over the limit in a row before the instance is restarted. */
export const SAMPLES_OVER_LIMIT = 2;

/** The lastError of an instance restarted for its memory. */
export function overLimitReason(bytes: number, limitBytes: number): string {
  return `resident memory ${formatSize(bytes)} over --max-memory ${formatSize(limitBytes)}`;
}

/**
 * Samples one process group every intervalMs while started; after SAMPLES_OVER_LIMIT samples
 * in a row above the limit it calls onOver once and stops. A sample never overlaps the next
 * (a slow /proc read delays the next one instead). After stop() nothing is reported.
 */
export class MemoryWatch {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private over = 0;
  private last: number | undefined;

  constructor(
    private readonly o: {
      limitBytes: number;
      /** The group's resident bytes now; undefined when it could not be read (gone). */
      sample: () => Promise<number | undefined>;
      clock: Clock;
      intervalMs?: number;
      onOver: (bytes: number) => void;
    },
  ) {}

  /** The last sample, in bytes; undefined before the first. */
  get lastBytes(): number | undefined {
    return this.last;
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (!this.stopped) this.timer = this.o.clock.setTimeout(() => void this.tick(), this.o.intervalMs ?? MEMORY_SAMPLE_MS);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const bytes = await this.o.sample();
    if (this.stopped) return;
    if (bytes !== undefined) {
      this.last = bytes;
      // An unreadable sample (the process is going) neither counts nor breaks a run of overs.
      this.over = bytes > this.o.limitBytes ? this.over + 1 : 0;
      if (this.over >= SAMPLES_OVER_LIMIT) {
        this.stop();
        this.o.onOver(bytes);
        return;
      }
    }
    this.schedule();
  }
}

/** Reuse one /proc pass for every instance sampled within this. */
const SCAN_REUSE_MS = 500;
let lastScan: { at: number; groups: Promise<Map<number, number>> } | undefined;

/**
 * The resident memory of process group `pgrp` (a plugin and everything it started), from a
 * pass over /proc shared by every instance sampled at about the same time: one pass a second
 * for the whole daemon, not one per instance.
 */
export async function groupResidentBytes(pgrp: number): Promise<number | undefined> {
  const now = performance.now();
  if (!lastScan || now - lastScan.at >= SCAN_REUSE_MS) lastScan = { at: now, groups: residentBytesByGroup() };
  return (await lastScan.groups).get(pgrp);
}
