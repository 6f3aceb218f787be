// The scrape proxy's per-plugin series (requests by code, duration histogram, bytes), kept in
// plain per-plugin fields and rendered only when /metrics is scraped.
//
// prom-client's inc() and observe() validate and hash their labels object on every call; at
// thousands of scrapes a second that was a twentieth of the proxy's own CPU. Here a scrape
// costs one Map lookup of its plugin's record and a few additions, and the exposition is built
// in the very shape prom-client's Counter and Histogram return, so /metrics reads the same.
import type { Registry } from "prom-client";

const REQUESTS = "plugprom_proxy_requests_total";
const DURATION = "plugprom_proxy_request_duration_seconds";
const BYTES = "plugprom_proxy_response_bytes_total";
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The last scrape of one plugin through the proxy, for the status page and `plugprom top`. */
export interface LastScrape {
  at: Date;
  seconds: number;
  bytes: number;
  code: number;
}

/** One plugin's counts (or the requests for unknown names, under plugin ""). */
class PluginRecord {
  readonly byCode = new Map<number, number>();
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  readonly buckets = new Float64Array(BUCKETS.length + 1);
  sum = 0;
  count = 0;
  bytes = 0;
  lastAtMs = 0;
  lastSeconds = 0;
  lastBytes = 0;
  lastCode = 0;
  /** One object for every render: prom-client caches the flattened shared labels per object. */
  constructor(readonly labels: { plugin: string }) {}
}

type Value = { labels: Record<string, string | number>; sharedLabels?: Record<string, string>; value: number; metricName?: string };

export class ProxyStats {
  readonly #records = new Map<string, PluginRecord>();

  /** One proxied request; `plugin` is a known instance's name or "" (see DaemonMetrics.proxyRequest). */
  record(plugin: string, code: number, seconds: number, bytes: number): void {
    let r = this.#records.get(plugin);
    if (r === undefined) {
      r = new PluginRecord({ plugin });
      this.#records.set(plugin, r);
    }
    r.byCode.set(code, (r.byCode.get(code) ?? 0) + 1);
    let b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]) b++;
    r.buckets[b]++;
    r.sum += seconds;
    r.count++;
    if (plugin === "") return;
    r.bytes += bytes;
    r.lastAtMs = Date.now();
    r.lastSeconds = seconds;
    r.lastBytes = bytes;
    r.lastCode = code;
  }

  lastScrape(plugin: string): LastScrape | undefined {
    const r = plugin === "" ? undefined : this.#records.get(plugin);
    return r ? { at: new Date(r.lastAtMs), seconds: r.lastSeconds, bytes: r.lastBytes, code: r.lastCode } : undefined;
  }

  /** Registers the three families on a registry (names, help and types as they always were). */
  register(registry: Registry): void {
    const records = () => this.#records.values();
    const family = (name: string, help: string, type: "counter" | "histogram", values: () => Value[]) => ({
      name,
      help,
      type,
      aggregator: "sum",
      collect() {},
      get() {
        return { name: this.name, help, type, aggregator: "sum", values: values() };
      },
    });
    const metrics = [
      family(REQUESTS, "Scrape requests for plugins, by HTTP status code returned; plugin is empty when the name matched no instance.", "counter", () => {
        const out: Value[] = [];
        for (const r of records()) for (const [code, n] of r.byCode) out.push({ labels: { plugin: r.labels.plugin, code: String(code) }, value: n });
        return out;
      }),
      family(DURATION, "Time to proxy a scrape, until the last byte was sent.", "histogram", () => {
        const out: Value[] = [];
        for (const r of records()) {
          let acc = 0;
          BUCKETS.forEach((le, i) => {
            acc += r.buckets[i];
            out.push({ labels: { le }, sharedLabels: r.labels, value: acc, metricName: `${DURATION}_bucket` });
          });
          out.push(
            { labels: { le: "+Inf" }, sharedLabels: r.labels, value: r.count, metricName: `${DURATION}_bucket` },
            { labels: {}, sharedLabels: r.labels, value: r.sum, metricName: `${DURATION}_sum` },
            { labels: {}, sharedLabels: r.labels, value: r.count, metricName: `${DURATION}_count` },
          );
        }
        return out;
      }),
      family(BYTES, "Bytes of plugin expositions proxied, as the plugin sent them (before any gzip by the proxy).", "counter", () => {
        const out: Value[] = [];
        for (const r of records()) if (r.labels.plugin !== "") out.push({ labels: r.labels, value: r.bytes });
        return out;
      }),
    ];
    // Not prom-client's classes (see above); the registry needs name, help, type and get().
    for (const m of metrics) registry.registerMetric(m as unknown as Parameters<Registry["registerMetric"]>[0]);
  }
}
