// plugprom status: flags -> options, and options -> the daemon's facts as lines or one object.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { StatusResponseSchema } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { newStatusCommand, runStatus, type StatusOptions } from "../../../../src/cli/commands/status.js";
import { parseCommand, testSeams } from "../fakes.js";

const status = create(StatusResponseSchema, {
  version: "0.1.0",
  pid: 99,
  grpcAddr: "127.0.0.1:50051",
  httpAddr: "0.0.0.0:2112",
  advertiseAddr: "host:2112",
  stateDir: "/state",
  startedAt: timestampFromDate(new Date("2026-01-01T00:00:00Z")),
  plugins: { RUNNING: 2, CRASHED: 1 },
});

test("status takes --json", async () => {
  assert.deepEqual((await parseCommand<StatusOptions>(newStatusCommand, ["status"])).options, { json: false });
  assert.deepEqual((await parseCommand<StatusOptions>(newStatusCommand, ["status", "--json"])).options, { json: true });
});

test("status prints the daemon's facts as lines", async () => {
  const { seams, rec } = testSeams({ status: () => status });
  await runStatus({ json: false }, seams);
  assert.match(rec.stdout, /^version: +0\.1\.0$/m);
  assert.match(rec.stdout, /^plugins: +2 running, 1 crashed$/m);
});

test("status --json prints them as one object", async () => {
  const { seams, rec } = testSeams({ status: () => status });
  await runStatus({ json: true }, seams);
  assert.deepEqual(JSON.parse(rec.stdout), {
    version: "0.1.0",
    pid: 99,
    grpcAddr: "127.0.0.1:50051",
    httpAddr: "0.0.0.0:2112",
    advertiseAddr: "host:2112",
    stateDir: "/state",
    startedAt: "2026-01-01T00:00:00.000Z",
    plugins: { RUNNING: 2, CRASHED: 1 },
    applyFile: null,
    lastApply: null,
    instancesSetAside: null,
  });
});

test("status shows the --apply file and how the last apply went", async () => {
  const applied = create(StatusResponseSchema, {
    version: "0.1.0",
    applyFile: "/etc/plugprom/plugins.yaml",
    lastApply: { file: "/etc/plugprom/plugins.yaml", time: timestampFromDate(new Date("2026-01-01T00:00:05Z")), ok: false, error: "g2: exited before its handshake" },
  });
  const human = testSeams({ status: () => applied });
  await runStatus({ json: false }, human.seams);
  assert.match(human.rec.stdout, /^apply file: +\/etc\/plugprom\/plugins\.yaml$/m);
  assert.match(human.rec.stdout, /^last apply: +2026-01-01T00:00:05\.000Z \/etc\/plugprom\/plugins\.yaml: failed: g2: exited before its handshake$/m);
  const json = testSeams({ status: () => applied });
  await runStatus({ json: true }, json.seams);
  const j = JSON.parse(json.rec.stdout);
  assert.equal(j.applyFile, "/etc/plugprom/plugins.yaml");
  assert.deepEqual(j.lastApply, { file: "/etc/plugprom/plugins.yaml", time: "2026-01-01T00:00:05.000Z", ok: false, error: "g2: exited before its handshake" });
});

test("status says when instances.json could not be parsed and where it was kept", async () => {
  const aside = create(StatusResponseSchema, {
    version: "0.1.0",
    instancesSetAside: "/state/instances.json.corrupt-20260101T000000Z",
    instancesSetAsideReason: "is empty",
  });
  const human = testSeams({ status: () => aside });
  await runStatus({ json: false }, human.seams);
  assert.match(human.rec.stdout, /^state: +instances\.json is empty: started with no instances; kept as \/state\/instances\.json\.corrupt-20260101T000000Z$/m);
  const json = testSeams({ status: () => aside });
  await runStatus({ json: true }, json.seams);
  assert.deepEqual(JSON.parse(json.rec.stdout).instancesSetAside, { file: "/state/instances.json.corrupt-20260101T000000Z", reason: "is empty" });
});
