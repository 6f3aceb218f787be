import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { once } from "node:events";
import { forEachLine, MAX_LINE_CHARS, OutputRing, parseHclogLine } from "../../../../src/daemon/supervision/plugin-output.js";

async function linesOf(chunks: string[]): Promise<string[]> {
  const stream = new PassThrough();
  const lines: string[] = [];
  forEachLine(stream, (l) => lines.push(l));
  for (const c of chunks) stream.write(c);
  stream.end();
  await once(stream, "end");
  return lines;
}

test("lines split across chunks are joined, CRLF is trimmed, a final partial line is kept", async () => {
  assert.deepEqual(await linesOf(["1|1|unix|/tmp/", "p|grpc\r\nsecond\n", "tail"]), ["1|1|unix|/tmp/p|grpc", "second", "tail"]);
});

test("a runaway line is cut at the limit instead of growing without bound", async () => {
  const lines = await linesOf(["x".repeat(MAX_LINE_CHARS * 3), "\nnext\n"]);
  assert.equal(lines.length, 2);
  assert.equal(lines[0].length, MAX_LINE_CHARS);
  assert.equal(lines[1], "next");
});

test("the ring keeps only the newest lines and tails by stream", () => {
  const ring = new OutputRing(3);
  for (let i = 0; i < 5; i++) ring.push({ time: new Date(), stream: i % 2 ? "stdout" : "stderr", text: `l${i}` });
  assert.deepEqual(ring.tail(10).map((l) => l.text), ["l2", "l3", "l4"]);
  assert.deepEqual(ring.tail(10, "stderr").map((l) => l.text), ["l2", "l4"]);
  assert.deepEqual(ring.tail(0), []);
});

test("hclog JSON lines keep their level, message and fields", () => {
  const e = parseHclogLine('{"@level":"warn","@message":"disk almost full","@module":"greeter","@timestamp":"2024-01-01T00:00:00Z","free":"3%"}');
  assert.deepEqual(e, { level: "warn", message: "disk almost full", fields: { free: "3%", module: "greeter" } });
  assert.equal(parseHclogLine('{"@level":"trace","@message":"x"}')?.level, "debug");
});

test("other lines are not mistaken for hclog", () => {
  for (const line of ["plain text", "{not json", '{"level":"info","msg":"x"}', "[1,2]", "null"]) {
    assert.equal(parseHclogLine(line), undefined, line);
  }
});
