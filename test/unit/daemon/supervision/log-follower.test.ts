import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { LogFollower } from "../../../../src/daemon/supervision/log-follower.js";
import { waitFor, type Cleanup } from "../../../helpers/daemon.js";
import { tempFile } from "../../../helpers/temp.js";

/** A plugin's output file, as the daemon follows it. */
const outputFile = (t: Cleanup, content = "") => tempFile(t, "p.stderr.log", content);

test("lines appended by the writer arrive in order, including one split across writes", async (t) => {
  const file = outputFile(t, "first\n");
  const lines: string[] = [];
  const f = new LogFollower(file, (l) => lines.push(l));
  await f.start();
  t.after(() => f.stop()); // a failed assertion must not leave a watcher holding the test open
  appendFileSync(file, "second\nthi");
  appendFileSync(file, "rd\n");
  await waitFor("three lines", () => lines.length === 3);
  await f.stop();
  assert.deepEqual(lines, ["first", "second", "third"]);
});

test("fromEnd skips what was written before (a reattach), and stop() drains what is left", async (t) => {
  const file = outputFile(t, "old line\n");
  const lines: string[] = [];
  const f = new LogFollower(file, (l) => lines.push(l), { fromEnd: true, pollMs: 60_000 });
  await f.start();
  t.after(() => f.stop()); // a failed assertion must not leave a watcher holding the test open
  appendFileSync(file, "new line\nlast without newline");
  await f.stop();
  assert.deepEqual(lines, ["new line", "last without newline"]);
});

test("past the size limit the file is rotated to .1 and truncated, losing no line that was read", async (t) => {
  const file = outputFile(t);
  const lines: string[] = [];
  const f = new LogFollower(file, (l) => lines.push(l), { maxBytes: 1_000 });
  await f.start();
  t.after(() => f.stop()); // a failed assertion must not leave a watcher holding the test open
  const line = `${"x".repeat(99)}\n`;
  for (let i = 0; i < 30; i++) appendFileSync(file, line);
  await waitFor("the rotation", () => existsSync(`${file}.1`) && statSync(file).size < 1_000);
  appendFileSync(file, "after rotation\n");
  await waitFor("the line after rotation", () => lines.includes("after rotation"));
  await f.stop();
  assert.equal(lines.filter((l) => l === "x".repeat(99)).length, 30);
  assert.equal(readFileSync(`${file}.1`, "utf8").length, 1_000, "the newest 1000 bytes before the rotation");
});

test("a writer faster than the read budget: the follower skips to the newest output, counts what it skipped, and resumes on whole lines", async (t) => {
  const file = outputFile(t);
  const lines: string[] = [];
  let skipped = 0;
  const f = new LogFollower(file, (l) => lines.push(l), { readBytesPerSecond: 10_000, pollMs: 20, onSkipped: (n) => (skipped += n) });
  await f.start();
  t.after(() => f.stop()); // a failed assertion must not leave a watcher holding the test open
  const line = `${"y".repeat(99)}\n`;
  appendFileSync(file, line.repeat(1_000)); // 100 kB: ten seconds of budget at once
  appendFileSync(file, "newest\n");
  await waitFor("the newest line", () => lines.includes("newest"));
  await f.stop();
  assert.ok(skipped >= 80_000, `skipped ${skipped} bytes`);
  assert.ok(lines.length < 200, `${lines.length} lines read`);
  assert.ok(lines.every((l) => l === "newest" || l === "y".repeat(99)), "no line starts in the middle");
});

test("far past the size limit the file is truncated without a copy, and stop() reads only the last of a backlog", async (t) => {
  const file = outputFile(t);
  const lines: string[] = [];
  let skipped = 0;
  const f = new LogFollower(file, (l) => lines.push(l), { maxBytes: 10_000, readBytesPerSecond: 1_000, pollMs: 60_000, onSkipped: (n) => (skipped += n) });
  await f.start();
  t.after(() => f.stop()); // a failed assertion must not leave a watcher holding the test open
  appendFileSync(file, `${"z".repeat(999)}\n`.repeat(50)); // 50 kB: five times the limit
  await waitFor("the truncation", () => statSync(file).size === 0);
  assert.equal(existsSync(`${file}.1`), false, "a flood is not copied");
  assert.ok(skipped >= 40_000);
  await f.stop();
  assert.ok(lines.length <= 2, `${lines.length} lines`);
});

