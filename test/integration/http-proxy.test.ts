// The HTTP side against real sockets: the daemon's HTTP server with an in-memory directory,
// and real HTTP servers on a Unix socket and on TCP standing in for plugins.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import { createHttpServer } from "../../src/daemon/http/server.js";
import type { GzipPolicy } from "../../src/daemon/options.js";
import { acceptsGzip, gzipPays } from "../../src/daemon/http/response.js";
import { FakeDirectory } from "../helpers/fake-directory.js";
import { createLogger, silentLogger, type Logger } from "../../src/daemon/log.js";
import { DaemonMetrics } from "../../src/daemon/metrics.js";
import { PluginState } from "../../src/shared/gen/plugprom/v1/control_pb.js";

async function listen(server: Server, where: string | number): Promise<void> {
  if (typeof where === "string") server.listen(where);
  else server.listen(where, "127.0.0.1");
  await once(server, "listening");
}

async function setup(t: TestContext, opts: { gzip?: GzipPolicy; maxScrapeBytes?: number; maxConcurrentScrapes?: number; maxFederateBytes?: number; log?: Logger } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "pp-http-"));
  const directory = new FakeDirectory();
  const daemon = createHttpServer({
    directory,
    metrics: new DaemonMetrics(directory),
    advertiseAddr: () => "daemon.example:2112",
    defaultScrapeTimeoutMs: 5_000,
    log: opts.log ?? silentLogger,
    // The tests' scrapers are on loopback, where "auto" never compresses: "always" unless
    // a test is about the policy.
    gzip: opts.gzip ?? "always",
    maxScrapeBytes: opts.maxScrapeBytes ?? 64 * 1024 * 1024,
    maxConcurrentScrapes: opts.maxConcurrentScrapes ?? 8,
    maxFederateBytes: opts.maxFederateBytes ?? 64 << 20,
    headersTimeoutMs: 10_000,
  });
  await listen(daemon, 0);
  const servers: Server[] = [daemon];
  t.after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    await rm(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${(daemon.address() as AddressInfo).port}`;
  /** A plugin stand-in on a Unix socket; `handler` answers its /metrics. */
  const upstream = async (name: string, handler: Parameters<typeof createServer>[1], transport: "unix" | "tcp" = "unix") => {
    const server = createServer(handler!);
    servers.push(server);
    if (transport === "unix") {
      const path = join(dir, `${name}.sock`);
      await listen(server, path);
      directory.add(name, PluginState.RUNNING, { metricsEndpoint: { kind: "unix", path } });
    } else {
      await listen(server, 0);
      directory.add(name, PluginState.RUNNING, { metricsEndpoint: { kind: "tcp", host: "127.0.0.1", port: (server.address() as AddressInfo).port } });
    }
    return server;
  };
  return { dir, directory, base, upstream, daemon };
}

/** Resolves once check() holds (polled on the event loop: the servers are in this process). */
async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setImmediate(r));
  }
}

function get(url: string, headers: Record<string, string> = {}, method = "GET") {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    request(url, { headers, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

/** Sends a raw request line, for paths a URL parser would normalise away. */
function rawStatus(base: string, path: string): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    let data = "";
    socket.on("data", (c) => (data += c.toString("latin1")));
    socket.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on("error", reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

test("the SD document lists the daemon and every running plugin at the advertised address", async (t) => {
  const { base, directory } = await setup(t);
  directory.add("abc", PluginState.RUNNING, { metricsEndpoint: { kind: "unix", path: "/nowhere" }, labels: { team: "core" } });
  directory.add("gone", PluginState.STOPPED, { metricsEndpoint: undefined });
  for (const path of ["/sd_config", "/discovery"]) {
    const r = await get(`${base}${path}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json; charset=utf-8");
    const groups = JSON.parse(r.body) as Array<{ targets: string[]; labels: Record<string, string> }>;
    assert.deepEqual(groups.map((g) => g.labels.__meta_plugprom_plugin ?? "daemon"), ["daemon", "abc"]);
    assert.ok(groups.every((g) => g.targets.length === 1 && g.targets[0] === "daemon.example:2112"));
  }
});

