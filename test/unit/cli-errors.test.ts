// How the CLI fails: one line on stderr and a documented exit code, whether the problem is
// the command line, the daemon's answer, the daemon being away, or our own deadline.
import { test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ControlService, PluginInfoSchema, PluginState } from "../../src/shared/gen/plugprom/v1/control_pb.js";
import { createControlClient } from "../../src/cli/client.js";
import { OutputClosedError } from "../../src/cli/errors.js";
import { runCli } from "./cli-fakes.js";

const HINT = /Is it running\? Start it with "plugprom daemon", or point --addr\/PLUGPROM_ADDR at it\.$/;

function oneLine(stderr: string): string {
  assert.equal(stderr.split("\n").filter(Boolean).length, 1, `expected one line on stderr, got:\n${stderr}`);
  return stderr.trimEnd();
}

test("errors the daemon returns become one line and their exit code", async () => {
  const cases: Array<[Code, string, number]> = [
    [Code.NotFound, 'plugin "abc" not found', 4],
    [Code.AlreadyExists, 'plugin "abc" already exists', 5],
    [Code.FailedPrecondition, 'plugin "abc" is stopping', 5],
    [Code.InvalidArgument, "bad label", 2],
    [Code.Aborted, "plugin exited before its handshake", 1],
    [Code.Internal, "boom", 1],
  ];
  for (const [code, message, exit] of cases) {
    const r = await runCli({ get: () => Promise.reject(new ConnectError(message, code)) }, ["get", "abc"]);
    assert.equal(r.code, exit, Code[code]);
    assert.equal(oneLine(r.stderr), `plugprom: ${message}`);
    assert.equal(r.stdout, "");
  }
});

test("a stack trace only with --debug", async () => {
  const fail = { get: () => Promise.reject(new ConnectError('plugin "abc" not found', Code.NotFound)) };
  const plain = await runCli(fail, ["get", "abc"]);
  assert.doesNotMatch(plain.stderr, /\n\s+at /);
  const debug = await runCli(fail, ["--debug", "get", "abc"]);
  assert.equal(debug.code, 4);
  assert.match(debug.stderr, /^plugprom: plugin "abc" not found\n[\s\S]*\n\s+at /);
});

test("--debug after -- belongs to the plugin's command line, not to the CLI", async () => {
  const r = await runCli({ start: () => Promise.reject(new ConnectError("no", Code.Aborted)) }, ["start", "a", "--", "./p", "--debug"]);
  assert.equal(r.code, 1);
  assert.equal(oneLine(r.stderr), "plugprom: no");
  assert.deepEqual(r.calls[0][1].command, ["/home/me/project/p", "--debug"]);
});

const usage: Array<[string, string[], RegExp]> = [
  ["an unknown option", ["list", "--frobnicate"], /^plugprom: unknown option '--frobnicate' \(see "plugprom list --help"\)$/],
  ["a missing argument", ["get"], /^plugprom: missing required argument 'name' \(see "plugprom get --help"\)$/],
  ["an unknown command", ["frobnicate"], /^plugprom: unknown command 'frobnicate'/],
  ["an invalid instance name", ["start", "Bad_Name"], /^plugprom: invalid instance name "Bad_Name"/],
  ["the reserved label plugin", ["start", "a", "--label", "plugin=x"], /"plugin" is set by plugprom/],
  ["a malformed label", ["start", "a", "--label", "team"], /^plugprom: --label "team": expected KEY=VALUE$/],
  ["a malformed env entry", ["start", "a", "--env", "1X=2"], /invalid env name "1X"/],
  ["a bad --timeout", ["--timeout", "soon", "list"], /^plugprom: --timeout: invalid duration "soon"/],
  ["a bare number as a duration", ["stop", "a", "--grace", "5"], /^plugprom: --grace: invalid duration "5"/],
  ["a malformed --addr", ["--addr", "nowhere", "list"], /^plugprom: --addr: address "nowhere": expected host:port or unix:\/path$/],
  ["a relative unix socket path", ["--addr", "unix:run/p.sock", "list"], /unix socket path must be absolute/],
  ["a bad -n for logs", ["logs", "a", "-n", "lots"], /^plugprom: -n "lots": expected a number of lines$/],
];
for (const [what, argv, message] of usage) {
  test(`${what} exits 2 with one line, before any call to the daemon`, async () => {
    const r = await runCli({}, argv);
    assert.equal(r.code, 2);
    assert.match(oneLine(r.stderr), message);
    assert.deepEqual(r.calls, []);
  });
}

