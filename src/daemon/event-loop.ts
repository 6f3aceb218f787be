// The daemon's event-loop delay as a Prometheus histogram, so that stalls (what makes a
// scrape's tail latency long when nothing queues) can be rated and aggregated.
//
// prom-client's defaults already export nodejs_eventloop_lag_{p50,p90,p99,max,…}_seconds, but
// as gauges over the window since the previous /metrics scrape (two scrapers see two halves)
// and sampled every 10 ms with that interval included in each value. This keeps Node's
// monitorEventLoopDelay running, turns its distribution into cumulative bucket counts at each
// collect, and reports the delay alone (the sampling interval subtracted).
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { Registry } from "prom-client";

const NAME = "plugprom_event_loop_delay_seconds";
const MAX_NAME = "plugprom_event_loop_delay_max_seconds";
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** How often the loop is sampled; PLUGPROM_EVENT_LOOP_RESOLUTION_MS overrides it (1-1000). */
export function resolutionMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.PLUGPROM_EVENT_LOOP_RESOLUTION_MS);
  return Number.isInteger(v) && v >= 1 && v <= 1000 ? v : 10;
}

export class EventLoopDelay {
  /** Cumulative counts per bucket bound, then +Inf. */
  private readonly counts = new Array<number>(BUCKETS.length + 1).fill(0);
  private sum = 0;
  private max = 0;
  private readonly monitor: IntervalHistogram;
  private readonly resolutionNs: number;

  constructor(resolution = resolutionMs()) {
    this.resolutionNs = resolution * 1e6;
    this.monitor = monitorEventLoopDelay({ resolution });
    this.monitor.enable();
  }

  /** Moves what the monitor saw since the last call into the counts, and resets it. */
  private drain(): void {
    const h = this.monitor;
    const n = h.count;
    if (n === 0) return;
    // percentiles: for each recorded percentile p, the value v with p % of samples at or below.
    const points = [...h.percentiles].map(([p, v]) => [p, Math.max(0, v - this.resolutionNs) / 1e9] as const);
    for (let b = 0; b < BUCKETS.length; b++) {
      let share = 0;
      for (const [p, v] of points) if (v <= BUCKETS[b] && p > share) share = p;
      this.counts[b] += Math.round((n * share) / 100);
    }
    this.counts[BUCKETS.length] += n;
    this.sum += Math.max(0, h.mean - this.resolutionNs) * (n / 1e9);
    this.max = Math.max(this.max, Math.max(0, h.max - this.resolutionNs) / 1e9);
    h.reset();
  }

  /** Registers the histogram and the max gauge on a registry. */
  register(registry: Registry): void {
    const self = this;
    const histogram = {
      name: NAME,
      help: "Event loop delay: how late the daemon's loop ran a timer due now (stalls from synchronous work or GC).",
      type: "histogram",
      aggregator: "sum",
      collect() {},
      async get() {
        self.drain();
        return {
          name: NAME,
          help: this.help,
          type: "histogram",
          aggregator: "sum",
          values: [
            ...BUCKETS.map((le, i) => ({ metricName: `${NAME}_bucket`, labels: { le }, value: self.counts[i] })),
            { metricName: `${NAME}_bucket`, labels: { le: "+Inf" }, value: self.counts[BUCKETS.length] },
            { metricName: `${NAME}_sum`, labels: {}, value: self.sum },
            { metricName: `${NAME}_count`, labels: {}, value: self.counts[BUCKETS.length] },
          ],
        };
      },
    };
    const max = {
      name: MAX_NAME,
      help: "The longest event loop delay since the previous scrape of this endpoint.",
      type: "gauge",
      aggregator: "max",
      collect() {},
      async get() {
        self.drain();
        const value = self.max;
        self.max = 0;
        return { name: MAX_NAME, help: this.help, type: "gauge", aggregator: "max", values: [{ labels: {}, value }] };
      },
    };
    // Not prom-client's own classes: their histograms only take one observation at a time,
    // and these counts arrive as a distribution. The registry needs name, help, type and get().
    registry.registerMetric(histogram as unknown as Parameters<Registry["registerMetric"]>[0]);
    registry.registerMetric(max as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  stop(): void {
    this.monitor.disable();
  }
}
