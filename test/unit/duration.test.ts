import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, formatPromDuration, parseDuration } from "../../src/shared/duration.js";


const valid: Array<[string, number]> = [
  ["500ms", 500],
  ["5s", 5_000],
  ["1.5s", 1_500],
  ["2m", 120_000],
  ["1m30s", 90_000],
  ["1h", 3_600_000],
  ["0", 0],
];
for (const [text, ms] of valid) test(`"${text}" is ${ms} ms`, () => assert.equal(parseDuration(text), ms));

for (const text of ["", "5", "5x", "s", "-1s", "5s junk", "1m 30s"]) {
  test(`"${text}" is refused with an example of the format`, () => {
    assert.throws(() => parseDuration(text), /duration/);
  });
}

test("Prometheus durations are exact and in its syntax", () => {
  assert.equal(formatPromDuration(15_000), "15s");
  assert.equal(formatPromDuration(90_500), "1m30s500ms");
  assert.equal(formatPromDuration(3_600_000), "1h");
  assert.equal(formatPromDuration(250), "250ms");
});

test("durations are shown the way people read uptimes", () => {
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(42_000), "42s");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(3 * 3_600_000 + 60_000), "3h1m");
});
