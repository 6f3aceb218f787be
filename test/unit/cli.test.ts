// The CLI's commands through its real commander wiring, with a fake control client and a
// capturing IO: request building, output shapes, colour and exit codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  MetricsTransport,
  PluginInfoSchema,
  PluginState,
  type PluginInfo,
  type StartRequest,
} from "../../src/shared/gen/plugprom/v1/control_pb.js";
import { buildProgram } from "../../src/cli/program.js";
import type { ControlClient } from "../../src/cli/client.js";
import type { IO } from "../../src/cli/output.js";
import { PLUGPROM } from "../helpers/daemon.js";

const abc: PluginInfo = create(PluginInfoSchema, {
  name: "abc",
  state: PluginState.RUNNING,
  pid: 4242,
  command: "/usr/bin/node",
  args: ["greeter.js"],
  labels: { team: "core" },
  startedAt: timestampFromDate(new Date("2026-01-01T00:00:00Z")),
  restarts: 2,
  metricsEndpoint: "unix:/state/sockets/abc.metrics.sock",
  protocolVersion: 1,
  rpcAddress: "unix:/state/sockets/plugin1",
  rpcProtocol: "grpc",
  healthy: true,
  workingDir: "/home/me",
});

interface Harness {
  run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  calls: Array<[string, unknown]>;
}

function harness(client: Partial<Record<keyof ControlClient, (req: unknown) => unknown>>, color = false): Harness {
  const calls: Array<[string, unknown]> = [];
  const fake = new Proxy({} as ControlClient, {
    get: (_t, method: string) => (req: unknown) => {
      calls.push([method, req]);
      const impl = client[method as keyof ControlClient];
      if (!impl) throw new Error(`unexpected call ${method}`);
      return impl(req);
    },
  });
  return {
    calls,
    async run(...argv) {
      let stdout = "";
      let stderr = "";
      const io: IO = {
        out: async (d) => void (stdout += typeof d === "string" ? d : Buffer.from(d).toString()),
        err: (l) => void (stderr += `${l}\n`),
        color,
        now: () => new Date("2026-01-01T00:01:30Z"),
      };
      const program = buildProgram({ client: () => fake, io: () => io, cwd: () => "/home/me/project" });
      program.configureOutput({ writeErr: (s) => (stderr += s), writeOut: (s) => (stdout += s), outputError: (s, w) => w(s) });
      try {
        await program.parseAsync(["node", "plugprom", ...argv]);
        return { code: 0, stdout, stderr };
      } catch (err) {
        return { code: -1, stdout, stderr: `${stderr}${(err as Error).message}` };
      }
    },
  };
}

test("list --json prints the documented plugin objects, with exactly the documented keys", async () => {
  const h = harness({ list: () => ({ plugins: [abc] }) });
  const { stdout } = await h.run("list", "--json");
  const [p] = JSON.parse(stdout) as Array<Record<string, unknown>>;
  assert.deepEqual(Object.keys(p).sort(), [
    "args", "command", "healthy", "labels", "lastError", "lastExitCode", "lastExitSignal", "metricsEndpoint", "name",
    "nextRestartAt", "pid", "plugin", "protocolVersion", "restartPolicy", "restarts", "rpcAddress", "rpcProtocol", "scrapeInterval",
    "scrapeTimeout", "startedAt", "state", "stoppedAt", "workingDir",
  ]);
  assert.equal(p.state, "RUNNING");
  assert.equal(p.pid, 4242);
  assert.equal(p.startedAt, "2026-01-01T00:00:00.000Z");
  assert.equal(p.lastExitCode, null);
  assert.equal(p.lastError, null);
});

