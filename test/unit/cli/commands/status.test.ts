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
  });
});
