import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { ExitCode, exitCodeFor } from "../../../../src/shared/errors.js";
import { DaemonError, type ErrorReason } from "../../../../src/daemon/errors.js";
import { mapDaemonErrors, toConnectError } from "../../../../src/daemon/control/errors.js";

test("each reason reaches the CLI as the exit code the README documents", () => {
  const table: [ErrorReason, Code, ExitCode][] = [
    ["invalid", Code.InvalidArgument, ExitCode.USAGE],
    ["not-found", Code.NotFound, ExitCode.NOT_FOUND],
    ["exists", Code.AlreadyExists, ExitCode.CONFLICT],
    ["conflict", Code.FailedPrecondition, ExitCode.CONFLICT],
    ["start-failed", Code.Aborted, ExitCode.FAILED],
    ["timeout", Code.DeadlineExceeded, ExitCode.FAILED],
    ["unreachable", Code.Unavailable, ExitCode.FAILED],
    ["canceled", Code.Canceled, ExitCode.FAILED],
    ["corrupt", Code.DataLoss, ExitCode.STATE],
  ];
  for (const [reason, code, exit] of table) {
    const mapped = toConnectError(new DaemonError(reason, "why")) as ConnectError;
    assert.equal(mapped.code, code, reason);
    assert.equal(mapped.rawMessage, "why");
    assert.equal(exitCodeFor(mapped.code), exit, reason);
  }
});

test("the mapped error keeps the daemon error, and the daemon error its own cause", () => {
  const root = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const err = new DaemonError("unreachable", "plugin metrics endpoint unreachable: ECONNREFUSED", { cause: root });
  const mapped = toConnectError(err) as ConnectError;
  assert.equal(mapped.cause, err);
  assert.equal(err.cause, root);
});

test("other errors pass the boundary as they are", () => {
  const token = new ConnectError("missing or wrong control token", Code.Unauthenticated);
  assert.equal(toConnectError(token), token);
  const bug = new TypeError("x is undefined");
  assert.equal(toConnectError(bug), bug);
});

function request(stream: boolean) {
  return { stream, service: {}, method: {}, requestMethod: "POST", url: "", signal: new AbortController().signal, header: new Headers(), contextValues: createContextValues(), message: {} } as never;
}

test("the interceptor maps what a unary handler throws", async () => {
  const handler = mapDaemonErrors(async () => {
    throw new DaemonError("not-found", 'plugin "x" not found');
  });
  await assert.rejects(handler(request(false)), (e: unknown) => e instanceof ConnectError && e.code === Code.NotFound && e.rawMessage === 'plugin "x" not found');
});

test("the interceptor maps what a streaming handler throws midway, after the messages before it", async () => {
  const handler = mapDaemonErrors(async () => ({
    stream: true,
    message: (async function* () {
      yield "first";
      throw new DaemonError("unreachable", "metrics stream broke");
    })(),
  }) as never);
  const res = (await handler(request(true))) as unknown as { message: AsyncIterable<string> };
  const seen: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const m of res.message) seen.push(m);
    })(),
    (e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable,
  );
  assert.deepEqual(seen, ["first"]);
});
