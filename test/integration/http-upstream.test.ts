// openScrape (the control API's Scrape) against real plugin stand-ins: HTTP servers on a Unix
// socket and on loopback TCP.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from "node:http";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { DaemonError, type ErrorReason } from "../../src/daemon/errors.js";
import { openScrape, sharedPools } from "../../src/daemon/scrape/upstream.js";
import type { Address } from "../../src/shared/address.js";

async function setup(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), "pp-upstream-"));
  const servers: Server[] = [];
  t.after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    await rm(dir, { recursive: true, force: true });
  });
  const plugin = async (handler: RequestListener, transport: "unix" | "tcp" = "unix"): Promise<Address> => {
    const server = createServer(handler);
    servers.push(server);
    if (transport === "unix") {
      const path = join(dir, `p${servers.length}.sock`);
      server.listen(path);
      await once(server, "listening");
      return { kind: "unix", path };
    }
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return { kind: "tcp", host: "127.0.0.1", port: (server.address() as AddressInfo).port };
  };
  return { dir, plugin };
}

function hasReason(reason: ErrorReason) {
  return (err: unknown) => err instanceof DaemonError && err.reason === reason;
}

async function readAll(stream: AsyncIterable<unknown>): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += (chunk as Buffer).toString();
  return text;
}

for (const transport of ["unix", "tcp"] as const) {
  test(`over ${transport}, openScrape GETs /metrics with the Accept asked for and streams the answer`, async (t) => {
    const { plugin } = await setup(t);
    let seen: { url?: string; method?: string; headers?: IncomingHttpHeaders } = {};
    const endpoint = await plugin((req, res) => {
      seen = { url: req.url, method: req.method, headers: req.headers };
      res.writeHead(200, { "content-type": "application/openmetrics-text; version=1.0.0" });
      res.end("up 1\n# EOF\n");
    }, transport);
    const res = await openScrape(endpoint, { accept: "application/openmetrics-text", timeoutMs: 5_000 });
    assert.equal(res.headers["content-type"], "application/openmetrics-text; version=1.0.0");
    assert.equal(await readAll(res), "up 1\n# EOF\n");
    assert.equal(seen.url, "/metrics");
    assert.equal(seen.method, "GET");
    assert.equal(seen.headers?.accept, "application/openmetrics-text");
  });
}

test("the promise resolves at the headers, before the plugin has finished the body", async (t) => {
  const { plugin } = await setup(t);
  let finish!: () => void;
  const mayFinish = new Promise<void>((r) => (finish = r));
  const endpoint = await plugin((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("a 1\n");
    void mayFinish.then(() => res.end("b 2\n"));
  });
  const res = await openScrape(endpoint, { timeoutMs: 5_000 });
  const reading = readAll(res);
  finish();
  assert.equal(await reading, "a 1\nb 2\n");
});

test("a socket with no listener is unreachable, with the connection error as its cause", async (t) => {
  const { dir } = await setup(t);
  await assert.rejects(openScrape({ kind: "unix", path: join(dir, "nobody.sock") }, { timeoutMs: 5_000 }), (err: unknown) => hasReason("unreachable")(err) && (err as Error).cause instanceof Error);
});

test("a non-200 answer is unreachable naming the status", async (t) => {
  const { plugin } = await setup(t);
  const endpoint = await plugin((_req, res) => {
    res.writeHead(500);
    res.end("boom");
  });
  await assert.rejects(openScrape(endpoint, { timeoutMs: 5_000 }), (err: unknown) => hasReason("unreachable")(err) && /HTTP 500/.test((err as Error).message));
});

test("no answer within the timeout is a timeout", async (t) => {
  const { plugin } = await setup(t);
  const endpoint = await plugin(() => undefined);
  await assert.rejects(openScrape(endpoint, { timeoutMs: 150 }), hasReason("timeout"));
});

test("a body still running at the deadline fails the stream with a timeout", async (t) => {
  const { plugin } = await setup(t);
  const endpoint = await plugin((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("a 1\n"); // and never ends
  });
  const res = await openScrape(endpoint, { timeoutMs: 200 });
  await assert.rejects(readAll(res), hasReason("timeout"));
});

test("an aborted signal is canceled", async (t) => {
  const { plugin } = await setup(t);
  let arrived!: () => void;
  const atPlugin = new Promise<void>((r) => (arrived = r));
  const endpoint = await plugin(() => arrived());
  const ctl = new AbortController();
  const scrape = openScrape(endpoint, { timeoutMs: 5_000, signal: ctl.signal });
  await atPlugin;
  ctl.abort();
  await assert.rejects(scrape, hasReason("canceled"));
});

test("the deadline also bounds the wait for a pooled connection: scrapes queued behind a stuck plugin fail in time", async (t) => {
  const { plugin } = await setup(t);
  const arrivals: number[] = [];
  const endpoint = await plugin(() => void arrivals.push(Date.now())); // never answers
  // More scrapes than the pool opens to one plugin: some wait in its queue.
  const n = sharedPools.connectionsPerPlugin + 4;
  const started = Date.now();
  const results = await Promise.allSettled(Array.from({ length: n }, () => openScrape(endpoint, { timeoutMs: 1_000 })));
  const elapsed = Date.now() - started;
  for (const r of results) {
    assert.equal(r.status, "rejected");
    assert.ok(hasReason("timeout")((r as PromiseRejectedResult).reason));
  }
  assert.ok(elapsed < 1_800, `all failed within about one timeout, not two (${elapsed} ms)`);
  // Until the deadline only maxSockets reached the plugin; the rest waited in the queue.
  const early = arrivals.filter((at) => at - started < 900).length;
  assert.ok(early <= sharedPools.connectionsPerPlugin, `${early} scrapes reached the plugin before the deadline`);
});
