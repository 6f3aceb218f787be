import { test } from "node:test";
import assert from "node:assert/strict";
import { DaemonError, type ErrorReason } from "../../../../src/daemon/errors.js";
import { errorAnswer } from "../../../../src/daemon/http/response.js";

test("daemon errors become HTTP statuses by their reason, their message the body", () => {
  const table: [ErrorReason, number][] = [
    ["invalid", 400],
    ["not-found", 404],
    ["exists", 409],
    ["conflict", 503],
    ["start-failed", 502],
    ["timeout", 504],
    ["unreachable", 502],
    ["canceled", 499],
    ["corrupt", 500],
  ];
  for (const [reason, status] of table) assert.deepEqual(errorAnswer(new DaemonError(reason, "why")), { status, body: "why\n" }, reason);
});

test("any other error is an internal error that says nothing of its insides", () => {
  assert.deepEqual(errorAnswer(new Error("secret path /etc/x")), { status: 500, body: "internal error\n" });
});
