import { test } from "node:test";
import assert from "node:assert/strict";
import { FD_RESERVE, FDS_PER_PLUGIN, openFdCount, readFdLimit, startRefusal } from "../../../src/daemon/fd-limit.js";

test("the limits are read from /proc's table, unlimited included", () => {
  const table = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
  assert.deepEqual(readFdLimit(table), { soft: 1024, hard: 524288 });
  assert.equal(readFdLimit("Max open files            unlimited            unlimited            files\n")?.soft, Number.MAX_SAFE_INTEGER);
  assert.equal(readFdLimit("nothing here"), undefined);
  assert.ok(readFdLimit()!.soft > 0, "this process's own");
  assert.ok(openFdCount() >= 3);
});

test("a start is refused when the plugins already running, once scraped, and the new one would pass the limit", () => {
  const limit = { soft: 128, hard: 128 };
  const baseline = 20;
  const fits = Math.floor((128 - FD_RESERVE - baseline) / FDS_PER_PLUGIN);
  assert.equal(startRefusal({ limit, open: baseline + 3 * (fits - 1), baseline, plugins: fits - 1 }), undefined, "the last that fits");
  const refusal = startRefusal({ limit, open: baseline + 3 * fits, baseline, plugins: fits });
  assert.match(refusal ?? "", new RegExp(`open files limit is 128 \\(ulimit -n\\), enough for about ${fits} plugins`));
  // What is open counts too, when it is more than the estimate (many clients, say).
  assert.ok(startRefusal({ limit, open: 120, baseline, plugins: 0 }));
  assert.equal(startRefusal({ limit: undefined, open: 10_000, baseline, plugins: 10_000 }), undefined, "no /proc: no guess");
});