test("the SD document is byte for byte the daemon's group, then running and crashed plugins by name", async (t) => {
  const lines: string[] = [];
  const { base, directory } = await setup(t, { log: createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) }) });
  const empty = await get(`${base}/sd_config`);
  assert.equal(empty.body, '[{"targets":["daemon.example:2112"],"labels":{"__metrics_path__":"/metrics","__meta_plugprom_role":"daemon"}}]\n');

  directory.add("zz", PluginState.CRASHED, { metricsEndpoint: { kind: "unix", path: "/nowhere" } });
  directory.add("abc", PluginState.RUNNING, { metricsEndpoint: { kind: "unix", path: "/nowhere" }, labels: { team: "core" } });
  directory.add("gone", PluginState.STOPPED, { metricsEndpoint: undefined });
  directory.add("new", PluginState.STARTING, { metricsEndpoint: undefined });
  const r = await get(`${base}/discovery`, { "x-prometheus-refresh-interval-seconds": "60" });
  assert.equal(
    r.body,
    "[" +
      '{"targets":["daemon.example:2112"],"labels":{"__metrics_path__":"/metrics","__meta_plugprom_role":"daemon"}},' +
      '{"targets":["daemon.example:2112"],"labels":{"team":"core","__metrics_path__":"/plugins/abc/metrics","__meta_plugprom_plugin":"abc","__meta_plugprom_role":"plugin","__meta_plugprom_state":"running","plugin":"abc"}},' +
      '{"targets":["daemon.example:2112"],"labels":{"__metrics_path__":"/plugins/zz/metrics","__meta_plugprom_plugin":"zz","__meta_plugprom_role":"plugin","__meta_plugprom_state":"crashed","plugin":"zz"}}' +
      "]\n",
  );
  assert.equal(r.headers["content-length"], String(Buffer.byteLength(r.body)));
  assert.ok(
    lines.some((l) => JSON.parse(l).level === "debug" && JSON.parse(l).refreshIntervalSeconds === 60),
    "Prometheus' refresh interval is logged at debug",
  );

  const head = await get(`${base}/sd_config`, {}, "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-type"], "application/json; charset=utf-8");
  assert.equal(head.body, "");
});

test("a large body is streamed: the first bytes arrive while the plugin is still writing", async (t) => {
  const { base, upstream } = await setup(t);
  let finishUpstream!: () => void;
  const upstreamMayFinish = new Promise<void>((r) => (finishUpstream = r));
  await upstream("big", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.write(`# first chunk\n${"x".repeat(64 * 1024)}\n`);
    void upstreamMayFinish.then(() => res.end(`${"y".repeat(2 * 1024 * 1024)}\n# last\n`));
  });
  const res = await new Promise<import("node:http").IncomingMessage>((resolve) => request(`${base}/plugins/big/metrics`, resolve).end());
  assert.equal(res.statusCode, 200);
  const chunks = res[Symbol.asyncIterator]();
  const first = (await chunks.next()).value as Buffer;
  assert.match(first.toString(), /^# first chunk/, "received before the plugin finished: not buffered");
  finishUpstream();
  let total = first.length;
  for (let c = await chunks.next(); !c.done; c = await chunks.next()) total += (c.value as Buffer).length;
  assert.equal(total, "# first chunk\n".length + 64 * 1024 + 1 + 2 * 1024 * 1024 + 1 + "# last\n".length);
});

