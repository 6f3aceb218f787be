// Reading instances.json: which damaged files are moved aside (the daemon starts with no
// instances) and which are refused and left exactly as they are.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { INSTANCES_FILE, loadDesiredState, MAX_INSTANCES_FILE_BYTES, StateFileError } from "../../../../src/daemon/state/instances-file.js";
import { instancesProblem } from "../../../../src/daemon/state/instances-shape.js";
import { tempDir } from "../../../helpers/temp.js";

const spec = {
  name: "web",
  source: "/bin/web",
  command: "/bin/web",
  args: [],
  env: {},
  labels: { team: "a" },
  magicCookieKey: "K",
  magicCookieValue: "V",
  protocolVersions: [1],
  metricsTransport: "unix",
  workingDir: "/",
  startTimeoutMs: 30_000,
  autoMtls: false,
  greetAfterStart: false,
  sha256: "",
  restartPolicy: "always",
};
const valid = { version: 1, instances: [{ spec, restarts: 2, process: { pid: 10, startTicks: "5" } }] };
const NOW = new Date("2026-01-02T03:04:05.678Z");

test("a missing file is no instances, and a valid one is read as it is, with fields this version does not know or a byte-order mark", async (t) => {
  const dir = tempDir(t);
  assert.deepEqual(await loadDesiredState(dir), { instances: [] });
  const withFuture = { ...valid, instances: [{ ...valid.instances[0], spec: { ...spec, aFieldOfANewerPlugprom: "x" } }] };
  writeFileSync(join(dir, INSTANCES_FILE), JSON.stringify(withFuture));
  assert.deepEqual(await loadDesiredState(dir), { instances: withFuture.instances });
  writeFileSync(join(dir, INSTANCES_FILE), `\uFEFF${JSON.stringify(valid)}`);
  assert.deepEqual(await loadDesiredState(dir), { instances: valid.instances }, "an editor's byte-order mark is no damage");
});

test("an empty, truncated or garbage (not text) file is moved aside as instances.json.corrupt-<time>, never over an earlier one", async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ["empty", "", /^is empty$/],
    ["blank", " \n", /^is empty$/],
    ["truncated", JSON.stringify(valid, null, 2).slice(0, 40), /^is truncated \(it ends mid-JSON\)$/],
    ["truncated in a string", JSON.stringify(valid).slice(0, 30), /^is truncated/],
    ["garbage", "\x00\xff\x13 binary", /^is not text \(garbage bytes\)$/],
    ["zeroes, as a disk fault leaves", "\x00".repeat(4096), /^is not text/],
  ];
  for (const [what, content, reason] of cases) {
    const dir = tempDir(t);
    const file = join(dir, INSTANCES_FILE);
    writeFileSync(join(dir, `${INSTANCES_FILE}.corrupt-20260102T030405Z`), "an earlier one");
    writeFileSync(file, content);
    const loaded = await loadDesiredState(dir, NOW);
    assert.deepEqual(loaded.instances, [], what);
    assert.match(loaded.setAside!.reason, reason, what);
    assert.equal(loaded.setAside!.path, `${file}.corrupt-20260102T030405Z-2`, what);
    assert.equal(readFileSync(loaded.setAside!.path, "utf8"), content, `${what}: kept byte for byte`);
    assert.equal(readFileSync(`${file}.corrupt-20260102T030405Z`, "utf8"), "an earlier one", `${what}: the earlier copy is untouched`);
    assert.ok(!readdirSync(dir).includes(INSTANCES_FILE), `${what}: nothing is left for a writer to overwrite`);
  }
});

