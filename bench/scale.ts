// The scale part of `npm run bench`: many plugin instances on one daemon. Memory and
// descriptors per instance, the daemon's CPU with every plugin idle, SD document latency, and
// every target scraped once a second through the proxy: errors and the daemon's CPU. The
// README's cost model is computed from these slopes. Appends to bench/results/latest.md.
import { execFileSync } from "node:child_process";
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { createControlClient } from "../src/cli/client.js";
import { buildGoProgram } from "../test/helpers/go-build.js";
import { startDaemon } from "../test/helpers/daemon.js";
import { repoRoot } from "../test/helpers/paths.js";
import { cpuSeconds } from "./proc.js";
import { leastSquares } from "./stats.js";

const INSTANCES = Number(process.env.BENCH_INSTANCES || 500);
const IDLE_SECONDS = 10;
const SCRAPE_SECONDS = Number(process.env.BENCH_SCALE_SECONDS || 60);

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
}


const agent = new Agent({ keepAlive: true, maxSockets: 256 });
function get(url: string): Promise<{ status: number; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    request(url, { agent }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      res.on("error", () => resolve({ status: 0, ms: 0 }));
    })
      .on("error", () => resolve({ status: 0, ms: 0 }))
      .end();
  });
}

/** The size of one scrape's body. */
async function bodySize(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let n = 0;
      res.on("data", (c: Buffer) => (n += c.length));
      res.on("end", () => resolve(n));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

function sdLatency(url: string): { p50ms: number; p99ms: number; requests: number } {
  const out = execFileSync("wrk", ["-t", "1", "-c", "1", "-d", "5s", "--latency", url], { encoding: "utf8" });
  const ms = (pct: string) => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(out);
    if (!m) throw new Error(`wrk printed no ${pct}% latency:\n${out}`);
    return Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3 }[m[2] as "us" | "ms" | "s"];
  };
  return { p50ms: ms("50"), p99ms: ms("99"), requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0) };
}

