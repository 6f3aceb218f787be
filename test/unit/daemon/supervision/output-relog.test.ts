import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../../../src/daemon/log.js";
import { OutputRelogger } from "../../../../src/daemon/supervision/output-relog.js";

function capture() {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: "debug", format: "text", write: (l) => lines.push(l.trim()), now: () => new Date(0) }) };
}

test("past the burst and the rate, lines are counted instead of logged, and one summary says how many", () => {
  const { lines, log } = capture();
  let now = 0;
  const marks: string[] = [];
  const r = new OutputRelogger(log, { linesPerSecond: 10, burst: 5, now: () => now }, (_s, text) => marks.push(text));
  for (let i = 0; i < 100; i++) r.line("stderr", `line ${i}`);
  assert.equal(lines.length, 5, "the burst");
  now += 400;
  for (let i = 0; i < 100; i++) r.line("stderr", `more ${i}`);
  assert.equal(lines.length, 9, "ten a second: four more after 400 ms");
  r.skippedBytes("stdout", 4096, "too fast");
  r.summarize();
  assert.match(lines[9], /WARN  suppressed 191 lines of plugin output limit="10 lines\/s"$/);
  assert.match(lines[10], /WARN  dropped 4096 bytes of plugin output stream=stdout$/);
  assert.deepEqual(marks, ["[plugprom] 4096 bytes of stdout not read: written faster than the daemon follows output, or rotated away first"]);
  r.summarize();
  assert.equal(lines.length, 11, "nothing more to say");
});

test("hclog JSON lines keep their level and fields; other lines are logged as they are", () => {
  const { lines, log } = capture();
  const r = new OutputRelogger(log);
  r.line("stderr", '{"@level":"error","@message":"boom","code":7}');
  r.line("stdout", "plain");
  assert.match(lines[0], /ERROR boom code=7 stream=stderr$/);
  assert.match(lines[1], /INFO  plain stream=stdout$/);
});
