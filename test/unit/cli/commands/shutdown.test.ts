// plugprom shutdown [--keep-plugins]: flags -> options, and options -> the Shutdown call and output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newShutdownCommand, runShutdown, type ShutdownOptions } from "../../../../src/cli/commands/shutdown.js";
import { parseCommand, testSeams } from "../fakes.js";

test("shutdown takes --keep-plugins and --json", async () => {
  assert.deepEqual((await parseCommand<ShutdownOptions>(newShutdownCommand, ["shutdown"])).options, { keepPlugins: false, json: false });
  assert.deepEqual((await parseCommand<ShutdownOptions>(newShutdownCommand, ["shutdown", "--keep-plugins", "--json"])).options, { keepPlugins: true, json: true });
});

test("shutdown asks the daemon to stop, saying whether plugins are left running", async () => {
  for (const keepPlugins of [false, true]) {
    const { seams, rec } = testSeams({ shutdown: () => ({}) });
    await runShutdown({ keepPlugins, json: false }, seams);
    assert.deepEqual(rec.calls[0][1], { keepPlugins });
    assert.equal(rec.stdout, keepPlugins ? "daemon shutting down, plugins left running\n" : "daemon shutting down\n");
  }
});

test("shutdown --json prints one object", async () => {
  const { seams, rec } = testSeams({ shutdown: () => ({}) });
  await runShutdown({ keepPlugins: true, json: true }, seams);
  assert.deepEqual(JSON.parse(rec.stdout), { shutdown: true, keepPlugins: true });
});
