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
  ["args that are not strings", { plugins: { a: { command: "x", args: [1] } } }, /plugins\.a\.args\.0: must be a string/],
  ["args that are not a list", { plugins: { a: { command: "x", args: "-v" } } }, /plugins\.a\.args: must be an array of strings/],
  ["a reserved label", { plugins: { a: { command: "x", labels: { __x: "1" } } } }, /reserved by Prometheus/],
  ["the plugin label", { plugins: { a: { command: "x", labels: { plugin: "1" } } } }, /"plugin" is set by plugprom/],
  ["an invalid entry name", { plugins: { "A B": { command: "x" } } }, /plugins\.A B: entry names/],
  ["a bad transport", { plugins: { a: { command: "x", metricsTransport: "udp" } } }, /metricsTransport: must be "unix" or "tcp"/],
  ["liveness failures as a string", { plugins: { a: { command: "x", livenessFailures: "3" } } }, /plugins\.a\.livenessFailures: must be an integer from 0 \(never\) to 1000/],
  ["negative liveness failures", { plugins: { a: { command: "x", livenessFailures: -1 } } }, /plugins\.a\.livenessFailures: must be an integer/],
  ["a health interval of 0", { plugins: { a: { command: "x", healthInterval: "0s" } } }, /plugins\.a\.healthInterval: must be greater than 0/],
  ["a health interval over an hour", { plugins: { a: { command: "x", healthInterval: "2h" } } }, /plugins\.a\.healthInterval: must be between 100ms and 1h/],
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

test("a catalog entry's liveness rule: livenessFailures (0 = off) and healthInterval, a duration", () => {
  const c = parseCatalog({ plugins: { a: { command: "x", livenessFailures: 0, healthInterval: "500ms" }, b: { command: "y" } } }, "/etc");
  assert.equal(c.get("a")!.livenessFailures, 0);
  assert.equal(c.get("a")!.healthIntervalMs, 500);
  assert.equal(c.get("b")!.livenessFailures, undefined, "left out: the daemon's default");
});
