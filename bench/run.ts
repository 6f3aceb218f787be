// `npm run bench`: the scrape proxy against the physical limit (a direct scrape) and its
// peers (nginx, exporter_exporter, a naive Node http-proxy), the cost of gzip, and CLI start
// latency (against `node -e 0` and `pm2 jlist`), all on loopback in one run. Prints a
// markdown table and writes bench/results/latest.md. Goals are ratios between peers measured
// together, never absolute numbers. Not part of `npm test`. BENCH_ONLY=cli runs only the CLI
// start latency, BENCH_ONLY=cpu only CPU per scrape and tail latency; both write nothing.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { buildGoProgram } from "../test/helpers/go-build.js";
import { getPlugin, PLUGPROM, startDaemon, type DaemonHandle } from "../test/helpers/daemon.js";
import { fixturesDir, repoRoot } from "../test/helpers/paths.js";
import { freePort } from "../test/helpers/prometheus.js";
import { flameSvg, summarise, table, type CpuProfile } from "./cpuprofile.js";
import { cpuSeconds, runQueueSeconds } from "./proc.js";
import { leastSquares } from "./stats.js";

const SECONDS = Number(process.env.BENCH_SECONDS || 2);
/** Each proxy cell is measured this many times, peers interleaved; the table shows medians. */
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const SIZES: Array<[string, number | "fixture"]> = [
  ["5KB", 5 * 1024],
  ["57KB", "fixture"],
  ["1MB", 1024 * 1024],
  ["10MB", 10 * 1024 * 1024],
];

interface WrkResult {
  rps: number;
  p50us: number;
  p99us: number;
  errors: number;
}

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];

function bodyOf(size: number | "fixture"): Buffer {
  const fixture = readFileSync(join(fixturesDir, "node_exporter.prom"));
  if (size === "fixture") return fixture;
  // Whole lines of the real exposition, repeated and cut at a line boundary near `size`.
  const lines = fixture.toString("utf8").split("\n").filter((l) => l && !l.startsWith("#"));
  let out = "";
  for (let i = 0; out.length < size; i++) out += `${lines[i % lines.length].replace(/^(\w+)/, `$1_${Math.floor(i / lines.length)}`)}\n`;
  return Buffer.from(out.slice(0, out.lastIndexOf("\n", size) + 1));
}

function wrk(url: string, connections: number, headers: string[] = [], seconds = SECONDS): WrkResult {
  const args = ["-t", String(Math.min(2, connections)), "-c", String(connections), "-d", `${seconds}s`, "--latency", ...headers.flatMap((h) => ["-H", h]), url];
  const out = execFileSync("wrk", args, { encoding: "utf8" });
  const lat = (pct: string) => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(out);
    if (!m) return NaN;
    return Number(m[1]) * { us: 1, ms: 1e3, s: 1e6 }[m[2] as "us" | "ms" | "s"];
  };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50us: lat("50"),
    p99us: lat("99"),
    errors: Number(non2xx?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
}

