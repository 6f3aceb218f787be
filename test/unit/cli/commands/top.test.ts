// plugprom top [--interval]: flags -> options, and options -> a snapshot when not on a terminal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { PluginInfoSchema, PluginState } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { newTopCommand, renderTop, runTop, type TopOptions } from "../../../../src/cli/commands/top.js";
import { parseCommand, recorder, testIO, testSeams } from "../fakes.js";

test("top refreshes every second unless --interval says otherwise", async () => {
  assert.deepEqual((await parseCommand<TopOptions>(newTopCommand, ["top"])).options, { intervalMs: 1_000 });
  assert.deepEqual((await parseCommand<TopOptions>(newTopCommand, ["top", "--interval", "250ms"])).options, { intervalMs: 250 });
  const bad = await parseCommand<TopOptions>(newTopCommand, ["top", "--interval", "x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^plugprom: --interval: invalid duration "x"/);
});

const busy = create(PluginInfoSchema, { name: "abc", state: PluginState.RUNNING, pid: 7, cpuSeconds: 3, rssBytes: 3n * 2n ** 20n, restarts: 1, lastScrapeSeconds: 0.0025 });

test("off a terminal, top prints one snapshot and returns", async () => {
  const { seams, rec } = testSeams({ list: () => ({ plugins: [busy] }) });
  await runTop({ intervalMs: 1_000 }, seams);
  assert.equal(rec.calls.length, 1);
  assert.equal(
    rec.stdout,
    "NAME  STATE    PID  CPU  RSS      RESTARTS  LAST SCRAPE\n" + "abc   RUNNING  7    -    3.0 MiB  1         2.5 ms\n",
  );
});

test("CPU is the share of one core since the previous sample", () => {
  const frame = renderTop([busy], new Map([["abc", { cpu: 2.5, at: 10_000 }]]), 11_000, testIO(recorder()));
  assert.match(frame, /^abc +RUNNING +7 +50\.0% /m);
});
