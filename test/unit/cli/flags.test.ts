// The flag parsers every command shares (flags.ts): what each accepts, and the one-line
// usage error (exit 2) that names the flag for what it refuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { CliError } from "../../../src/cli/errors.js";
import { address, byteSize, collect, duration, keyValues, oneOf, optionalDuration, positiveDuration, positiveInt, requestDuration } from "../../../src/cli/flags.js";

/** The usage error `f` throws, as main() would print it. */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    assert.equal(err.exitCode, 2);
    return err.message;
  }
  assert.fail("accepted");
}

test("durations: units as Go and Prometheus write them; a bare number is refused", () => {
  assert.equal(duration("--x", "1m30s"), 90_000);
  assert.equal(duration("--x", "500ms"), 500);
  assert.equal(duration("--x", "0"), 0);
  assert.match(refusal(() => duration("--grace", "5")), /^--grace: invalid duration "5": use a number with a unit/);
  assert.equal(optionalDuration("--x", undefined), undefined);
  assert.equal(optionalDuration("--x", "2s"), 2_000);
  assert.equal(positiveDuration("--x", "1ms"), 1);
  assert.equal(refusal(() => positiveDuration("--start-timeout", "0s")), "--start-timeout: must be greater than 0");
});

test("a request duration is unset when the flag was not given", () => {
  assert.equal(requestDuration(undefined), undefined);
  assert.equal(durationMs(requestDuration(1_500)!), 1_500);
});

test("KEY=VALUE pairs: the value may hold = or be empty; a later key wins", () => {
  assert.deepEqual(keyValues("--env", ["A=1=2", "B=", "A=3"]), { A: "3", B: "" });
  assert.equal(refusal(() => keyValues("--label", ["team"])), '--label "team": expected KEY=VALUE');
  assert.equal(refusal(() => keyValues("--label", ["=x"])), '--label "=x": expected KEY=VALUE');
});

test("a repeatable flag collects its values in order", () => {
  assert.deepEqual(collect("b", collect("a", [])), ["a", "b"]);
});

test("choices: one of the words, else a message listing them", () => {
  assert.equal(oneOf("--gzip", "never", ["auto", "always", "never"]), "never");
  assert.equal(refusal(() => oneOf("--gzip", "sometimes", ["auto", "always", "never"])), '--gzip "sometimes": expected auto, always or never');
  assert.equal(refusal(() => oneOf("--metrics-transport", "udp", ["unix", "tcp"])), '--metrics-transport "udp": expected unix or tcp');
  assert.equal(refusal(() => oneOf("--x", "Never", ["never"])), '--x "Never": expected never', "case matters");
});

test("positive integers: digits only, no leading zero, at most the bound", () => {
  assert.equal(positiveInt("--n", "8", 999_999), 8);
  assert.equal(positiveInt("--n", "999999", 999_999), 999_999);
  for (const bad of ["0", "-1", "08", "1e3", "1.5", " 1", "", "1000000"]) {
    assert.equal(refusal(() => positiveInt("--n", bad, 999_999)), `--n ${JSON.stringify(bad)}: expected a positive integer`, bad);
  }
});

test("sizes: bytes or binary and decimal units, at least 1 KiB", () => {
  assert.equal(byteSize("--s", "64MiB"), 64 * 2 ** 20);
  assert.equal(byteSize("--s", "512kib"), 512 * 1024);
  assert.equal(byteSize("--s", "1GB"), 1e9);
  assert.equal(byteSize("--s", "1024"), 1024);
  for (const bad of ["1", "1023B", "lots", "1.5MiB", "-1KiB"]) {
    assert.equal(refusal(() => byteSize("--max-scrape-bytes", bad)), `--max-scrape-bytes ${JSON.stringify(bad)}: expected a size of at least 1KiB, e.g. 64MiB`, bad);
  }
});

test("addresses are checked and kept as written", () => {
  for (const ok of ["127.0.0.1:50051", ":2112", "[::1]:9", "unix:/run/p.sock"]) assert.equal(address("--addr", ok), ok);
  assert.equal(refusal(() => address("--addr", "nowhere")), '--addr: address "nowhere": expected host:port or unix:/path');
  assert.equal(refusal(() => address("--addr", "unix:run/p.sock")), '--addr: address "unix:run/p.sock": unix socket path must be absolute');
});