test("Accept and Accept-Encoding reach the plugin, Content-Type and Content-Encoding come back, nothing else goes up", async (t) => {
  const { base, upstream } = await setup(t);
  let seen: IncomingHttpHeaders = {};
  let seenUrl = "";
  await upstream(
    "neg",
    (req, res) => {
      seen = req.headers;
      seenUrl = req.url!;
      res.writeHead(200, { "content-type": "application/openmetrics-text; version=1.0.0", "content-encoding": "identity", "set-cookie": "a=b", connection: "close" });
      res.end("# EOF\n");
    },
    "tcp",
  );
  const r = await get(`${base}/plugins/neg/metrics?target=http://evil/&x=1`, {
    accept: "application/openmetrics-text; version=1.0.0",
    "accept-encoding": "gzip",
    "user-agent": "Prometheus/2.42.0",
    "x-prometheus-scrape-timeout-seconds": "3",
    cookie: "session=secret",
    authorization: "Bearer secret",
    "x-forwarded-for": "1.2.3.4",
  });
  assert.equal(r.status, 200);
  assert.equal(seenUrl, "/metrics", "the upstream path is fixed; the query never reaches it");
  assert.equal(seen.accept, "application/openmetrics-text; version=1.0.0");
  assert.equal(seen["accept-encoding"], "gzip");
  assert.equal(seen["user-agent"], "Prometheus/2.42.0");
  assert.equal(seen["x-prometheus-scrape-timeout-seconds"], "3");
  for (const h of ["cookie", "authorization", "x-forwarded-for", "x-forwarded-host"]) assert.equal(seen[h], undefined, `${h} must not reach the plugin`);
  assert.equal(r.headers["content-type"], "application/openmetrics-text; version=1.0.0");
  assert.equal(r.headers["content-encoding"], "identity");
  assert.equal(r.headers["set-cookie"], undefined);
  assert.equal(r.body, "# EOF\n");
});

test("an unknown plugin is 404 with its name escaped; one that is not running is 503", async (t) => {
  const { base, directory } = await setup(t);
  const r = await get(`${base}/plugins/nope/metrics`);
  assert.equal(r.status, 404);
  assert.equal(r.body, 'plugin "nope" not found\n');
  assert.equal(r.headers["x-content-type-options"], "nosniff");
  directory.add("down", PluginState.CRASHED, { metricsEndpoint: { kind: "unix", path: "/nowhere" } });
  const d = await get(`${base}/plugins/down/metrics`);
  assert.equal(d.status, 503);
  assert.match(d.body, /CRASHED/);
});

test("a plugin endpoint that refuses is 502; one that never answers is 504 within Prometheus' timeout", async (t) => {
  const { base, directory, dir, upstream } = await setup(t);
  directory.add("refused", PluginState.RUNNING, { metricsEndpoint: { kind: "unix", path: join(dir, "no-listener.sock") } });
  assert.equal((await get(`${base}/plugins/refused/metrics`)).status, 502);

  await upstream("stuck", () => undefined); // never answers
  const started = Date.now();
  const r = await get(`${base}/plugins/stuck/metrics`, { "x-prometheus-scrape-timeout-seconds": "0.3" });
  assert.equal(r.status, 504);
  assert.ok(Date.now() - started < 4_000, "the header's timeout, not the 5 s default, applies");
});

test("a body cut mid-stream ends the response abnormally instead of looking complete", async (t) => {
  const { base, upstream } = await setup(t);
  await upstream("cut", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("partial_metric 1\n");
    setImmediate(() => res.socket!.destroy());
  });
  await assert.rejects(get(`${base}/plugins/cut/metrics`), /aborted|socket hang up|ECONNRESET/);
});

const odd = [
  "/plugins/%2e%2e/metrics",
  "/plugins/../metrics",
  "/plugins//metrics",
  "/plugins/ABC/metrics",
  "/plugins/a%2fb/metrics",
  "/plugins/a%00b/metrics",
  `/plugins/${"a".repeat(300)}/metrics`,
  "/plugins/abc/metrics/../../sd_config",
  "/plugins/abc",
  "//plugins/abc/metrics",
];
test("odd and encoded plugin paths are 400 or 404, never 5xx and never another resource", async (t) => {
  const { base, upstream } = await setup(t);
  let hits = 0;
  await upstream("abc", (_req, res) => {
    hits++;
    res.end("x 1\n");
  });
  for (const path of odd) {
    const status = await rawStatus(base, path);
    assert.ok(status === 400 || status === 404, `${path} → ${status}`);
  }
  assert.equal(hits, 0, "no odd path reached the plugin");
});