test("help and --version exit 0 on stdout", async () => {
  const help = await runCli({}, ["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: plugprom/);
  const version = await runCli({}, ["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});

test("a closed stdout (plugprom scrape x | head) ends the command quietly", async () => {
  const r = await runCli(
    {
      scrape: async function* () {
        yield { contentType: "text/plain", chunk: Buffer.from("a 1\n") };
        yield { contentType: "", chunk: Buffer.from("b 2\n") };
      },
    },
    ["scrape", "abc"],
    { onWrite: () => Promise.reject(new OutputClosedError(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }))) },
  );
  assert.equal(r.code, 0);
  assert.equal(r.stderr, "");
});

// The real client: only a real socket shows how connect-node reports a missing daemon.

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test("nothing listening on the TCP port: exit 3, naming the address and what to do", async () => {
  const addr = `127.0.0.1:${await freePort()}`;
  const r = await runCli({}, ["--addr", addr, "list"], { createClient: createControlClient });
  assert.equal(r.code, 3);
  const line = oneLine(r.stderr);
  assert.ok(line.startsWith(`plugprom: cannot reach the plugprom daemon at ${addr} (connection refused).`), line);
  assert.match(line, HINT);
});

test("no socket at the unix path: exit 3, naming the socket", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "pp-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const addr = `unix:${join(dir, "daemon.sock")}`;
  const r = await runCli({}, ["--addr", addr, "logs", "abc", "-f"], { createClient: createControlClient });
  assert.equal(r.code, 3);
  const line = oneLine(r.stderr);
  assert.ok(line.startsWith(`plugprom: cannot reach the plugprom daemon at ${addr} (no such socket).`), line);
  assert.match(line, HINT);
});

test("--timeout exceeded: exit 1, saying which call timed out", async (t) => {
  // Accepts connections and never answers, like a wedged daemon.
  const sockets = new Set<Socket>();
  const silent = createServer((s) => void sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const addr = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const unary = await runCli({}, ["--addr", addr, "--timeout", "300ms", "list"], { createClient: createControlClient });
  assert.equal(unary.code, 1);
  assert.match(oneLine(unary.stderr), new RegExp(`^plugprom: the List call to the daemon at ${addr} timed out after \\d+ms \\(--timeout\\)$`));
  const streaming = await runCli({}, ["--addr", addr, "--timeout", "300ms", "scrape", "abc"], { createClient: createControlClient });
  assert.equal(streaming.code, 1);
  assert.match(oneLine(streaming.stderr), /^plugprom: the Scrape call to the daemon at .* timed out after/);
});

test("over a unix socket, a real daemon's answers and errors come through as such", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "pp-cli-"));
  const sock = join(dir, "control.sock");
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(ControlService, {
          list: () => ({ plugins: [create(PluginInfoSchema, { name: "abc", state: PluginState.RUNNING, pid: 7 })] }),
          get: (req) => {
            throw new ConnectError(`plugin "${req.name}" not found`, Code.NotFound);
          },
          // The daemon's own DeadlineExceeded (a plugin missing its start timeout) is the
          // daemon's error, not the CLI's --timeout.
          start: () => {
            throw new ConnectError("plugin did not complete its handshake within 30s", Code.DeadlineExceeded);
          },
        }),
    }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => void sessions.add(s));
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  const addr = `unix:${sock}`;

  const list = await runCli({}, ["--addr", addr, "--json", "list"], { createClient: createControlClient });
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(
    (JSON.parse(list.stdout) as Array<{ name: string; state: string; pid: number }>).map(({ name, state, pid }) => ({ name, state, pid })),
    [{ name: "abc", state: "RUNNING", pid: 7 }],
  );

  const get = await runCli({}, ["--addr", addr, "get", "nope"], { createClient: createControlClient });
  assert.equal(get.code, 4);
  assert.equal(oneLine(get.stderr), 'plugprom: plugin "nope" not found');

  const start = await runCli({}, ["--addr", addr, "start", "abc"], { createClient: createControlClient });
  assert.equal(start.code, 1);
  assert.equal(oneLine(start.stderr), "plugprom: plugin did not complete its handshake within 30s");
});
