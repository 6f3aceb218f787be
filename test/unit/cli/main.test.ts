// How the CLI fails (main.ts): one line on stderr and a documented exit code, whether the
// problem is the command line or the daemon's answer; --debug adds the stack.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { OutputClosedError } from "../../../src/cli/errors.js";
import { oneLine, runCli } from "./fakes.js";

test("errors the daemon returns become one line and their exit code", async () => {
  const cases: Array<[Code, string, number]> = [
    [Code.NotFound, 'plugin "abc" not found', 4],
    [Code.AlreadyExists, 'plugin "abc" already exists', 5],
    [Code.FailedPrecondition, 'plugin "abc" is stopping', 5],
    [Code.InvalidArgument, "bad label", 2],
    [Code.Aborted, "plugin exited before its handshake", 1],
    [Code.Internal, "boom", 1],
  ];
  for (const [code, message, exit] of cases) {
    const r = await runCli({ get: () => Promise.reject(new ConnectError(message, code)) }, ["get", "abc"]);
    assert.equal(r.code, exit, Code[code]);
    assert.equal(oneLine(r.stderr), `plugprom: ${message}`);
    assert.equal(r.stdout, "");
  }
});

test("a stack trace only with --debug", async () => {
  const fail = { get: () => Promise.reject(new ConnectError('plugin "abc" not found', Code.NotFound)) };
  const plain = await runCli(fail, ["get", "abc"]);
  assert.doesNotMatch(plain.stderr, /\n\s+at /);
  const debug = await runCli(fail, ["--debug", "get", "abc"]);
  assert.equal(debug.code, 4);
  assert.match(debug.stderr, /^plugprom: plugin "abc" not found\n[\s\S]*\n\s+at /);
});

test("--debug after -- belongs to the plugin's command line, not to the CLI", async () => {
  const r = await runCli({ start: () => Promise.reject(new ConnectError("no", Code.Aborted)) }, ["start", "a", "--", "./p", "--debug"]);
  assert.equal(r.code, 1);
  assert.equal(oneLine(r.stderr), "plugprom: no");
  assert.deepEqual(r.calls[0][1].command, ["/home/me/project/p", "--debug"]);
});

const usage: Array<[string, string[], RegExp]> = [
  ["an unknown option", ["list", "--frobnicate"], /^plugprom: unknown option '--frobnicate' \(see "plugprom list --help"\)$/],
  ["a missing argument", ["get"], /^plugprom: missing required argument 'name' \(see "plugprom get --help"\)$/],
  ["an unknown command", ["frobnicate"], /^plugprom: unknown command 'frobnicate'/],
  ["an invalid instance name", ["start", "Bad_Name"], /^plugprom: invalid instance name "Bad_Name"/],
  ["the reserved label plugin", ["start", "a", "--label", "plugin=x"], /"plugin" is set by plugprom/],
  ["a malformed label", ["start", "a", "--label", "team"], /^plugprom: --label "team": expected KEY=VALUE$/],
  ["a malformed env entry", ["start", "a", "--env", "1X=2"], /invalid env name "1X"/],
  ["a bad --timeout", ["--timeout", "soon", "list"], /^plugprom: --timeout: invalid duration "soon"/],
  ["a bare number as a duration", ["stop", "a", "--grace", "5"], /^plugprom: --grace: invalid duration "5"/],
  ["a malformed --addr", ["--addr", "nowhere", "list"], /^plugprom: --addr: address "nowhere": expected host:port or unix:\/path$/],
  ["a relative unix socket path", ["--addr", "unix:run/p.sock", "list"], /unix socket path must be absolute/],
  ["a bad -n for logs", ["logs", "a", "-n", "lots"], /^plugprom: -n "lots": expected a number of lines$/],
];
for (const [what, argv, message] of usage) {
  test(`${what} exits 2 with one line, before any call to the daemon`, async () => {
    const r = await runCli({}, argv);
    assert.equal(r.code, 2);
    assert.match(oneLine(r.stderr), message);
    assert.deepEqual(r.calls, []);
  });
}

test("help and --version exit 0 on stdout", async () => {
  const help = await runCli({}, ["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: plugprom/);
  const version = await runCli({}, ["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});

test("a closed stdout (plugprom scrape x | head) ends the command quietly", async () => {
  const r = await runCli(
    {
      scrape: async function* () {
        yield { contentType: "text/plain", chunk: Buffer.from("a 1\n") };
        yield { contentType: "", chunk: Buffer.from("b 2\n") };
      },
    },
    ["scrape", "abc"],
    { onWrite: () => Promise.reject(new OutputClosedError(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }))) },
  );
  assert.equal(r.code, 0);
  assert.equal(r.stderr, "");
});