test("the daemon's /metrics has its plugprom_* families, /healthz answers, other methods are 405", async (t) => {
  const { base, upstream } = await setup(t);
  await upstream("abc", (_req, res) => res.end("x 1\n"));
  assert.equal((await get(`${base}/plugins/abc/metrics`)).status, 200);
  const m = await get(`${base}/metrics`);
  assert.equal(m.status, 200);
  for (const family of ["plugprom_plugin_up", "plugprom_plugins", "plugprom_proxy_requests_total", "plugprom_proxy_request_duration_seconds", "process_cpu_seconds_total"]) {
    assert.match(m.body, new RegExp(`^# TYPE ${family} `, "m"));
  }
  assert.match(m.body, /^plugprom_proxy_requests_total\{plugin="abc",code="200"\} 1$/m);
  assert.match(m.body, /^plugprom_plugins\{state="RUNNING"\} 1$/m);
  assert.equal((await get(`${base}/healthz`)).status, 200);
  for (const path of ["/sd_config", "/metrics", "/plugins/abc/metrics"]) {
    const post = await get(`${base}${path}`, {}, "POST");
    assert.equal(post.status, 405, path);
    assert.equal(post.headers.allow, "GET, HEAD");
  }
  assert.equal((await get(`${base}/nothing-here`)).status, 404);
});

function getRaw(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

const exposition = `# TYPE x untyped\n${Array.from({ length: 2000 }, (_, i) => `x{i="${i}"} ${i}`).join("\n")}\n`;

test("the proxy gzips, streaming, for a scraper that accepts it when the plugin does not compress", async (t) => {
  const { base, upstream } = await setup(t);
  await upstream("plain", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": Buffer.byteLength(exposition) });
    res.end(exposition);
  });
  const r = await getRaw(`${base}/plugins/plain/metrics`, { "accept-encoding": "gzip" });
  assert.equal(r.headers["content-encoding"], "gzip");
  assert.equal(r.headers["content-length"], undefined, "the compressed length is not known up front");
  assert.equal(r.headers.vary, "Accept-Encoding");
  assert.equal(gunzipSync(r.body).toString(), exposition);
  assert.ok(r.body.length < exposition.length / 2);

  const identity = await getRaw(`${base}/plugins/plain/metrics`, { "accept-encoding": "identity" });
  assert.equal(identity.headers["content-encoding"], undefined);
  assert.equal(identity.body.toString(), exposition);
});

test("a plugin's own gzip passes through untouched, and --no-gzip never compresses", async (t) => {
  const { base, upstream } = await setup(t, { gzip: "never" });
  const gz = gzipSync(exposition);
  await upstream("zipped", (req, res) => {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-encoding": "gzip" });
    res.end(gz);
  });
  await upstream("plain", (_req, res) => res.end(exposition));
  const r = await getRaw(`${base}/plugins/zipped/metrics`, { "accept-encoding": "gzip" });
  assert.equal(r.headers["content-encoding"], "gzip");
  assert.deepEqual(r.body, gz, "byte for byte what the plugin sent");
  const p = await getRaw(`${base}/plugins/plain/metrics`, { "accept-encoding": "gzip" });
  assert.equal(p.headers["content-encoding"], undefined);
  assert.equal(p.body.toString(), exposition);
});

test("Accept-Encoding is read the way HTTP defines it", () => {
  const cases: Array<[string | undefined, boolean]> = [
    ["gzip", true],
    ["deflate, gzip;q=1.0, *;q=0.5", true],
    ["GZIP", true],
    ["gzip;q=0", false],
    ["identity", false],
    ["*", true],
    [undefined, false],
    ["br", false],
  ];
  for (const [header, want] of cases) assert.equal(acceptsGzip(header), want, String(header));
});