test("the head (a handshake) survives a flood right behind it: read before anything is skipped or truncated, the rest bounded as before", async (t) => {
  // Empty lines, the head, then fifty times the size limit and more than the 64 KiB looked
  // through for a head, all written before the follower first looks: without the head option
  // it would skip or truncate all of it.
  const file = outputFile(t, `\n\nHEAD line\n${`${"f".repeat(99)}\n`.repeat(5_000)}`);
  const heads: string[] = [];
  const lines: string[] = [];
  let skipped = 0;
  const f = new LogFollower(file, (l) => lines.push(l), {
    maxBytes: 10_000,
    readBytesPerSecond: 1_000,
    pollMs: 20,
    onSkipped: (n) => (skipped += n),
    head: (l) => l !== "" && heads.push(l) > 0,
  });
  await f.start();
  t.after(() => f.stop()); // a failed assertion must not leave a watcher holding the test open
  await waitFor("the flood truncated", () => statSync(file).size < 10_000 && skipped > 0);
  // The first line after a truncate may be the end of one cut in two: dropped.
  appendFileSync(file, "rest of a line\nHEAD again\n");
  await waitFor("the line after the flood", () => lines.includes("HEAD again"));
  await f.stop();
  assert.deepEqual(heads, ["HEAD line"], "the head is taken once, past the empty lines before it");
  assert.deepEqual(lines.slice(0, 2), ["", ""], "lines the head refused go on as output");
  assert.ok(lines.length < 1_000, `${lines.length} lines read: the head's reading is bounded`);
});

test("a file without a head within its first 64 KiB is bounded all the same", async (t) => {
  const file = outputFile(t, `${"g".repeat(999)}\n`.repeat(200));
  let offered = 0;
  const f = new LogFollower(file, () => undefined, { maxBytes: 10_000, readBytesPerSecond: 1_000, pollMs: 20, head: () => (offered++, false) });
  await f.start();
  t.after(() => f.stop());
  await waitFor("the truncation", () => statSync(file).size < 10_000);
  await f.stop();
  assert.ok(offered <= 70, `${offered} lines read looking for the head`);
});

test("stop() of a follower behind by megabytes reads only the end (a crash's last lines) and returns at once", async (t) => {
  const file = outputFile(t);
  const lines: string[] = [];
  const f = new LogFollower(file, (l) => lines.push(l), { readBytesPerSecond: 1, pollMs: 60_000 });
  await f.start();
  t.after(() => f.stop()); // a failed assertion must not leave a watcher holding the test open
  appendFileSync(file, `${"w".repeat(999)}\n`.repeat(5_000)); // 5 MB nobody read
  appendFileSync(file, "panic: the last words\n");
  const began = Date.now();
  await f.stop();
  assert.ok(Date.now() - began < 1_000);
  assert.equal(lines.at(-1), "panic: the last words");
  assert.ok(lines.length <= 70, `${lines.length} lines`);
});

test("a follower holds no descriptor while its plugin is quiet, and still reads what comes later", async (t) => {
  const file = outputFile(t, "first\n");
  const openHere = () => readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false; // closed between the listing and the look
    }
  }).length;
  const lines: string[] = [];
  const f = new LogFollower(file, (l) => lines.push(l));
  t.after(() => f.stop());
  await f.start();
  await waitFor("the first line", () => lines.length === 1);
  await waitFor("the file closed after reading", () => openHere() === 0);
  appendFileSync(file, "second\n");
  await waitFor("the second line", () => lines.length === 2);
  await waitFor("closed again", () => openHere() === 0);
  assert.deepEqual(lines, ["first", "second"]);
});

test("followers beside inotify share one safety-poll timer (one wake-up for all), and still read", async (t) => {
  // Counts the intervals made: with one timer per file, a daemon with 500 plugins woke 500 times a second.
  const made: number[] = [];
  const real = globalThis.setInterval;
  globalThis.setInterval = ((fn: () => void, ms: number) => {
    made.push(ms);
    return real(fn, ms);
  }) as typeof setInterval;
  t.after(() => void (globalThis.setInterval = real));
  const followers: LogFollower[] = [];
  for (let i = 0; i < 40; i++) {
    const f = new LogFollower(tempFile(t, `p${i}.stdout.log`, ""), () => undefined);
    followers.push(f);
    t.after(() => f.stop());
    await f.start();
  }
  assert.ok(made.length <= 1, `${made.length} intervals for 40 followers`);
  const lines: string[] = [];
  const file = outputFile(t);
  const last = new LogFollower(file, (l) => lines.push(l));
  t.after(() => last.stop());
  await last.start();
  appendFileSync(file, "still read\n");
  await waitFor("the line", () => lines.length === 1);
  for (const f of [...followers, last]) await f.stop();
});
