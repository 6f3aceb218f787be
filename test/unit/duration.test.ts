import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, formatPromDuration, parseDuration } from "../../src/shared/duration.js";

// A plain number is not a duration: "30" could mean seconds or milliseconds, so it is
// refused with an example; "0" is the one exception.
const valid: Array<[string, number]> = [
  ["500ms", 500],
  ["5s", 5_000],
  ["1.5s", 1_500],
  ["2m", 120_000],
  ["1m30s", 90_000],
  ["1h", 3_600_000],
  ["1h30m", 5_400_000],
  ["1m30s500ms", 90_500],
  ["1.5m", 90_000],
  ["0s", 0],
  ["0", 0],
  [" 5s ", 5_000],
];
for (const [text, ms] of valid) test(`"${text}" is ${ms} ms`, () => assert.equal(parseDuration(text), ms));

for (const text of ["", "5", "30", "5x", "5S", "s", "-1s", "5s junk", "1m 30s", "1e3s", ".5s"]) {
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