test("past --max-concurrent-scrapes a plugin's extra scrapes get 429 instead of queueing", async (t) => {
  const { base, upstream } = await setup(t, { maxConcurrentScrapes: 2 });
  const held: Array<() => void> = [];
  let holding = true;
  await upstream("slow", (_req, res) => (holding ? held.push(() => res.end("x 1\n")) : res.end("x 1\n")));
  const first = [get(`${base}/plugins/slow/metrics`), get(`${base}/plugins/slow/metrics`)];
  const { waitFor } = await import("../helpers/daemon.js");
  await waitFor("two scrapes at the plugin", () => held.length === 2);
  const third = await get(`${base}/plugins/slow/metrics`);
  assert.equal(third.status, 429);
  assert.equal(third.headers["retry-after"], "1");
  holding = false;
  held.forEach((release) => release());
  assert.deepEqual((await Promise.all(first)).map((r) => r.status), [200, 200]);
  assert.equal((await get(`${base}/plugins/slow/metrics`)).status, 200, "the slots are free again");
});

test("requests for unknown or invalid names are counted, never under the name asked for", async (t) => {
  const { base } = await setup(t);
  assert.equal((await get(`${base}/plugins/scanner-1/metrics`)).status, 404);
  assert.equal((await get(`${base}/plugins/scanner-2/metrics`)).status, 404);
  assert.equal(await rawStatus(base, "/plugins/NOPE/metrics"), 400);
  const m = (await get(`${base}/metrics`)).body;
  assert.doesNotMatch(m, /scanner|NOPE/);
  assert.match(m, /^plugprom_proxy_requests_total\{plugin="",code="404"\} 2$/m);
  assert.match(m, /^plugprom_proxy_requests_total\{plugin="",code="400"\} 1$/m);
});

test("a scraper that hangs up mid-body makes the proxy hang up on the plugin too", { timeout: 10_000 }, async (t) => {
  const { base, upstream } = await setup(t);
  let upstreamClosed!: () => void;
  const closedAtPlugin = new Promise<void>((r) => (upstreamClosed = r));
  await upstream("endless", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write(`first ${"x".repeat(1024)}\n`); // and never ends
    res.once("close", upstreamClosed);
  });
  const res = await new Promise<import("node:http").IncomingMessage>((resolve) => request(`${base}/plugins/endless/metrics`, resolve).end());
  await once(res, "data");
  res.destroy();
  await closedAtPlugin; // else the paused upstream response would pin a pooled connection
});

test("as many scrapes of one plugin as --max-concurrent-scrapes reach it at once, with no lower limit behind it; all time out in time", async (t) => {
  const n = 12;
  const { base, upstream } = await setup(t, { maxConcurrentScrapes: n });
  let arrived = 0;
  await upstream("stuck", () => void arrived++); // never answers
  const started = Date.now();
  const pending = Array.from({ length: n }, () => get(`${base}/plugins/stuck/metrics`, { "x-prometheus-scrape-timeout-seconds": "1" }));
  await waitUntil(() => arrived === n);
  const results = await Promise.all(pending);
  assert.deepEqual(results.map((r) => r.status), Array(n).fill(504));
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 1_800, `all answered within about one timeout (${elapsed} ms)`);
});

