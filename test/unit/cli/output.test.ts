// The CLI's output decisions: when colour is on, how states are coloured, how tables align.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { PluginInfoSchema, PluginState } from "../../../src/shared/gen/plugprom/v1/control_pb.js";
import { colorState, pluginJson, shouldColor, table, type IO } from "../../../src/cli/output.js";

const colorDecisions: Array<[string, { noColor: boolean; isTTY: boolean | undefined; env: NodeJS.ProcessEnv }, boolean]> = [
  ["a terminal", { noColor: false, isTTY: true, env: {} }, true],
  ["a pipe or a file", { noColor: false, isTTY: undefined, env: {} }, false],
  ["a terminal with NO_COLOR=1", { noColor: false, isTTY: true, env: { NO_COLOR: "1" } }, false],
  ["a terminal with an empty NO_COLOR", { noColor: false, isTTY: true, env: { NO_COLOR: "" } }, true],
  ["a terminal with --no-color", { noColor: true, isTTY: true, env: {} }, false],
];
for (const [where, input, expected] of colorDecisions) {
  test(`colour is ${expected ? "on" : "off"} for ${where}`, () => assert.equal(shouldColor(input), expected));
}

const io = (color: boolean): IO => ({ out: async () => undefined, err: () => undefined, color, now: () => new Date(0) });

test("each state has its colour: running green, transitions yellow, failures red, stopped dim", () => {
  const expected: Array<[PluginState, string]> = [
    [PluginState.RUNNING, "\x1b[32mRUNNING\x1b[39m"],
    [PluginState.STARTING, "\x1b[33mSTARTING\x1b[39m"],
    [PluginState.STOPPING, "\x1b[33mSTOPPING\x1b[39m"],
    [PluginState.BACKOFF, "\x1b[33mBACKOFF\x1b[39m"],
    [PluginState.CRASHED, "\x1b[31mCRASHED\x1b[39m"],
    [PluginState.CRASHLOOP, "\x1b[31mCRASHLOOP\x1b[39m"],
    [PluginState.FAILED, "\x1b[31mFAILED\x1b[39m"],
    [PluginState.STOPPED, "\x1b[2mSTOPPED\x1b[22m"],
  ];
  for (const [state, text] of expected) {
    assert.equal(colorState(state, io(true)), text);
    assert.equal(colorState(state, io(false)), PluginState[state], "no escape codes with colour off");
  }
});

test("table columns align on visible width, ignoring colour codes, with no trailing spaces", () => {
  const out = table(["A", "B", "C"], [["\x1b[32mlong-value\x1b[39m", "x", ""], ["s", "yy", "z"]]);
  assert.equal(out.replace(/\x1b\[[0-9;]*m/g, ""), "A           B   C\nlong-value  x\ns           yy  z\n");
});

test("the JSON state is the enum name without its prefix", () => {
  for (const state of [PluginState.STARTING, PluginState.RUNNING, PluginState.STOPPING, PluginState.STOPPED, PluginState.CRASHED, PluginState.FAILED, PluginState.BACKOFF, PluginState.CRASHLOOP]) {
    assert.match(pluginJson(create(PluginInfoSchema, { name: "a", state })).state, /^[A-Z]+$/);
  }
  assert.equal(pluginJson(create(PluginInfoSchema, { name: "a", state: PluginState.CRASHLOOP })).state, "CRASHLOOP");
});