/** nginx's master and its workers: the CPU of the proxy is theirs together. */
function nginxPids(master: number): number[] {
  const children = readFileSync(`/proc/${master}/task/${master}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  return [master, ...children];
}

/** Requests completed in a fixed-length wrk run, and the CPU the proxy spent meanwhile. */
function cpuPerRequest(url: string, connections: number, seconds: number, pids: () => number[]): { requests: number; cpuUs: number; errors: number } {
  const cpu = () => pids().reduce((a, pid) => a + cpuSeconds(pid), 0);
  const before = cpu();
  const out = execFileSync("wrk", ["-t", String(Math.min(2, connections)), "-c", String(connections), "-d", `${seconds}s`, url], { encoding: "utf8" });
  const spent = cpu() - before;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return { requests, cpuUs: (spent / requests) * 1e6, errors: non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0) };
}

/** The daemon's event-loop delay histogram and max (the max resets at each read). */
async function eventLoopDelay(httpBase: string): Promise<{ buckets: Array<[number, number]>; max: number }> {
  const text = await (await fetch(`${httpBase}/metrics`)).text();
  const buckets: Array<[number, number]> = [];
  for (const m of text.matchAll(/^plugprom_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)) buckets.push([m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
  const max = Number(/^plugprom_event_loop_delay_max_seconds (\S+)$/m.exec(text)?.[1] ?? NaN);
  return { buckets, max };
}

/** The q-quantile of the samples between two reads of the histogram (linear within a bucket). */
function quantileBetween(before: Array<[number, number]>, after: Array<[number, number]>, q: number): number {
  const counts = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)] as const);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, n] of counts) {
    if (n >= rank) return le === Infinity ? lower : lower + ((le - lower) * (rank - below)) / Math.max(1, n - below);
    lower = le;
    below = n;
  }
  return lower;
}

async function spawnPeer(cmd: string, args: string[], readyUrl: string): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err += c));
  children.push(child);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited: ${err}`);
    const ok = await fetch(readyUrl).then((r) => r.ok, () => false);
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${cmd} never answered ${readyUrl}: ${err}`);
}

/** pm2 from PATH, else installed once from the npm registry into a cache directory. */
function pm2Bin(): string {
  if (spawnSync("sh", ["-c", "command -v pm2"]).status === 0) return "pm2";
  const prefix = join(process.env.XDG_CACHE_HOME || tmpdir(), "plugprom-bench", "pm2");
  const bin = join(prefix, "node_modules", ".bin", "pm2");
  if (!existsSync(bin)) {
    console.error(`installing pm2 into ${prefix} …`);
    execFileSync("npm", ["install", "--prefix", prefix, "--no-audit", "--no-fund", "pm2@latest"], { stdio: "inherit" });
  }
  return bin;
}

/**
 * `plugprom list` against the floor (`node -e 0`) and a peer CLI that also asks a local
 * daemon for its process list (`pm2 jlist`, with its own PM2_HOME; its daemon is killed
 * afterwards). The warm-up runs also write plugprom's code cache and start pm2's daemon.
 */
function cliLatency(work: string, d: DaemonHandle): string {
  const pm2 = pm2Bin();
  const env = { ...process.env, PM2_HOME: join(work, "pm2") };
  const hf = join(work, "hyperfine.json");
  try {
    execFileSync("hyperfine", ["-N", "--warmup", "3", "--runs", "30", "--export-json", hf, `${process.execPath} -e 0`, `${PLUGPROM} --addr ${d.grpcAddr} list`, `${pm2} jlist`], { stdio: "ignore", env });
  } finally {
    spawnSync(pm2, ["kill"], { stdio: "ignore", env });
  }
  const [floor, list, peer] = (JSON.parse(readFileSync(hf, "utf8")) as { results: Array<{ mean: number }> }).results;
  const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
  return `## CLI start latency

| command | mean | / node -e 0 |
| --- | --- | --- |
| \`node -e 0\` (the floor) | ${ms(floor.mean)} | 1.00× |
| \`plugprom list\` | ${ms(list.mean)} | ${(list.mean / floor.mean).toFixed(2)}× (goal ≤ 1.5×) |
| \`pm2 jlist\` (peer) | ${ms(peer.mean)} | ${(peer.mean / floor.mean).toFixed(2)}× |

\`plugprom list\` / \`pm2 jlist\`: ${(list.mean / peer.mean).toFixed(2)}×.
`;
}

/** BENCH_ONLY=cli: just the CLI start latency, against a fresh daemon. */
async function cliOnly(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "pp-bench-"));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  const d = await startDaemon({ args: ["--log-level", "info"] });
  cleanups.push(() => d.close());
  const r = await d.cli(["start", "abc"]);
  if (r.code !== 0) throw new Error(r.stderr);
  console.log(cliLatency(work, d));
}

/** The machine's 1-minute load average: how much else ran on the cores being measured. */
const load = () => loadavg()[0].toFixed(1);