test("/federate: a plugin that is late, refuses, answers another format or an unparsable body is up 0; the rest is served in time", async (t) => {
  const { base, upstream, directory } = await setup(t);
  const held: Array<() => void> = [];
  await upstream("good", (_req, res) => res.end("# TYPE g gauge\ng 1\n"));
  await upstream("late", (_req, res) => void held.push(() => res.end("g 2\n")));
  await upstream("proto", (_req, res) => (res.writeHead(200, { "content-type": "application/vnd.google.protobuf" }), res.end("x")));
  await upstream("broken", (_req, res) => res.end("g{ 3\n"));
  await upstream("error", (_req, res) => (res.writeHead(500), res.end()));
  directory.add("gone", PluginState.RUNNING, { metricsEndpoint: { kind: "unix", path: "/nonexistent/plugprom.sock" } });
  directory.add("crashed", PluginState.CRASHED, { metricsEndpoint: undefined });
  t.after(() => held.forEach((f) => f()));
  const started = Date.now();
  const r = await get(`${base}/federate`, { "x-prometheus-scrape-timeout-seconds": "0.5" });
  const took = Date.now() - started;
  assert.equal(r.status, 200);
  // Within the scraper's 0.5 s (the daemon's own default here is 5 s); loose against a busy machine.
  assert.ok(took < 1500, `answered within the scrape timeout (${took} ms)`);
  const up = Object.fromEntries([...r.body.matchAll(/^plugprom_federate_plugin_up\{plugin="(\w+)"\} (\d)$/gm)].map((m) => [m[1], Number(m[2])]));
  assert.deepEqual(up, { broken: 0, crashed: 0, error: 0, gone: 0, good: 1, late: 0, proto: 0 });
  assert.match(r.body, /^# TYPE g gauge\ng\{plugin="good"\} 1$/m);
});

test("/federate scrapes a bounded number of plugins at once and keeps within --max-federate-bytes", async (t) => {
  const { base, upstream } = await setup(t, { maxFederateBytes: 2500 });
  let inFlight = 0;
  let peak = 0;
  for (let i = 0; i < 20; i++) {
    await upstream(`p${String(i).padStart(2, "0")}`, (_req, res) => {
      peak = Math.max(peak, ++inFlight);
      // Answer on the next turn, so that scrapes overlap if the fan-out lets them.
      setImmediate(() => {
        inFlight--;
        res.end(`# TYPE filler gauge\nfiller{pad="${"x".repeat(150)}"} 1\n`);
      });
    });
  }
  const r = await get(`${base}/federate`);
  assert.equal(r.status, 200);
  assert.ok(peak > 1 && peak <= 8, `peak concurrency ${peak}`);
  const ups = [...r.body.matchAll(/^plugprom_federate_plugin_up\{plugin="\w+"\} (\d)$/gm)].map((m) => Number(m[1]));
  assert.equal(ups.length, 20);
  const merged = ups.filter((u) => u === 1).length;
  // Each body is ~190 bytes: 2500 bytes hold 13 of them, never all 20.
  assert.ok(merged >= 10 && merged <= 13, `${merged} plugins merged`);
  assert.equal((r.body.match(/^filler\{/gm) ?? []).length, merged);
});

test("--gzip auto does not compress for a scraper on this host, nor a body under 1 KiB; elsewhere it does", async (t) => {
  const { base, upstream } = await setup(t, { gzip: "auto" });
  await upstream("plain", (_req, res) => (res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }), res.end(exposition)));
  const r = await getRaw(`${base}/plugins/plain/metrics`, { "accept-encoding": "gzip" });
  assert.equal(r.headers["content-encoding"], undefined, "loopback: identity");
  assert.equal(r.body.toString(), exposition);
  // The decision itself, for the addresses a test on one machine cannot come from.
  for (const [policy, address, length, expected] of [
    ["auto", "10.1.2.3", 57_000, true],
    ["auto", "2001:db8::1", undefined, true],
    ["auto", "10.1.2.3", 900, false],
    ["auto", "127.0.0.1", 57_000, false],
    ["auto", "::ffff:127.0.0.1", 57_000, false],
    ["auto", "::1", 57_000, false],
    ["auto", undefined, 57_000, false],
    ["always", "127.0.0.1", 10, true],
    ["never", "10.1.2.3", 57_000, false],
  ] as const) {
    assert.equal(gzipPays(policy, address, length), expected, `${policy} ${address} ${length}`);
  }
});