test("list prints an aligned table without colour codes when colour is off", async () => {
  const h = harness({ list: () => ({ plugins: [abc, create(PluginInfoSchema, { name: "longer-name", state: PluginState.CRASHED })] }) });
  const { stdout } = await h.run("list");
  assert.equal(
    stdout,
    "NAME         STATE    PID   RESTARTS  UPTIME  LABELS\n" +
      "abc          RUNNING  4242  2         1m30s   team=core\n" +
      "longer-name  CRASHED  -     0         -       -\n",
  );
  assert.doesNotMatch(stdout, /\x1b\[/);
});

test("states are coloured on a terminal, and the columns stay aligned", async () => {
  const { stdout } = await harness({ list: () => ({ plugins: [abc] }) }, true).run("list");
  assert.match(stdout, /\x1b\[32mRUNNING\x1b\[39m  4242/);
});

test("start builds the request from flags, resolving relative paths against the working directory", async () => {
  const h = harness({ start: () => ({ plugin: abc }) });
  const r = await h.run(
    "start", "abc",
    "--plugin", "./plugins/greeter",
    "--label", "team=core", "--label", "tier=2",
    "--env", "A=1=2",
    "--magic-cookie", "BASIC_PLUGIN=hello",
    "--protocol-version", "2", "--protocol-version", "3",
    "--metrics-transport", "tcp",
    "--start-timeout", "1m",
    "--no-auto-mtls",
    "--", "-port", "{{metrics_port}}", "--verbose",
  );
  assert.equal(r.code, 0, r.stderr);
  const [[method, req]] = h.calls as Array<[string, StartRequest]>;
  assert.equal(method, "start");
  assert.equal(req.name, "abc");
  assert.equal(req.plugin, "/home/me/project/plugins/greeter");
  assert.deepEqual(req.command, ["-port", "{{metrics_port}}", "--verbose"], "everything after -- is passed untouched");
  assert.deepEqual(req.labels, { team: "core", tier: "2" });
  assert.deepEqual(req.env, { A: "1=2" });
  assert.equal(req.magicCookieKey, "BASIC_PLUGIN");
  assert.equal(req.magicCookieValue, "hello");
  assert.deepEqual(req.protocolVersions, [2, 3]);
  assert.equal(req.metricsTransport, MetricsTransport.TCP);
  assert.equal(durationMs(req.startTimeout!), 60_000);
  assert.equal(req.autoMtls, false);
  assert.equal(req.workingDir, "/home/me/project");
});

test("start with a relative command after -- makes it absolute; a bare name is left for PATH", async () => {
  const h = harness({ start: () => ({ plugin: abc }) });
  await h.run("start", "a", "--", "./bin/thing", "x");
  await h.run("start", "b", "--", "node", "greeter.js");
  const reqs = h.calls.map(([, r]) => r as StartRequest);
  assert.deepEqual(reqs[0].command, ["/home/me/project/bin/thing", "x"]);
  assert.deepEqual(reqs[1].command, ["node", "greeter.js"]);
  assert.equal(reqs[1].autoMtls, undefined, "AutoMTLS is the daemon's default unless turned off");
});

const usage: Array<[string, string[], RegExp]> = [
  ["an invalid instance name", ["start", "Bad_Name"], /invalid instance name/],
  ["the reserved label plugin", ["start", "a", "--label", "plugin=x"], /"plugin" is set by plugprom/],
  ["a label starting with __", ["start", "a", "--label", "__x=1"], /reserved by Prometheus/],
  ["a label without =", ["start", "a", "--label", "team"], /expected KEY=VALUE/],
  ["a bad protocol version", ["start", "a", "--protocol-version", "x"], /positive integer/],
  ["a bad transport", ["start", "a", "--metrics-transport", "udp"], /unix or tcp/],
  ["a bad duration", ["stop", "a", "--grace", "5"], /invalid duration/],
];
for (const [what, argv, message] of usage) {
  test(`${what} is a usage error before any call to the daemon`, async () => {
    const h = harness({});
    const r = await h.run(...argv);
    assert.equal(r.code, -1);
    assert.match(r.stderr, message);
    assert.deepEqual(h.calls, []);
  });
}

test("targets prints the daemon's document byte for byte", async () => {
  const doc = '[{"targets":["h:2112"],"labels":{"__metrics_path__":"/metrics"}}]\n';
  assert.equal((await harness({ targets: () => ({ json: doc }) }).run("targets")).stdout, doc);
});

test("scrape writes each chunk as it arrives, asking for OpenMetrics when told to", async () => {
  const h = harness({
    scrape: async function* () {
      yield { contentType: "text/plain", chunk: Buffer.from("a 1\n") };
      yield { contentType: "", chunk: Buffer.from("b 2\n") };
    } as never,
  });
  const r = await h.run("scrape", "abc", "--openmetrics");
  assert.equal(r.stdout, "a 1\nb 2\n");
  assert.equal((h.calls[0][1] as { accept: string }).accept, "application/openmetrics-text; version=1.0.0");
});

// The real binary, for what only a process shows: exit codes and one-line errors.
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(PLUGPROM, args, { encoding: "utf8", env: { ...process.env, NO_COLOR: "1", PLUGPROM_ADDR: "", ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("an unreachable daemon exits 3 with the address and what to do", async () => {
  const r = cli(["--addr", "127.0.0.1:1", "list"]);
  assert.equal(r.code, 3);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, /cannot reach the plugprom daemon at 127\.0\.0\.1:1 \(connection refused\).*plugprom daemon/);

  const dir = await mkdtemp(join(tmpdir(), "pp-cli-"));
  try {
    const u = cli(["list"], { PLUGPROM_ADDR: `unix:${join(dir, "none.sock")}` });
    assert.equal(u.code, 3);
    assert.match(u.stderr, /at unix:.*none\.sock \(no such socket\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("usage errors exit 2 with one line; --version and help exit 0", () => {
  const unknown = cli(["list", "--frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^plugprom: unknown option '--frobnicate'/);
  assert.equal(cli(["start"]).code, 2);
  assert.equal(cli(["--version"]).code, 0);
  assert.equal(cli(["--help"]).code, 0);
  assert.match(cli(["version"]).stdout, /^plugprom \d+\.\d+\.\d+/);
});

test("errors the daemon returns map to documented exit codes", async () => {
  const cases: Array<[Code, number]> = [
    [Code.NotFound, 4],
    [Code.AlreadyExists, 5],
    [Code.FailedPrecondition, 5],
    [Code.InvalidArgument, 2],
    [Code.Unauthenticated, 6],
    [Code.Aborted, 1],
    [Code.DeadlineExceeded, 1],
  ];
  const { exitCodeFor } = await import("../../src/shared/errors.js");
  for (const [code, exit] of cases) assert.equal(exitCodeFor(new ConnectError("x", code).code), exit, Code[code]);
});
