// `plugprom top` on a real pseudo-terminal (tmux): it draws the live table, refreshes, quits
// on q and gives the terminal back; without a terminal it prints one snapshot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { PLUGPROM, startDaemon, waitFor } from "../helpers/daemon.js";
import { requireBinary } from "../helpers/prometheus.js";

test("top draws every plugin live on a terminal, and q quits and restores the screen", async (t) => {
  const tmux = requireBinary("tmux", "tmux");
  const d = await startDaemon();
  t.after(() => d.close());
  assert.equal((await d.cli(["start", "abc"])).code, 0);

  const socket = `pp-top-${process.pid}`;
  const run = (...args: string[]) => execFileSync(tmux, ["-L", socket, ...args], { encoding: "utf8" });
  t.after(() => {
    try {
      run("kill-server");
    } catch {
      // already gone
    }
  });
  run("new-session", "-d", "-s", "top", "-x", "120", "-y", "30", `sh -c '${PLUGPROM} --addr ${d.grpcAddr} top --interval 300ms; echo "top exited $?"; sleep 60'`);
  const screen = () => run("capture-pane", "-p", "-t", "top");

  await waitFor("the table with abc", () => /^abc\s+RUNNING\s+\d+\s+[\d.]+%\s+[\d.]+ MiB\s+0/m.test(screen()));
  assert.match(screen(), /plugprom top · every 0\.3s · q to quit/);
  assert.match(screen(), /NAME\s+STATE\s+PID\s+CPU\s+RSS\s+RESTARTS\s+LAST SCRAPE/);

  // A plugin started now shows up on the next refresh.
  assert.equal((await d.cli(["start", "def"])).code, 0);
  await waitFor("def to appear", () => /^def\s+RUNNING/m.test(screen()));

  run("send-keys", "-t", "top", "q");
  await waitFor("top to exit 0", () => /top exited 0/.test(screen()));
  assert.doesNotMatch(screen(), /plugprom top ·/, "the alternate screen is gone: the terminal is restored");
});

test("without a terminal, top prints one snapshot and exits", async (t) => {
  const d = await startDaemon();
  t.after(() => d.close());
  assert.equal((await d.cli(["start", "abc"])).code, 0);
  const r = await d.cli(["top"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^NAME\s+STATE\s+PID\s+CPU/);
  assert.match(r.stdout, /^abc\s+RUNNING\s+\d+\s+-\s+[\d.]+ MiB/m, "no CPU % from a single sample");
  assert.doesNotMatch(r.stdout, /\x1b/, "no escape codes in a pipe");
});
