// The scale part of `npm run bench`: many plugin instances on one daemon. Memory per
// instance (the daemon's RSS slope), SD document latency, and every target scraped once a
// second through the proxy: errors and the daemon's CPU. Appends to bench/results/latest.md.
import { execFileSync } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { createControlClient } from "../src/cli/client.js";
import { buildGoProgram } from "../test/helpers/go-build.js";
import { startDaemon } from "../test/helpers/daemon.js";
import { repoRoot } from "../test/helpers/paths.js";
import { cpuSeconds } from "./proc.js";

const INSTANCES = Number(process.env.BENCH_INSTANCES || 200);
const SCRAPE_SECONDS = Number(process.env.BENCH_SCALE_SECONDS || 60);

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

function sdLatency(url: string): { p50ms: number; p99ms: number; requests: number } {
  const out = execFileSync("wrk", ["-t", "1", "-c", "1", "-d", "5s", "--latency", url], { encoding: "utf8" });
  const ms = (pct: string) => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(out);
    if (!m) throw new Error(`wrk printed no ${pct}% latency:\n${out}`);
    return Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3 }[m[2] as "us" | "ms" | "s"];
  };
  return { p50ms: ms("50"), p99ms: ms("99"), requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0) };
}

function leastSquares(points: Array<[number, number]>): { slope: number; intercept: number } {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

async function main(): Promise<void> {
  const go = await buildGoProgram("goplugin-greeter");
  const d = await startDaemon({ args: ["--log-level", "info"] });
  try {
    const client = createControlClient(d.grpcAddr);
    const pid = d.proc.pid!;
    const rssEmpty = rss(pid);
    const names = Array.from({ length: INSTANCES }, (_, i) => `p${String(i).padStart(3, "0")}`);
    const startedAt = Date.now();
    for (let i = 0; i < names.length; i += 10) {
      await Promise.all(names.slice(i, i + 10).map((name) => client.start({ name, command: [go], workingDir: "/" }, { timeoutMs: 60_000 })));
    }
    const startSeconds = (Date.now() - startedAt) / 1000;
    const rssFull = rss(pid);

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
    // The slope of CPU against the number of targets: shorter runs with a quarter and a half
    // of them, and a least-squares line through the three points (the intercept is what the
    // daemon spends with 200 plugins running and none scraped).
    const points: Array<[number, number]> = [[names.length, cpuShare]];
    for (const n of [Math.round(names.length / 4), Math.round(names.length / 2)]) {
      points.push([n, (await scrapeEverySecond(names.slice(0, n), Math.max(5, Math.round(SCRAPE_SECONDS / 3)))).cpuShare]);
    }
    const fit = leastSquares(points);

    const md = `
## Scale: ${INSTANCES} instances on one daemon

| measure | value |
| --- | --- |
| start ${INSTANCES} Go plugins (10 at a time, AutoMTLS) | ${startSeconds.toFixed(1)} s |
| daemon RSS, no plugins → ${INSTANCES} | ${(rssEmpty / 2 ** 20).toFixed(1)} MB → ${(rssFull / 2 ** 20).toFixed(1)} MB (${((rssFull - rssEmpty) / INSTANCES / 1024).toFixed(0)} KiB per instance) |
| SD document (${INSTANCES + 1} groups), p50 / p99 over ${sd.requests} requests (wrk, 1 connection, 5 s) | ${sd.p50ms.toFixed(2)} ms / ${sd.p99ms.toFixed(2)} ms (goal p99 < 5 ms) |
| every target scraped each second for ${SCRAPE_SECONDS} s | ${scrapes} scrapes, ${errors} errors (goal 0) |
| daemon CPU while scraping | ${(cpuShare * 100).toFixed(1)} % of one core (goal < 25 %) |
| daemon CPU against targets scraped each second (${points.map(([n]) => n).sort((a, b) => a - b).join(", ")}) | slope ${(fit.slope * 100).toFixed(3)} % of a core per target, intercept ${(fit.intercept * 100).toFixed(1)} % |
`;
    appendFileSync(join(repoRoot, "bench", "results", "latest.md"), md);
    console.log(md);
  } finally {
    agent.destroy();
    await d.close();
  }
}

await main();
