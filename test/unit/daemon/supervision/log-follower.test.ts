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
  appendFileSync(file, "new line\nlast without newline");
  await f.stop();
  assert.deepEqual(lines, ["new line", "last without newline"]);
});

test("past the size limit the file is rotated to .1 and truncated, losing no line that was read", async (t) => {
  const file = outputFile(t);
  const lines: string[] = [];
  const f = new LogFollower(file, (l) => lines.push(l), { maxBytes: 1_000 });
  await f.start();
  const line = `${"x".repeat(99)}\n`;
  for (let i = 0; i < 30; i++) appendFileSync(file, line);
  await waitFor("the rotation", () => existsSync(`${file}.1`) && statSync(file).size < 1_000);
  appendFileSync(file, "after rotation\n");
  await waitFor("the line after rotation", () => lines.includes("after rotation"));
  await f.stop();
  assert.equal(lines.filter((l) => l === "x".repeat(99)).length, 30);
  assert.ok(readFileSync(`${file}.1`, "utf8").length >= 1_000);
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
