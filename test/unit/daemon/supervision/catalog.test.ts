import { test } from "node:test";
import assert from "node:assert/strict";
import { CatalogError, parseCatalog } from "../../../../src/daemon/supervision/catalog.js";

test("a catalog entry is read with relative commands resolved against the file's directory", () => {
  const catalog = parseCatalog(
    {
      plugins: {
        greeter: {
          command: "./bin/greeter",
          args: ["-port", "{{metrics_port}}"],
          env: { LEVEL: "debug" },
          labels: { team: "core" },
          handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [2, 3] },
          metricsTransport: "tcp",
          autoMtls: false,
        },
        bare: { command: "my-plugin" },
      },
    },
    "/etc/plugprom",
  );
  const g = catalog.get("greeter")!;
  assert.equal(g.command, "/etc/plugprom/bin/greeter");
  assert.deepEqual(g.args, ["-port", "{{metrics_port}}"]);
  assert.equal(g.magicCookieKey, "BASIC_PLUGIN");
  assert.deepEqual(g.protocolVersions, [2, 3]);
  assert.equal(g.metricsTransport, "tcp");
  assert.equal(g.autoMtls, false);
  assert.equal(g.workingDir, "/etc/plugprom");
  assert.equal(catalog.get("bare")!.command, "my-plugin", "bare names are looked up in PATH at start");
});

const invalid: Array<[string, unknown, RegExp]> = [
  ["a top level that is not an object", [], /must be an object/],
  ["an unknown top-level field", { plugin: {} }, /plugin: unknown field/],
  ["an entry without a command", { plugins: { a: {} } }, /plugins\.a\.command: must be a non-empty string/],
  ["a typo in a field name", { plugins: { a: { command: "x", lables: {} } } }, /plugins\.a\.lables: unknown field/],
  ["args that are not strings", { plugins: { a: { command: "x", args: [1] } } }, /plugins\.a\.args: must be an array of strings/],
  ["a reserved label", { plugins: { a: { command: "x", labels: { __x: "1" } } } }, /reserved by Prometheus/],
  ["the plugin label", { plugins: { a: { command: "x", labels: { plugin: "1" } } } }, /"plugin" is set by plugprom/],
  ["an invalid entry name", { plugins: { "A B": { command: "x" } } }, /plugins\.A B: entry names/],
  ["a bad transport", { plugins: { a: { command: "x", metricsTransport: "udp" } } }, /metricsTransport: must be "unix" or "tcp"/],
  ["zero as a protocol version", { plugins: { a: { command: "x", handshake: { protocolVersions: [0] } } } }, /protocolVersions/],
];
for (const [what, doc, message] of invalid) {
  test(`a catalog with ${what} is rejected with the field named`, () => {
    assert.throws(() => parseCatalog(doc, "/etc"), (e: unknown) => e instanceof CatalogError && message.test(e.message));
  });
}

test("catalog scrape settings are durations", () => {
  const c = parseCatalog({ plugins: { a: { command: "x", scrapeInterval: "30s", scrapeTimeout: "10s" } } }, "/etc");
  assert.equal(c.get("a")!.scrapeIntervalMs, 30_000);
  assert.equal(c.get("a")!.scrapeTimeoutMs, 10_000);
  assert.throws(() => parseCatalog({ plugins: { a: { command: "x", scrapeInterval: 30 } } }, "/etc"), /plugins\.a\.scrapeInterval: must be a duration string/);
});
