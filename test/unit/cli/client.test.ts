// The real control client (client.ts) against real sockets: only they show how connect-node
// reports a missing daemon, a wedged one, or a daemon's own errors, and what main() makes of it.
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
import { ControlService, PluginInfoSchema, PluginState } from "../../../src/shared/gen/plugprom/v1/control_pb.js";
import { createControlClient } from "../../../src/cli/client.js";
import { oneLine, runCli } from "./fakes.js";

const HINT = /Is it running\? Start it with "plugprom daemon", or point --addr\/PLUGPROM_ADDR at it\.$/;

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