test("a slow scraper holds the plugin back: the daemon pauses the upstream instead of buffering the body", { timeout: 20_000 }, async (t) => {
  const { base, upstream } = await setup(t);
  const total = 48 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, "x");
  let written = 0;
  let blocked = false;
  let unblock: (() => void) | undefined;
  await upstream("bulk", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": String(total) });
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!res.write(chunk)) {
          blocked = true;
          res.once("drain", () => ((blocked = false), pump()));
          unblock?.();
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const res = await new Promise<import("node:http").IncomingMessage>((resolve) => request(`${base}/plugins/bulk/metrics`, resolve).end());
  res.pause();
  // The plugin stays blocked on a full socket while nobody reads: what it wrote so far is
  // what the kernel's buffers and the daemon's bounded stream buffers hold, far from the body.
  // (A window of time is the only way to see that something does not happen.)
  const deadline = Date.now() + 10_000;
  let settled = -1;
  while (settled !== written && Date.now() < deadline) {
    settled = written;
    await new Promise<void>((r) => ((unblock = r), setTimeout(r, 300)));
  }
  assert.ok(blocked, "the plugin is waiting for the daemon to read");
  assert.ok(written < total / 2, `only ${written} of ${total} bytes left the plugin while the scraper read nothing`);
  let received = 0;
  res.on("data", (c: Buffer) => (received += c.length));
  res.resume();
  await once(res, "end");
  assert.equal(received, total, "the whole body arrives once the scraper reads");
});

test("scrapes one after another reuse one pooled connection to the plugin; a cut one is replaced", async (t) => {
  const { base, upstream } = await setup(t, { maxScrapeBytes: 10_000 });
  let big = false;
  const server = await upstream("pooled", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(big ? "x".repeat(20_000) : "x 1\n");
  });
  let connections = 0;
  server.on("connection", () => connections++);
  for (let i = 0; i < 5; i++) assert.equal((await get(`${base}/plugins/pooled/metrics`)).body, "x 1\n");
  assert.equal(connections, 1, "keep-alive: five scrapes, one connection");
  big = true;
  await assert.rejects(get(`${base}/plugins/pooled/metrics`), /aborted|socket hang up|ECONNRESET/, "over --max-scrape-bytes: cut");
  big = false;
  assert.equal((await get(`${base}/plugins/pooled/metrics`)).body, "x 1\n", "the next scrape gets a fresh connection");
  assert.equal(connections, 2);
});

test("HEAD through the proxy answers the plugin's status and headers with no body", async (t) => {
  const { base, upstream } = await setup(t);
  let method = "";
  await upstream("head", (req, res) => {
    method = req.method!;
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": "4" });
    res.end(req.method === "HEAD" ? undefined : "x 1\n");
  }, "tcp");
  const r = await get(`${base}/plugins/head/metrics`, {}, "HEAD");
  assert.equal(method, "HEAD");
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "text/plain; version=0.0.4");
  assert.equal(r.body, "");
  assert.equal((await get(`${base}/plugins/head/metrics`)).body, "x 1\n", "a GET after it still works");
});

test("a body still streaming at the scrape timeout is cut, and the plugin's connection closed", { timeout: 10_000 }, async (t) => {
  const { base, upstream } = await setup(t);
  let closedAtPlugin!: () => void;
  const closed = new Promise<void>((r) => (closedAtPlugin = r));
  await upstream("dribble", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("a 1\n"); // and never ends
    res.once("close", closedAtPlugin);
  });
  const started = Date.now();
  await assert.rejects(get(`${base}/plugins/dribble/metrics`, { "x-prometheus-scrape-timeout-seconds": "0.3" }), /aborted|socket hang up|ECONNRESET/);
  assert.ok(Date.now() - started < 3_000, "cut at the header's timeout");
  await closed;
});

test("a plugin that moves to a new socket is scraped there; repeated response headers are not doubled", async (t) => {
  const { base, upstream, directory, dir } = await setup(t);
  await upstream("moving", (_req, res) => res.end("old 1\n"));
  assert.equal((await get(`${base}/plugins/moving/metrics`)).body, "old 1\n");
  const server = createServer((_req, res) => {
    res.setHeader("content-type", ["text/plain", "application/json"]);
    res.setHeader("vary", ["Accept", "User-Agent"]);
    res.end("new 1\n");
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  await listen(server, join(dir, "moved.sock"));
  directory.add("moving", PluginState.RUNNING, { metricsEndpoint: { kind: "unix", path: join(dir, "moved.sock") } });
  const r = await get(`${base}/plugins/moving/metrics`);
  assert.equal(r.body, "new 1\n");
  assert.equal(r.headers["content-type"], "text/plain");
  assert.equal(r.headers.vary, "Accept, User-Agent");
});
