import { test } from "node:test";
import assert from "node:assert/strict";
import { placeholdersIn, substituteArgs } from "../../../../src/daemon/supervision/template.js";

const tcp = { kind: "tcp", host: "127.0.0.1", port: 41234 } as const;
const unix = { kind: "unix", path: "/state/sockets/abc.sock" } as const;

const cases: Array<[string, string[], typeof tcp | typeof unix, string[]]> = [
  ["port for a -port flag", ["-port", "{{metrics_port}}"], tcp, ["-port", "41234"]],
  ["addr inside a larger argument", ["--listen=http://{{metrics_addr}}/"], tcp, ["--listen=http://127.0.0.1:41234/"]],
  ["addr of a unix endpoint", ["{{metrics_addr}}"], unix, ["unix:/state/sockets/abc.sock"]],
  ["socket path", ["--sock", "{{ metrics_socket }}"], unix, ["--sock", "/state/sockets/abc.sock"]],
  ["arguments without placeholders untouched", ["a", "{b}", "{{"], tcp, ["a", "{b}", "{{"]],
];
for (const [what, args, endpoint, want] of cases) {
  test(`substitutes ${what}`, () => assert.deepEqual(substituteArgs(args, endpoint), want));
}

test("{{metrics_port}} with a unix endpoint is an error that names the flag to use", () => {
  assert.throws(() => substituteArgs(["{{metrics_port}}"], unix), /--metrics-transport tcp/);
});

test("{{metrics_socket}} with a tcp endpoint is an error", () => {
  assert.throws(() => substituteArgs(["{{metrics_socket}}"], tcp), /--metrics-transport unix/);
});

test("an unknown placeholder is an error naming the argument", () => {
  assert.throws(() => placeholdersIn(["ok", "{{metrics_host}}"]), /argument 1: unknown placeholder \{\{metrics_host\}\}/);
});

test("placeholdersIn reports what is used, so the daemon can pick the transport", () => {
  assert.deepEqual([...placeholdersIn(["-p", "{{metrics_port}}", "{{metrics_addr}}"])].sort(), ["metrics_addr", "metrics_port"]);
});

test("a scrape timeout longer than the interval is refused: Prometheus would drop the target", async () => {
  const { checkScrapeSettings } = await import("../../../../src/daemon/supervision/spec-resolution.js");
  assert.match(checkScrapeSettings(1_000, 2_000) ?? "", /must not exceed the scrape interval/);
  assert.equal(checkScrapeSettings(2_000, 1_000), undefined);
  assert.equal(checkScrapeSettings(undefined, 5_000), undefined);
  assert.match(checkScrapeSettings(0, undefined) ?? "", /between 1ms and 24h/);
});
