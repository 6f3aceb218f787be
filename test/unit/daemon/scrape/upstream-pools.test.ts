import { test } from "node:test";
import assert from "node:assert/strict";
import { UpstreamPools } from "../../../../src/daemon/scrape/upstream.js";

test("one pool per endpoint, reused while scraped, closed after a minute or two unused", async (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const pools = new UpstreamPools(4);
  const a = pools.for({ kind: "unix", path: "/run/a.sock" });
  const b = pools.for({ kind: "tcp", host: "::1", port: 9100 });
  assert.equal(pools.for({ kind: "unix", path: "/run/a.sock" }), a, "the same endpoint, the same pool");
  assert.notEqual(a, b);
  t.mock.timers.tick(60_000);
  pools.for({ kind: "unix", path: "/run/a.sock" }); // a is scraped again, b is not
  t.mock.timers.tick(60_000);
  assert.equal(pools.for({ kind: "unix", path: "/run/a.sock" }), a, "a scraped pool stays");
  assert.ok(b.closed, "an unused one is closed");
  assert.notEqual(pools.for({ kind: "tcp", host: "::1", port: 9100 }), b, "and made anew when needed");
});