test("a file that cannot be read, edited into invalid JSON, of another version, or of the wrong shape is refused, named, and left as it is", async (t) => {
  const cases: Array<[string, (file: string) => void, RegExp]> = [
    ["a directory", (f) => mkdirSync(f), /cannot be read: it is a directory/],
    ["a FIFO (reading it would block forever)", (f) => execFileSync("mkfifo", [f]), /cannot be read: it is not a regular file/],
    ["a dangling symlink", (f) => symlinkSync("/nonexistent/instances.json", f), /is a symbolic link to \/nonexistent\/instances\.json, which does not exist/],
    ["a symlink loop", (f) => symlinkSync(f, f), /cannot be read: ELOOP/],
    ["larger than any real state", (f) => (writeFileSync(f, ""), truncateSync(f, MAX_INSTANCES_FILE_BYTES + 1)), /larger than 64 MiB/],
    ["a newer version", (f) => writeFileSync(f, JSON.stringify({ ...valid, version: 2 })), /format version 2, newer than this plugprom reads \(1\).*never downgraded/],
    ["an older version", (f) => writeFileSync(f, JSON.stringify({ ...valid, version: 0 })), /format version 0, which this plugprom does not read/],
    ["a hand edit's trailing comma", (f) => writeFileSync(f, '{\n  "version": 1,\n  "instances": [],\n}\n'), /is not valid JSON: Expected double-quoted property name at line 4, column 1;/],
    ["text that is not JSON", (f) => writeFileSync(f, "instances: []\n"), /is not valid JSON: Unexpected token 'i'; the daemon did not start/],
    ["no version", (f) => writeFileSync(f, JSON.stringify({ instances: [] })), /no format "version"/],
    ["JSON that is not an object", (f) => writeFileSync(f, "[1, 2]"), /no format "version"/],
    ["instances not an array", (f) => writeFileSync(f, JSON.stringify({ version: 1, instances: { web: spec } })), /"instances" must be an array/],
    ["an instance without a spec", (f) => writeFileSync(f, JSON.stringify({ version: 1, instances: [{ restarts: 0 }] })), /instances\[0\]\.spec is missing/],
  ];
  for (const [what, make, message] of cases) {
    const dir = tempDir(t);
    const file = join(dir, INSTANCES_FILE);
    make(file);
    const before = readdirSync(dir);
    await assert.rejects(
      loadDesiredState(dir, NOW),
      (err: unknown) => err instanceof StateFileError && err.reason === "corrupt" && message.test(err.message) && !err.message.includes("\n"),
      what,
    );
    assert.deepEqual(readdirSync(dir), before, `${what}: nothing moved or added`);
  }
});

test("a spec of the wrong types is named by its first wrong field", () => {
  const withSpec = (patch: Record<string, unknown>, extra: Record<string, unknown> = {}) => [{ spec: { ...spec, ...patch }, restarts: 0, ...extra }];
  const table: Array<[unknown, string | undefined]> = [
    [withSpec({}), undefined],
    [withSpec({ args: "serve --port 1" }), 'instances[0] ("web").spec.args must be an array of strings'],
    [withSpec({ command: "" }), 'instances[0] ("web").spec.command must be a non-empty string'],
    [withSpec({ restartPolicy: "sometimes" }), 'instances[0] ("web").spec.restartPolicy must be one of "always", "on-failure", "never"'],
    [withSpec({ labels: { team: 1 } }), 'instances[0] ("web").spec.labels must be an object of strings'],
    [withSpec({ startTimeoutMs: -1 }), 'instances[0] ("web").spec.startTimeoutMs must be a number > 0'],
    [withSpec({ name: 7 }), "instances[0].spec.name must be a non-empty string"],
    [withSpec({ name: "../../etc/x" }), `instances[0] ("../../etc/x").spec.name must be a valid instance name (a-z, 0-9, '_', '.', '-')`],
    [withSpec({ labels: { __name__: "x" } }), 'instances[0] ("web").spec.labels must be valid labels (invalid label name "__name__": names starting with "__" are reserved by Prometheus)'],
    [withSpec({ scrapeIntervalMs: "15s" }), 'instances[0] ("web").spec.scrapeIntervalMs must be a number > 0'],
    [withSpec({ livenessFailures: 0, healthIntervalMs: 500, maxMemoryBytes: 0, maxPids: 64 }), undefined],
    [withSpec({ livenessFailures: "3" }), 'instances[0] ("web").spec.livenessFailures must be an integer >= 0'],
    [withSpec({ maxMemoryBytes: -1 }), 'instances[0] ("web").spec.maxMemoryBytes must be an integer >= 0'],
    [withSpec({}, { restarts: -1 }), 'instances[0] ("web").restarts must be an integer >= 0'],
    [withSpec({}, { reattach: { pid: 1 } }), 'instances[0] ("web").reattach.startTicks is missing'],
    [[...withSpec({}), ...withSpec({})], 'instances[1] ("web"): a second instance named "web"'],
    [["web"], "instances[0] must be an object"],
  ];
  for (const [instances, problem] of table) assert.equal(instancesProblem(instances), problem, JSON.stringify(instances).slice(0, 120));
});