async function main(): Promise<void> {
  if (process.env.BENCH_ONLY === "cli") return cliOnly();
  const loadAtStart = load();
  const work = mkdtempSync(join(tmpdir(), "pp-bench-"));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  const go = await buildGoProgram("goplugin-greeter");
  // Peers have no per-target concurrency limit; give plugprom room for wrk's 16 connections.
  // --gzip always: on loopback "auto" never compresses, and the gzip table measures its cost.
  // The event loop sampled every millisecond: stalls shorter than the default 10 ms show too.
  const d: DaemonHandle = await startDaemon({ args: ["--log-level", "info", "--max-concurrent-scrapes", "64", "--gzip", "always"], env: { PLUGPROM_EVENT_LOOP_RESOLUTION_MS: "1" } });
  cleanups.push(() => d.close());

  // One fixed-body upstream per size, started by plugprom on loopback TCP so that every
  // peer can proxy to the very same process.
  const upstreams: Array<{ label: string; port: number; bytes: number }> = [];
  for (const [label, size] of SIZES) {
    const body = bodyOf(size);
    const file = join(work, `${label}.prom`);
    writeFileSync(file, body);
    const name = `up-${label.toLowerCase()}`;
    const r = await d.cli(["start", name, "--metrics-transport", "tcp", "--no-auto-mtls", "--env", `GREETER_FIXED_BODY=${file}`, "--", go]);
    if (r.code !== 0) throw new Error(r.stderr);
    const port = Number((await getPlugin(d, name)).metricsEndpoint.split(":").pop());
    upstreams.push({ label, port, bytes: body.length });
  }

  const nginxPort = await freePort();
  const nginxConf = join(work, "nginx.conf");
  writeFileSync(
    nginxConf,
    `worker_processes 1; daemon off; pid ${work}/nginx.pid; error_log ${work}/nginx.err warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${work}; proxy_temp_path ${work}; fastcgi_temp_path ${work}; uwsgi_temp_path ${work}; scgi_temp_path ${work};
${upstreams.map((u) => `upstream u${u.label} { server 127.0.0.1:${u.port}; keepalive 16; }`).join("\n")}
server { listen 127.0.0.1:${nginxPort};
${upstreams.map((u) => `location = /${u.label} { proxy_pass http://u${u.label}/metrics; proxy_http_version 1.1; proxy_set_header Connection ""; }`).join("\n")}
location = /ready { return 200; } } }
`,
  );
  const nginx = await spawnPeer("nginx", ["-c", nginxConf, "-p", work], `http://127.0.0.1:${nginxPort}/ready`);

  const eePort = await freePort();
  const eeConf = join(work, "ee.yml");
  writeFileSync(eeConf, `modules:\n${upstreams.map((u) => `  m${u.label}:\n    method: http\n    http:\n      port: ${u.port}\n      path: /metrics\n`).join("")}`);
  await spawnPeer("prometheus-exporter-exporter", ["-config.file", eeConf, "-web.listen-address", `127.0.0.1:${eePort}`], `http://127.0.0.1:${eePort}/proxy?module=m5KB`);

  const naivePort = await freePort();
  const naive = join(work, "naive.cjs");
  writeFileSync(
    naive,
    `const http = require(${JSON.stringify(join(repoRoot, "node_modules", "http-proxy"))});
const ports = ${JSON.stringify(Object.fromEntries(upstreams.map((u) => [`/${u.label}`, u.port])))};
const proxy = http.createProxyServer({ ignorePath: true });
require("http").createServer((req, res) => proxy.web(req, res, { target: "http://127.0.0.1:" + ports[req.url] + "/metrics" })).listen(${naivePort}, "127.0.0.1");`,
  );
  await spawnPeer(process.execPath, [naive], `http://127.0.0.1:${naivePort}/5KB`);

  // The ceiling for a Node proxy: http.request + pipe over a keep-alive agent, nothing else.
  // If plugprom is far below it, the cost is in http-proxy or in plugprom's own bookkeeping.
  const rawPort = await freePort();
  const raw = join(work, "raw.cjs");
  writeFileSync(
    raw,
    `const http = require("http");
const ports = ${JSON.stringify(Object.fromEntries(upstreams.map((u) => [`/${u.label}`, u.port])))};
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
http.createServer((req, res) => {
  const up = http.request({ host: "127.0.0.1", port: ports[req.url], path: "/metrics", agent, headers: { accept: req.headers.accept || "*/*" } }, (r) => {
    res.writeHead(r.statusCode, { "content-type": r.headers["content-type"], "content-length": r.headers["content-length"] });
    r.pipe(res);
  });
  up.on("error", () => res.destroy());
  up.end();
}).listen(${rawPort}, "127.0.0.1");`,
  );
  const rawProxy = await spawnPeer(process.execPath, [raw], `http://127.0.0.1:${rawPort}/5KB`);

  const cpu = await cpuAndTail(
    [
      ["plugprom", `${d.httpBase}/plugins/up-57kb/metrics`, () => [d.proc.pid!], d.httpBase],
      ["nginx", `http://127.0.0.1:${nginxPort}/57KB`, () => nginxPids(nginx.pid!)],
      ["node raw pipe (http.request + pipe)", `http://127.0.0.1:${rawPort}/57KB`, () => [rawProxy.pid!]],
    ],
    upstreams.filter((u) => u.label !== "10MB").map((u) => ({ bytes: u.bytes, url: `${d.httpBase}/plugins/up-${u.label.toLowerCase()}/metrics`, pid: d.proc.pid! })),
  );
  if (process.env.BENCH_ONLY === "cpu") {
    console.log(cpu);
    return;
  }

  const peers = (u: (typeof upstreams)[number]): Array<[string, string]> => [
    ["direct", `http://127.0.0.1:${u.port}/metrics`],
    ["plugprom", `${d.httpBase}/plugins/up-${u.label.toLowerCase()}/metrics`],
    ["nginx", `http://127.0.0.1:${nginxPort}/${u.label}`],
    ["exporter_exporter", `http://127.0.0.1:${eePort}/proxy?module=m${u.label}`],
    ["node http-proxy (naive)", `http://127.0.0.1:${naivePort}/${u.label}`],
    ["node raw pipe (ceiling)", `http://127.0.0.1:${rawPort}/${u.label}`],
  ];

  const rows: string[] = [];
  const summary: string[] = [];
  const rssBefore = rss(d.proc.pid!);
  let rssPeak = rssBefore;
  let rssOneStream = 0;
  for (const u of upstreams) {
    // Rounds, the peers interleaved within each, and the median per peer: a burst of load
    // from elsewhere on a shared machine then skews one sample of every peer, not all of one.
    const samples = new Map<string, Array<{ lat: WrkResult; tput: WrkResult }>>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [peer, url] of peers(u)) {
        const before1 = peer === "plugprom" ? rss(d.proc.pid!) : 0;
        const lat = wrk(url, 1);
        if (peer === "plugprom" && u.label === "10MB" && round === 0) rssOneStream = rss(d.proc.pid!) - before1;
        const tput = wrk(url, 16);
        if (peer === "plugprom") rssPeak = Math.max(rssPeak, rss(d.proc.pid!));
        samples.set(peer, [...(samples.get(peer) ?? []), { lat, tput }]);
      }
    }
    const results = new Map<string, { lat: WrkResult; tput: WrkResult }>();
    for (const [peer, runs] of samples) {
      const lat = { rps: 0, p50us: median(runs.map((r) => r.lat.p50us)), p99us: median(runs.map((r) => r.lat.p99us)), errors: 0 };
      const tput = { rps: median(runs.map((r) => r.tput.rps)), p50us: 0, p99us: 0, errors: 0 };
      const errors = runs.reduce((n, r) => n + r.lat.errors + r.tput.errors, 0);
      results.set(peer, { lat, tput });
      rows.push(`| ${u.label} | ${peer} | ${fmt(lat.p50us)} | ${fmt(lat.p99us)} | ${Math.round(tput.rps)} | ${errors} |`);
    }
    const pp = results.get("plugprom")!;
    summary.push(
      `| ${u.label} | ${(pp.tput.rps / results.get("nginx")!.tput.rps).toFixed(2)}× | ${(pp.lat.p50us / results.get("direct")!.lat.p50us).toFixed(2)}× | ${(pp.tput.rps / results.get("direct")!.tput.rps).toFixed(2)}× | ${(pp.tput.rps / results.get("node raw pipe (ceiling)")!.tput.rps).toFixed(2)}× |`,
    );
  }

  const u57 = upstreams.find((u) => u.label === "57KB")!;
  const plain = wrk(`${d.httpBase}/plugins/up-57kb/metrics`, 16);
  const gz = wrk(`${d.httpBase}/plugins/up-57kb/metrics`, 16, ["Accept-Encoding: gzip"]);
  const gzLat = wrk(`${d.httpBase}/plugins/up-57kb/metrics`, 1, ["Accept-Encoding: gzip"]);
  const plainLat = wrk(`${d.httpBase}/plugins/up-57kb/metrics`, 1);
  const gzBytes = Number(execFileSync("sh", ["-c", `curl -s -H 'Accept-Encoding: gzip' ${d.httpBase}/plugins/up-57kb/metrics | wc -c`], { encoding: "utf8" }));

  const profile = await profileProxy(work, go, join(work, "57KB.prom"));

  const cli = cliLatency(work, d);

  const md = `# plugprom benchmark

${new Date().toISOString()} · ${cpus().length} × ${cpus()[0]?.model ?? "cpu"} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · Node ${process.version} · wrk ${SECONDS} s per cell, median of ${ROUNDS} interleaved rounds, loopback · upstream: a Go client_golang program serving a fixed body · load average ${loadAtStart} at the start, ${load()} at the end (${cpus().length} cores)

## Scrape proxy

Latency at 1 connection, throughput at 16; each the median of ${ROUNDS} rounds with the peers interleaved.

| body | peer | p50 | p99 | req/s | errors |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

${cpu}

## Goals (ratios measured in this run)

| body | plugprom throughput / nginx (goal ≥ 1.0×) | plugprom p50 / direct (goal ≤ 2.0×) | plugprom throughput / direct | plugprom throughput / node raw pipe |
| --- | --- | --- | --- | --- |
${summary.join("\n")}

Daemon RSS growth while streaming 10 MB bodies back to back on one connection: ${mb(rssOneStream)} (goal < 20 MB). Under every size at 16 connections: ${mb(rssBefore)} before, ${mb(rssPeak)} peak (growth ${mb(rssPeak - rssBefore)}).

## gzip in the proxy (57 KB fixture, plugin does not compress)

| | req/s (16 conns) | p50 (1 conn) | bytes on the wire |
| --- | --- | --- | --- |
| identity | ${Math.round(plain.rps)} | ${fmt(plainLat.p50us)} | ${u57.bytes} |
| gzip (level 1, streaming) | ${Math.round(gz.rps)} | ${fmt(gzLat.p50us)} | ${gzBytes} |

## Where the proxy's CPU goes (57 KB, 16 connections, \`--cpu-prof\`)

Self time in a daemon under load, by function and by module; \`(idle)\` is time the event
loop waited. Flame graph: [proxy-flame.svg](proxy-flame.svg).

${profile}

${cli}`;
  mkdirSync(join(repoRoot, "bench", "results"), { recursive: true });
  writeFileSync(join(repoRoot, "bench", "results", "latest.md"), md);
  console.log(md);
}

