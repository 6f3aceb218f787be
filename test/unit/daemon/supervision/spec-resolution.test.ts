import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { StartRequestSchema } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { parseCatalog } from "../../../../src/daemon/supervision/catalog.js";
import { instanceDefaults, resolveSpec } from "../../../../src/daemon/supervision/spec-resolution.js";

const catalog = parseCatalog(
  {
    plugins: {
      bare: { command: "/opt/bare" },
      tuned: { command: "/opt/tuned", args: ["-v"], restart: "always", metricsTransport: "tcp", autoMtls: false, handshake: { magicCookieKey: "K", magicCookieValue: "V" } },
    },
  },
  "/etc/plugprom",
);
const resolve = (req: Parameters<typeof create<typeof StartRequestSchema>>[1]) =>
  resolveSpec(create(StartRequestSchema, req), { catalog, startTimeoutMs: 30_000 });

test("a command and a bare catalog entry get the same documented defaults", () => {
  const fromCommand = resolve({ name: "a", command: ["/opt/x"] });
  const fromEntry = resolve({ name: "b", plugin: "bare" });
  for (const [key, value] of Object.entries(instanceDefaults())) {
    assert.deepEqual(fromCommand[key as keyof typeof fromCommand], value, `command: ${key}`);
    assert.deepEqual(fromEntry[key as keyof typeof fromEntry], value, `catalog entry: ${key}`);
  }
  assert.equal(fromCommand.startTimeoutMs, 30_000);
  assert.equal(fromEntry.workingDir, "/etc/plugprom");
});

test("what a catalog entry sets wins over the defaults; the request's arguments are appended", () => {
  const spec = resolve({ name: "t", plugin: "tuned", command: ["--extra"] });
  assert.equal(spec.restartPolicy, "always");
  assert.equal(spec.metricsTransport, "tcp");
  assert.equal(spec.autoMtls, false);
  assert.equal(spec.magicCookieKey, "K");
  assert.deepEqual(spec.args, ["-v", "--extra"]);
  assert.equal(spec.source, "tuned");
});

test("the bundled greeter runs with this Node.js and is greeted once it runs", () => {
  const spec = resolve({ name: "g" });
  assert.equal(spec.command, process.execPath);
  assert.equal(spec.greetAfterStart, true);
});

test("an unknown catalog entry is not found, naming the known ones", () => {
  assert.throws(() => resolve({ name: "x", plugin: "nope" }), /no plugin "nope" in the catalog \(known: bare, tuned\)/);
});
