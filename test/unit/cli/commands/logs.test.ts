// plugprom logs <name> [-n N] [-f]: flags -> options, and options -> the Logs call and its lines.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { LogLineSchema } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { newLogsCommand, runLogs, type LogsOptions } from "../../../../src/cli/commands/logs.js";
import { parseCommand, testSeams } from "../fakes.js";

test("logs takes -n/--lines as a count (none: the daemon's 50) and -f/--follow", async () => {
  const parse = async (args: string[]) => (await parseCommand<LogsOptions>(newLogsCommand, ["logs", "abc", ...args])).options;
  assert.deepEqual(await parse([]), { name: "abc", lines: 0, follow: false, json: false });
  assert.deepEqual(await parse(["-n", "5", "-f"]), { name: "abc", lines: 5, follow: true, json: false });
  assert.deepEqual(await parse(["--lines", "7", "--follow", "--json"]), { name: "abc", lines: 7, follow: true, json: true });
});

test("a -n that is not a count exits 2 with one line", async () => {
  const r = await parseCommand<LogsOptions>(newLogsCommand, ["logs", "a", "-n", "lots"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'plugprom: -n "lots": expected a number of lines\n');
  assert.equal(r.options, undefined);
});

const hello = async function* () {
  yield { line: create(LogLineSchema, { time: timestampFromDate(new Date("2026-01-01T00:00:00Z")), stream: "stderr", text: "hello" }) };
};

test("logs asks for the lines and prints one line per log line", async () => {
  const { seams, rec } = testSeams({ logs: hello }, { call: { timeoutMs: 5_000 } });
  await runLogs({ name: "abc", lines: 5, follow: false, json: false }, seams);
  assert.deepEqual(rec.calls[0], ["logs", { name: "abc", lines: 5, follow: false }, { timeoutMs: 5_000 }]);
  assert.equal(rec.stdout, "2026-01-01T00:00:00.000Z stderr hello\n");
});

test("logs --json prints one object per line", async () => {
  const { seams, rec } = testSeams({ logs: hello });
  await runLogs({ name: "abc", lines: 0, follow: false, json: true }, seams);
  assert.deepEqual(JSON.parse(rec.stdout), { time: "2026-01-01T00:00:00.000Z", stream: "stderr", text: "hello" });
});

test("a followed log has no deadline: it has no end", async () => {
  const { seams, rec } = testSeams({ logs: hello }, { call: { timeoutMs: 5_000 } });
  await runLogs({ name: "abc", lines: 0, follow: true, json: false }, seams);
  assert.equal(rec.calls[0][2].timeoutMs, undefined);
});