/**
 * CPU per scrape and tail latency on the 57 KB fixture: per round and peer (interleaved), the
 * proxy's CPU seconds from /proc over the requests wrk completes in a fixed-length run at 4
 * connections, then wrk --latency at 1 connection, where nothing queues and a long p99 is a
 * stall; for plugprom, its event-loop delay over that same 1-connection run. Medians of rounds.
 */
async function cpuAndTail(peers: Array<[name: string, url: string, pids: () => number[], daemonBase?: string]>, bySize: Array<{ bytes: number; url: string; pid: number }>): Promise<string> {
  const rounds = Number(process.env.BENCH_CPU_ROUNDS || 5);
  const seconds = Number(process.env.BENCH_CPU_SECONDS || 4);
  const samples = new Map<string, Array<{ cpuUs: number; requests: number; p50us: number; p99us: number; eldP99: number; eldMax: number; waitMs: number; errors: number }>>();
  const sizeSamples = bySize.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    // plugprom's CPU per scrape by body size, for the cost model (the 57 KB row is measured twice).
    bySize.forEach((s, i) => sizeSamples[i].push(cpuPerRequest(s.url, 4, seconds, () => [s.pid]).cpuUs));
    for (const [name, url, pids, daemonBase] of peers) {
      const cpu = cpuPerRequest(url, 4, seconds, pids);
      const before = daemonBase ? await eventLoopDelay(daemonBase) : undefined;
      // Time the proxy was runnable but had no CPU: a stall the machine caused, not the proxy.
      const waited = pids().reduce((a, pid) => a + runQueueSeconds(pid), 0);
      const lat = wrk(url, 1, [], seconds);
      const waitMs = ((pids().reduce((a, pid) => a + runQueueSeconds(pid), 0) - waited) * 1000) / seconds;
      const after = daemonBase ? await eventLoopDelay(daemonBase) : undefined;
      samples.set(name, [
        ...(samples.get(name) ?? []),
        {
          ...cpu,
          p50us: lat.p50us,
          p99us: lat.p99us,
          eldP99: before && after ? quantileBetween(before.buckets, after.buckets, 0.99) * 1e6 : NaN,
          eldMax: after ? after.max * 1e6 : NaN,
          waitMs,
          errors: cpu.errors + lat.errors,
        },
      ]);
    }
  }
  const med = (name: string, k: "cpuUs" | "requests" | "p50us" | "p99us" | "eldP99" | "eldMax" | "waitMs") => median(samples.get(name)!.map((r) => r[k]));
  const rows = [...samples.keys()].map(
    (n) =>
      `| ${n} | ${Math.round(med(n, "cpuUs"))} µs | ${Math.round(med(n, "requests"))} | ${fmt(med(n, "p50us"))} / ${fmt(med(n, "p99us"))} | ${med(n, "waitMs").toFixed(1)} ms | ${n === "plugprom" ? `${fmt(med(n, "eldP99"))} / ${fmt(med(n, "eldMax"))}` : "-"} | ${samples.get(n)!.reduce((a, r) => a + r.errors, 0)} |`,
  );
  const ratio = (k: "cpuUs" | "p99us") => (med("plugprom", k) / med("nginx", k)).toFixed(2);
  const perRound = (k: "cpuUs" | "p99us") => samples.get("plugprom")!.map((r, i) => (r[k] / samples.get("nginx")![i][k]).toFixed(2)).join(", ");
  const sizes = bySize.map((s, i) => ({ kb: s.bytes / 1024, us: median(sizeSamples[i]) }));
  const fit = leastSquares(sizes.map((s) => [s.kb, s.us]));
  return `## CPU per scrape and tail latency (57 KB fixture)

CPU: the proxy process's user + system seconds (all threads; nginx: master and worker) from
/proc over the requests wrk completed in ${seconds} s at 4 connections. Latency: wrk
\`--latency\` at 1 connection for ${seconds} s. Event-loop delay: the daemon's
\`plugprom_event_loop_delay_seconds\` (sampled every 1 ms) over that 1-connection run; waiting for
a CPU: the run-queue time of the proxy's main thread (the event loop; nginx's worker) over that
run (/proc/<pid>/schedstat), the part of the tail that the machine's other load causes. Medians of
${rounds} rounds, the peers interleaved in each.

| peer | CPU per scrape | scrapes in ${seconds} s (4 conns) | p50 / p99 (1 conn) | waiting for a CPU (1 conn), per s | event-loop delay p99 / max | errors |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

plugprom / nginx: CPU per scrape ${ratio("cpuUs")}× (goal ≤ 1.5×; per round ${perRound("cpuUs")}), p99 ${ratio("p99us")}× (goal ≤ 2×; per round ${perRound("p99us")}).

plugprom's CPU per scrape by body size (4 connections, medians of the same rounds), for the
README's cost model: ${sizes.map((s) => `${s.kb.toFixed(0)} KB ${Math.round(s.us)} µs`).join(", ")}; least squares
≈ ${Math.round(fit.intercept)} µs + ${fit.slope.toFixed(2)} µs per KB.
`;
}

