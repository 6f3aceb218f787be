import { test } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { EventLoopDelay, resolutionMs } from "../../../src/daemon/event-loop.js";

function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is exported`);
  return Number(line.split(" ")[1]);
}

/** Lets the loop idle so the monitor samples it: it can only sample a loop that turns. */
async function samplesTaken(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

test("a stall shows in the delay histogram's upper buckets and in the max, and the max resets at each scrape", async (t) => {
  const eld = new EventLoopDelay(1);
  t.after(() => eld.stop());
  const registry = new Registry();
  eld.register(registry);
  await samplesTaken(50);
  const started = Date.now();
  while (Date.now() - started < 60); // a 60 ms synchronous stall
  await samplesTaken(20);
  const first = await registry.metrics();
  const count = value(first, "plugprom_event_loop_delay_seconds_count");
  assert.ok(count >= 20, `${count} samples`);
  assert.ok(value(first, 'plugprom_event_loop_delay_seconds_bucket{le="0.025"}') < count, "the stall is above 25 ms");
  assert.equal(value(first, 'plugprom_event_loop_delay_seconds_bucket{le="+Inf"}'), count);
  assert.ok(value(first, "plugprom_event_loop_delay_seconds_sum") >= 0.05);
  const max = value(first, "plugprom_event_loop_delay_max_seconds");
  assert.ok(max >= 0.055 && max < 1, `max ${max}`);

  await samplesTaken(30);
  const second = await registry.metrics();
  assert.ok(value(second, "plugprom_event_loop_delay_max_seconds") < 0.05, "no stall since the last scrape");
  assert.ok(value(second, "plugprom_event_loop_delay_seconds_count") > count, "the histogram is cumulative");
});

test("the sampling interval comes from PLUGPROM_EVENT_LOOP_RESOLUTION_MS when it is sane", () => {
  assert.equal(resolutionMs({}), 10);
  assert.equal(resolutionMs({ PLUGPROM_EVENT_LOOP_RESOLUTION_MS: "1" }), 1);
  for (const bad of ["0", "-3", "2.5", "x", "5000"]) assert.equal(resolutionMs({ PLUGPROM_EVENT_LOOP_RESOLUTION_MS: bad }), 10, bad);
});
