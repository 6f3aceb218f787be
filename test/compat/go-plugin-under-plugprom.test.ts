// Real go-plugin plugins (Go, plugin.Serve, Debian's go-plugin 1.0.1) under the plugprom
// daemon: the code nobody here wrote is the judge of the host side.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { daemon, httpGet } from "../helpers/daemon.js";
import { buildGoProgram } from "../helpers/go-build.js";
import { processesStartedBy } from "../helpers/procs.js";

let greeter: string;
before(async () => {
  greeter = await buildGoProgram("goplugin-greeter");
});

interface Info {
  state: string;
  pid: number | null;
  rpcProtocol: string;
  protocolVersion: number | null;
  healthy: boolean;
  lastExitCode: number | null;
  lastExitSignal: string | null;
}

for (const mtls of [true, false]) {
  test(`a Go gRPC plugin runs, is scraped through the proxy, logs through the daemon and stops gracefully (AutoMTLS ${mtls ? "on" : "off"})`, async (t) => {
    const d = await daemon(t);
    const start = await d.cli(["start", "gop", "--json", ...(mtls ? [] : ["--no-auto-mtls"]), "--", greeter]);
    assert.equal(start.code, 0, start.stderr);
    const info = JSON.parse(start.stdout) as Info;
    assert.equal(info.state, "RUNNING");
    assert.equal(info.rpcProtocol, "grpc");
    assert.equal(info.protocolVersion, 1);
    assert.equal(info.healthy, true);
    assert.match(d.log(), mtls ? /configuring server automatic mTLS plugin=gop/ : /plugin started plugin=gop/);

    const scrape = await httpGet(`${d.httpBase}/plugins/gop/metrics`);
    assert.equal(scrape.status, 200);
    assert.match(scrape.body, /^plugin_ticker_count \d+$/m);
    assert.match(scrape.body, /^go_goroutines \d+$/m, "client_golang's own metrics come through");
    await d.waitForLog(/INFO {2}plugin started plugin=gop .*module=goplugin-greeter/);

    const stop = await d.cli(["stop", "gop", "--json", "--grace", "10s"]);
    assert.equal(stop.code, 0, stop.stderr);
    const stopped = JSON.parse(stop.stdout) as Info;
    assert.equal(stopped.lastExitSignal, null, "it exited on Shutdown, before any signal");
    assert.equal(stopped.lastExitCode, 0);
    assert.deepEqual(processesStartedBy(d.stateDir), []);
  });
}

test("version negotiation: a plugin serving 2 and 3, offered 3, runs at 3; offered 4, fails saying why", async (t) => {
  const d = await daemon(t);
  const ok = await d.cli(["start", "v3", "--json", "--protocol-version", "3", "--env", "GREETER_VERSIONS=2,3", "--", greeter]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as Info).protocolVersion, 3);
  const bad = await d.cli(["start", "v4", "--protocol-version", "4", "--env", "GREETER_VERSIONS=2,3", "--", greeter]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /incompatible app protocol version "\d+": offered 4/);
  assert.equal(processesStartedBy(d.stateDir).length, 1, "only v3 is left running");
});

test("a wrong magic cookie fails start with go-plugin's message and what to do", async (t) => {
  const d = await daemon(t);
  const r = await d.cli(["start", "cookie", "--magic-cookie", "OTHER=value", "--", greeter]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /exited before its handshake \(exit 1\)\. The plugin rejected the magic cookie OTHER=value/);
  assert.match(r.stderr, /This binary is a plugin/);
});

test("a net/rpc plugin is supervised and scraped, its RPC unused; stop falls back to SIGTERM", async (t) => {
  const d = await daemon(t);
  const r = await d.cli(["start", "legacy", "--json", "--env", "GREETER_PROTOCOL=netrpc", "--", greeter]);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as Info;
  assert.equal(info.rpcProtocol, "netrpc");
  assert.equal(info.healthy, true);
  assert.match((await httpGet(`${d.httpBase}/plugins/legacy/metrics`)).body, /^plugin_ticker_count/m);
  const stop = JSON.parse((await d.cli(["stop", "legacy", "--json"])).stdout) as Info;
  assert.equal(stop.lastExitSignal, "SIGTERM");
});

test("a plugin that ignores SIGTERM (and has no Shutdown RPC) is SIGKILLed after the grace period", async (t) => {
  const d = await daemon(t);
  const r = await d.cli(["start", "stubborn", "--env", "GREETER_PROTOCOL=netrpc", "--env", "GREETER_MODE=ignore-sigterm", "--", greeter]);
  assert.equal(r.code, 0, r.stderr);
  const started = Date.now();
  const stop = await d.cli(["stop", "stubborn", "--json", "--grace", "300ms"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((JSON.parse(stop.stdout) as Info).lastExitSignal, "SIGKILL");
  assert.ok(Date.now() - started < 5_000);
  assert.match(d.log(), /ignored Shutdown and SIGTERM; killing it/);
  assert.deepEqual(processesStartedBy(d.stateDir), []);
});

test("a plugin that stops answering its health checks is marked unhealthy, and healthy again when it recovers", async (t) => {
  // Without the liveness rule, which would replace it first (go-plugin-liveness.test.ts).
  const d = await daemon(t, ["--health-interval", "200ms", "--liveness-failures", "0"]);
  const r = await d.cli(["start", "frozen", "--json", "--", greeter]);
  assert.equal(r.code, 0, r.stderr);
  const { pid } = JSON.parse(r.stdout) as Info;
  const healthy = async () => (JSON.parse((await d.cli(["get", "frozen", "--json"])).stdout) as Info).healthy;
  const { waitFor } = await import("../helpers/daemon.js");
  process.kill(pid!, "SIGSTOP");
  try {
    await waitFor("unhealthy", async () => !(await healthy()));
    assert.match((await httpGet(`${d.httpBase}/metrics`)).body, /^plugprom_plugin_healthy\{plugin="frozen"\} 0$/m);
    assert.match(d.log(), /plugin failed its health check plugin=frozen/);
  } finally {
    process.kill(pid!, "SIGCONT");
  }
  await waitFor("healthy again", healthy);
});

test("format negotiation passes through to a client_golang plugin: protobuf delimited, OpenMetrics, and its own gzip", async (t) => {
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "formats", "--", greeter])).code, 0);
  const { request } = await import("node:http");
  const fetchRaw = (headers: Record<string, string>) =>
    new Promise<{ headers: import("node:http").IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      request(`${d.httpBase}/plugins/formats/metrics`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      })
        .on("error", reject)
        .end();
    });
  const proto = await fetchRaw({ accept: "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited" });
  assert.match(String(proto.headers["content-type"]), /^application\/vnd\.google\.protobuf; proto=io\.prometheus\.client\.MetricFamily; encoding=delimited/);
  assert.ok(proto.body.includes(Buffer.from("plugin_ticker_count")), "a protobuf body, not text");

  // What Prometheus 2.42 sends; Debian's client_golang 1.14 speaks OpenMetrics 0.0.1.
  const om = await fetchRaw({
    accept: "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
  });
  assert.match(String(om.headers["content-type"]), /^application\/openmetrics-text; version=/);
  assert.match(om.body.toString(), /# EOF\n$/);

  const gz = await fetchRaw({ "accept-encoding": "gzip" });
  assert.equal(gz.headers["content-encoding"], "gzip", "client_golang compresses itself; the proxy passes it on");
  const { gunzipSync } = await import("node:zlib");
  assert.match(gunzipSync(gz.body).toString(), /^plugin_ticker_count \d+$/m);
});