/**
 * A second daemon under --cpu-prof, proxying the 57 KB body at 16 connections; returns the
 * top of its profile as a table and writes the flame graph next to latest.md.
 */
async function profileProxy(work: string, go: string, bodyFile: string): Promise<string> {
  const dir = join(work, "prof");
  const d = await startDaemon({ args: ["--log-level", "info", "--max-concurrent-scrapes", "64"], nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${dir}`] });
  try {
    const r = await d.cli(["start", "up", "--metrics-transport", "tcp", "--no-auto-mtls", "--env", `GREETER_FIXED_BODY=${bodyFile}`, "--", go]);
    if (r.code !== 0) throw new Error(r.stderr);
    wrk(`${d.httpBase}/plugins/up/metrics`, 16);
    await d.stop(); // the profile is written as the daemon exits
  } finally {
    await d.close();
  }
  const profile = JSON.parse(readFileSync(join(dir, readdirSync(dir)[0]), "utf8")) as CpuProfile;
  const s = summarise(profile);
  mkdirSync(join(repoRoot, "bench", "results"), { recursive: true });
  writeFileSync(join(repoRoot, "bench", "results", "proxy-flame.svg"), flameSvg(s.folded.join("\n"), "plugprom daemon proxying 57 KB at 16 connections"));
  return `${table("function", s.byFunction, s.totalUs, 15)}\n\n${table("module", s.byModule, s.totalUs, 10)}`;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
}

function fmt(us: number): string {
  return Number.isNaN(us) ? "-" : us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`;
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

try {
  await main();
} finally {
  // SIGTERM: nginx's master then takes its workers down with it (SIGKILL would orphan them).
  for (const c of children) c.kill("SIGTERM");
  const forced = setTimeout(() => children.forEach((c) => c.kill("SIGKILL")), 5_000);
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, "exit") : undefined)));
  clearTimeout(forced);
  for (const fn of cleanups.reverse()) await fn();
}
