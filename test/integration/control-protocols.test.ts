// The control API on one port (and one Unix socket) for every client: Connect over HTTP/1.1
// (plain curl), gRPC-Web over HTTP/1.1 (a hand-built frame over node's http, as a browser
// sends it), Connect and gRPC over HTTP/2 (curl --http2-prior-knowledge, the CLI). With a
// control token every path refuses a missing or wrong one the same way and accepts the
// bearer scheme in any case.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { StatusResponseSchema } from "../../src/shared/gen/plugprom/v1/control_pb.js";
import { VERSION } from "../../src/shared/version.js";
import { daemon, type DaemonHandle } from "../helpers/daemon.js";
import { closedAfter } from "../helpers/slow-client.js";
import { tempDir } from "../helpers/temp.js";

const SERVICE = "/plugprom.v1.ControlService";

/** curl's --unix-socket or the URL's host:port, from a daemon's control address. */
function curlTarget(grpcAddr: string, path: string): string[] {
  return grpcAddr.startsWith("unix:") ? ["--unix-socket", grpcAddr.slice(5), `http://localhost${path}`] : [`http://${grpcAddr}${path}`];
}

interface CurlResult {
  status: number;
  httpVersion: string;
  body: string;
}

/** A Connect unary call with JSON, by curl, over HTTP/1.1 or (prior knowledge) HTTP/2. */
function curlConnect(grpcAddr: string, method: string, body: object, version: "1.1" | "2", authorization?: string): CurlResult {
  const args = [
    "-sS",
    version === "2" ? "--http2-prior-knowledge" : "--http1.1",
    "-H",
    "Content-Type: application/json",
    ...(authorization ? ["-H", `Authorization: ${authorization}`] : []),
    "-d",
    JSON.stringify(body),
    "-w",
    "\n%{http_code} %{http_version}",
    ...curlTarget(grpcAddr, `${SERVICE}/${method}`),
  ];
  const r = spawnSync("curl", args, { encoding: "utf8", timeout: 20_000 });
  assert.equal(r.status, 0, `curl ${args.join(" ")}: ${r.stderr}`);
  const nl = r.stdout.lastIndexOf("\n");
  const [status, httpVersion] = r.stdout.slice(nl + 1).split(" ");
  return { status: Number(status), httpVersion, body: r.stdout.slice(0, nl) };
}

interface GrpcWebResult {
  httpVersion: string;
  grpcStatus: number;
  messages: Buffer[];
}

/** A gRPC-Web unary call over HTTP/1.1 with node's http client: one length-prefixed frame in, data and trailer frames out. */
function grpcWeb(grpcAddr: string, method: string, message: Uint8Array, authorization?: string): Promise<GrpcWebResult> {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  const target = grpcAddr.startsWith("unix:") ? { socketPath: grpcAddr.slice(5) } : { host: grpcAddr.split(":")[0], port: Number(grpcAddr.split(":")[1]) };
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...target,
        method: "POST",
        path: `${SERVICE}/${method}`,
        headers: {
          "content-type": "application/grpc-web+proto",
          "x-grpc-web": "1",
          "content-length": frame.length,
          ...(authorization ? { authorization } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          const messages: Buffer[] = [];
          let trailers = "";
          for (let at = 0; at + 5 <= body.length; ) {
            const len = body.readUInt32BE(at + 1);
            const payload = body.subarray(at + 5, at + 5 + len);
            if (body[at] & 0x80) trailers += payload.toString("latin1");
            else messages.push(payload);
            at += 5 + len;
          }
          // Trailers-only answers (an error before any message) carry the status as headers.
          const status = /^grpc-status:\s*(\d+)/im.exec(trailers)?.[1] ?? res.headers["grpc-status"];
          resolve({ httpVersion: res.httpVersion, grpcStatus: Number(status ?? -1), messages });
        });
      },
    );
    req.on("error", reject);
    req.end(frame);
  });
}

async function assertEveryProtocolServes(d: DaemonHandle, authorization?: string): Promise<void> {
  const env = authorization ? { PLUGPROM_TOKEN: authorization.split(" ").pop()! } : {};
  assert.equal((await d.cli(["start", "abc"], { env })).code, 0, "the CLI, gRPC over HTTP/2");

  const h1 = curlConnect(d.grpcAddr, "List", {}, "1.1", authorization);
  assert.equal(h1.httpVersion, "1.1");
  assert.equal(h1.status, 200, h1.body);
  assert.equal((JSON.parse(h1.body) as { plugins: Array<{ name: string; state: string }> }).plugins[0].name, "abc");

  const h2 = curlConnect(d.grpcAddr, "Get", { name: "abc" }, "2", authorization);
  assert.equal(h2.httpVersion, "2");
  assert.equal(h2.status, 200, h2.body);
  assert.equal((JSON.parse(h2.body) as { plugin: { state: string } }).plugin.state, "PLUGIN_STATE_RUNNING");

  const web = await grpcWeb(d.grpcAddr, "Status", new Uint8Array(), authorization);
  assert.equal(web.httpVersion, "1.1");
  assert.equal(web.grpcStatus, 0);
  assert.equal(web.messages.length, 1);
  const status = fromBinary(StatusResponseSchema, web.messages[0]);
  assert.equal(status.version, VERSION);
  assert.equal(status.grpcAddr, d.grpcAddr);
}