async function main(): Promise<void> {
  const go = await buildGoProgram("goplugin-greeter");
  const d = await startDaemon({ args: ["--log-level", "info"] });
  try {
    const client = createControlClient(d.grpcAddr);
    const pid = d.proc.pid!;
    const rssEmpty = rss(pid);
    const fdsEmpty = fds(pid);
    const names = Array.from({ length: INSTANCES }, (_, i) => `p${String(i).padStart(3, "0")}`);
    const startedAt = Date.now();
    for (let i = 0; i < names.length; i += 10) {
      await Promise.all(names.slice(i, i + 10).map((name) => client.start({ name, command: [go], workingDir: "/" }, { timeoutMs: 60_000 })));
    }
    const startSeconds = (Date.now() - startedAt) / 1000;
    const rssFull = rss(pid);
    const fdsFull = fds(pid);
    // What the daemon spends with every plugin running and none scraped: health checks,
    // log followers' polls, its own timers.
    const idleBefore = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idleShare = (cpuSeconds(pid) - idleBefore) / IDLE_SECONDS;

    // SD latency in the steady state, measured by wrk (one connection, as a Prometheus
    // server asks), for 5 s: thousands of requests, so the p99 is not one unlucky sample.
    const sd = sdLatency(`${d.httpBase}/sd_config`);

    /** Scrapes `targets` every second for `seconds`; the daemon's share of a core meanwhile. */
    const scrapeEverySecond = async (targets: string[], seconds: number) => {
      let errors = 0;
      let scrapes = 0;
      const cpuBefore = cpuSeconds(pid);
      const wallBefore = Date.now();
      for (let s = 0; s < seconds; s++) {
        const tick = Date.now();
        const results = await Promise.all(targets.map((n) => get(`${d.httpBase}/plugins/${n}/metrics`)));
        scrapes += results.length;
        errors += results.filter((r) => r.status !== 200).length;
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - tick))));
      }
      return { errors, scrapes, cpuShare: (cpuSeconds(pid) - cpuBefore) / ((Date.now() - wallBefore) / 1000) };
    };
    const { errors, scrapes, cpuShare } = await scrapeEverySecond(names, SCRAPE_SECONDS);
    const bodyBytes = await bodySize(`${d.httpBase}/plugins/${names[0]}/metrics`);
    // The daemon's own /metrics has about 26 series per plugin (process, state, proxy
    // counters and histogram) and reads each plugin's /proc: with every plugin scraped, its cost at this size, in CPU
    // (what the machine's load does not change much) and in time.
    const metricsMs: number[] = [];
    const metricsCpuBefore = cpuSeconds(pid);
    for (let i = 0; i < 5; i++) metricsMs.push((await get(`${d.httpBase}/metrics`)).ms);
    const metricsCpuMs = ((cpuSeconds(pid) - metricsCpuBefore) * 1000) / 5;
    metricsMs.sort((a, b) => a - b);
    // The slope of CPU against the number of targets: shorter runs with a quarter and a half
    // of them, and a least-squares line through the three points (the intercept is what the
    // daemon spends with 200 plugins running and none scraped).
    const points: Array<[number, number]> = [[names.length, cpuShare]];
    for (const n of [Math.round(names.length / 4), Math.round(names.length / 2)]) {
      points.push([n, (await scrapeEverySecond(names.slice(0, n), Math.max(5, Math.round(SCRAPE_SECONDS / 3)))).cpuShare]);
    }
    const fit = leastSquares(points);
    // With the scraper's connections closed, what stays per instance: the control connection
    // and the pooled connection to its metrics endpoint.
    agent.destroy();
    let fdsScraped = fds(pid);
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = fds(pid);
      if (now === fdsScraped && i >= 5) break;
      fdsScraped = now;
    }

    const md = `
## Scale: ${INSTANCES} instances on one daemon

Load average at the end: ${loadavg()[0].toFixed(1)} (${cpus().length} cores).

| measure | value |
| --- | --- |
| start ${INSTANCES} Go plugins (10 at a time, AutoMTLS) | ${startSeconds.toFixed(1)} s |
| daemon RSS, no plugins → ${INSTANCES} | ${(rssEmpty / 2 ** 20).toFixed(1)} MB → ${(rssFull / 2 ** 20).toFixed(1)} MB (${((rssFull - rssEmpty) / INSTANCES / 1024).toFixed(0)} KiB per instance) |
| daemon descriptors, no plugins → ${INSTANCES} → all scraped (scraper gone) | ${fdsEmpty} → ${fdsFull} → ${fdsScraped} (${((fdsScraped - fdsEmpty) / INSTANCES).toFixed(2)} per instance) |
| daemon CPU, ${INSTANCES} plugins idle (${IDLE_SECONDS} s) | ${(idleShare * 100).toFixed(1)} % of one core (${((idleShare / INSTANCES) * 1e6).toFixed(0)} µs per instance per second) |
| SD document (${INSTANCES + 1} groups), p50 / p99 over ${sd.requests} requests (wrk, 1 connection, 5 s) | ${sd.p50ms.toFixed(2)} ms / ${sd.p99ms.toFixed(2)} ms (goal p99 < 5 ms) |
| daemon's own \`/metrics\` with ${INSTANCES} plugins: CPU per scrape (mean of 5), time (median) | ${metricsCpuMs.toFixed(0)} ms, ${metricsMs[2].toFixed(0)} ms |
| every target (${(bodyBytes / 1024).toFixed(1)} KB body) scraped each second for ${SCRAPE_SECONDS} s | ${scrapes} scrapes, ${errors} errors (goal 0) |
| daemon CPU while scraping | ${(cpuShare * 100).toFixed(1)} % of one core (goal < 25 %) |
| daemon CPU against targets scraped each second (${points.map(([n]) => n).sort((a, b) => a - b).join(", ")}) | slope ${(fit.slope * 100).toFixed(3)} % of a core per target (${(fit.slope * 1e6).toFixed(0)} µs per scrape), intercept ${(fit.intercept * 100).toFixed(1)} % |
`;
    appendFileSync(join(repoRoot, "bench", "results", "latest.md"), md);
    console.log(md);
  } finally {
    agent.destroy();
    await d.close();
  }
}

await main();
