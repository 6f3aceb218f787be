// Sizes as flags and plugins files write them, and as messages show them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatSize, parseSize } from "../../src/shared/size.js";

test("sizes: bytes, or binary and decimal units in any case, spaces allowed before the unit", () => {
  const cases: Array<[string, number]> = [
    ["0", 0],
    ["1000000", 1e6],
    ["96MiB", 96 * 2 ** 20],
    ["96 mib", 96 * 2 ** 20],
    ["512KiB", 512 * 1024],
    ["2GiB", 2 * 2 ** 30],
    ["1GB", 1e9],
    ["5MB", 5e6],
    ["7B", 7],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
});

test("sizes: fractions, signs, unknown units and words are refused with what a size looks like", () => {
  for (const bad of ["", "1.5MiB", "-1KiB", "lots", "10 TiB", "10M", "99999999999999999999"]) {
    assert.throws(() => parseSize(bad), { message: `invalid size ${JSON.stringify(bad)}: use a number with a unit, e.g. 64MiB, 512KiB, 1GB` }, bad);
  }
});

test("sizes shown in binary units with at most one decimal", () => {
  assert.equal(formatSize(150 * 2 ** 20), "150 MiB");
  assert.equal(formatSize(96 * 2 ** 20), "96 MiB");
  assert.equal(formatSize(1.5 * 2 ** 30), "1.5 GiB");
  assert.equal(formatSize(2.25 * 2 ** 20), "2.3 MiB");
  assert.equal(formatSize(15.6 * 2 ** 20), "16 MiB");
  assert.equal(formatSize(2048), "2 KiB");
  assert.equal(formatSize(100), "100 B");
});