test("one control port serves Connect and gRPC-Web over HTTP/1.1 and gRPC and Connect over HTTP/2", async (t) => {
  const d = await daemon(t);
  await assertEveryProtocolServes(d);
  const missing = curlConnect(d.grpcAddr, "Get", { name: "nope" }, "1.1");
  assert.equal(missing.status, 404, "Connect maps NOT_FOUND to 404 over HTTP/1.1 too");
  assert.equal((JSON.parse(missing.body) as { code: string }).code, "not_found");
});

test("the Unix control socket serves the same protocols", async (t) => {
  const dir = tempDir(t);
  const d = await daemon(t, ["--grpc-addr", `unix:${join(dir, "control.sock")}`]);
  await assertEveryProtocolServes(d);
});

test("with a control token every protocol refuses a missing or wrong token and accepts the bearer scheme in any case", async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "control"), "c0ntrol-t0ken\n");
  const sock = join(dir, "control.sock");
  const tcp = await daemon(t, ["--control-token-file", join(dir, "control")]);
  const unix = await daemon(t, ["--control-token-file", join(dir, "control"), "--grpc-addr", `unix:${sock}`]);
  for (const d of [tcp, unix]) {
    for (const authorization of [undefined, "Bearer wrong", "Basic c0ntrol-t0ken", "Bearer c0ntrol-t0ken0"]) {
      const what = `${d.grpcAddr} with ${authorization ?? "no authorization"}`;
      for (const version of ["1.1", "2"] as const) {
        const r = curlConnect(d.grpcAddr, "List", {}, version, authorization);
        assert.equal(r.status, 401, `Connect over HTTP/${version}, ${what}: ${r.body}`);
        assert.equal((JSON.parse(r.body) as { code: string }).code, "unauthenticated");
      }
      assert.equal((await grpcWeb(d.grpcAddr, "Status", new Uint8Array(), authorization)).grpcStatus, 16, `gRPC-Web, ${what}: UNAUTHENTICATED`);
    }
    assert.equal((await d.cli(["list"])).code, 6, "the CLI without a token");
    await assertEveryProtocolServes(d, "bearer c0ntrol-t0ken");
    for (const scheme of ["Bearer", "BEARER"]) {
      assert.equal(curlConnect(d.grpcAddr, "List", {}, "1.1", `${scheme} c0ntrol-t0ken`).status, 200, scheme);
      assert.equal(curlConnect(d.grpcAddr, "List", {}, "2", `${scheme} c0ntrol-t0ken`).status, 200, scheme);
    }
  }
});

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

test("HTTP/1.1 control connections keep the bounds: oversized headers are refused, silent and slow connections are closed", async (t) => {
  const d = await daemon(t);
  const [host, port] = [d.grpcAddr.split(":")[0], Number(d.grpcAddr.split(":")[1])];
  // A connection that never says which protocol it speaks, and one that starts its headers
  // but never ends them, are closed after the 10 s header timeout.
  const silent = closedAfter(host, port, "");
  const slow = closedAfter(host, port, `POST ${SERVICE}/List HTTP/1.1\r\nHost: x\r\n`);
  const huge = await new Promise<number>((resolve, reject) => {
    const req = request({ host, port, method: "POST", path: `${SERVICE}/List`, headers: { "content-type": "application/json", "x-big": "x".repeat(20 * 1024) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end("{}");
  });
  assert.equal(huge, 431, "headers past 16 KiB");
  for (const [what, closed] of [["silent", silent], ["slow headers", slow]] as const) {
    const ms = await closed;
    assert.ok(ms >= 9_000 && ms < 20_000, `${what}: closed after ${ms} ms`);
  }
  assert.equal(curlConnect(d.grpcAddr, "List", {}, "1.1").status, 200, "and the port still serves");
});

test("the daemon stops promptly with HTTP/1.1 control connections open: a following Logs stream and an idle keep-alive one", async (t) => {
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "abc"])).code, 0);
  const [host, port] = [d.grpcAddr.split(":")[0], Number(d.grpcAddr.split(":")[1])];
  // A Connect server-streaming call over HTTP/1.1: one enveloped JSON message in.
  const message = Buffer.from(JSON.stringify({ name: "abc", follow: true, lines: 1 }));
  const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
  envelope.writeUInt32BE(message.length, 1);
  let streaming: () => void = () => undefined;
  const firstLine = new Promise<void>((resolve) => (streaming = resolve));
  const streamEnded = new Promise<void>((resolve) => {
    const req = request({ host, port, method: "POST", path: `${SERVICE}/Logs`, headers: { "content-type": "application/connect+json", "content-length": envelope.length } }, (res) => {
      assert.equal(res.httpVersion, "1.1");
      res.on("data", () => streaming());
      res.on("close", () => resolve());
      res.on("error", () => resolve());
    });
    req.on("error", () => resolve());
    req.end(envelope);
  });
  const idle = closedAfter(host, port, `POST ${SERVICE}/List HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
  await firstLine;
  const asked = Date.now();
  assert.equal(await within(15_000, "the daemon's exit after SIGTERM", d.stop()), 0);
  const took = Date.now() - asked;
  assert.ok(took < 10_000, `stopped after ${took} ms`);
  await within(5_000, "the end of the Logs stream", streamEnded);
  assert.ok((await idle) > 0);
});
