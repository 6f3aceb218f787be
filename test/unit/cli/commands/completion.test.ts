// plugprom completion bash|zsh|fish: the scripts are written from the program's command
// definitions, so a new command is completed without anyone editing a list.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  completionScript,
  newCompletionCommand,
  runCompleteNames,
  runCompletion,
  type CompletionOptions,
} from "../../../../src/cli/commands/completion.js";
import { abc, crashed, parseCommand, recorder, runCli, testIO, testSeams } from "../fakes.js";

const COMMANDS = ["daemon", "start", "stop", "kill", "restart", "list", "ls", "get", "targets", "scrape", "status", "logs", "shutdown", "top", "completion", "version", "help"];
const TAKE_NAME = ["stop", "kill", "restart", "get", "scrape", "logs"];

test("completion takes bash, zsh or fish, and reads the commands from the program", async () => {
  for (const shell of ["bash", "zsh", "fish"] as const) {
    const r = await parseCommand<CompletionOptions>(newCompletionCommand, ["completion", shell]);
    assert.deepEqual(r.options, { shell, commands: COMMANDS, takeName: TAKE_NAME });
  }
  const bad = await parseCommand<CompletionOptions>(newCompletionCommand, ["completion", "powershell"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'plugprom: completion "powershell": expected bash, zsh or fish\n');
});

test("the commands completed are exactly those plugprom --help lists, aliases included, hidden ones not", async () => {
  const help = await runCli({}, ["--help"]);
  const listed = help.stdout
    .split("\nCommands:\n")[1]
    .split("\n")
    .map((line) => /^  (\S+)/.exec(line)?.[1])
    .filter((term): term is string => term !== undefined)
    .flatMap((term) => term.split("|"));
  assert.deepEqual(listed, COMMANDS);
  assert.ok(!listed.includes("__complete-names"));
});

test("bash completes commands, instance names after the commands that take one, and shells", () => {
  const script = completionScript({ shell: "bash", commands: ["list", "ls", "get"], takeName: ["get"] });
  assert.match(script, /^# plugprom bash completion: eval "\$\(plugprom completion bash\)"\n_plugprom\(\) \{/);
  assert.match(script, /COMPREPLY=\( \$\(compgen -W "list ls get" -- "\$cur"\) \)/);
  assert.match(script, /\n    get\)\n      if \[ "\$COMP_CWORD" -eq 2 \]; then\n        COMPREPLY=\( \$\(compgen -W "\$\(plugprom __complete-names 2>\/dev\/null\)"/);
  assert.match(script, /completion\) COMPREPLY=\( \$\(compgen -W "bash zsh fish" -- "\$cur"\) \) ;;/);
  assert.match(script, /\ncomplete -F _plugprom plugprom\n$/);
});

test("zsh runs the bash function through bashcompinit", () => {
  const o = { commands: ["list"], takeName: ["get"] };
  const zsh = completionScript({ shell: "zsh", ...o });
  const bash = completionScript({ shell: "bash", ...o });
  assert.equal(zsh, `# plugprom zsh completion: eval "$(plugprom completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${bash.split("\n").slice(1).join("\n")}`);
});

test("fish completes the same commands and names", () => {
  assert.equal(
    completionScript({ shell: "fish", commands: ["list", "ls", "get"], takeName: ["get", "logs"] }),
    "# plugprom fish completion: plugprom completion fish | source\n" +
      "complete -c plugprom -f\n" +
      'complete -c plugprom -n "__fish_use_subcommand" -a "list ls get"\n' +
      'complete -c plugprom -n "__fish_seen_subcommand_from get logs" -a "(plugprom __complete-names 2>/dev/null)"\n' +
      'complete -c plugprom -n "__fish_seen_subcommand_from completion" -a "bash zsh fish"\n',
  );
});

test("completion prints the script", async () => {
  const rec = recorder();
  const o: CompletionOptions = { shell: "fish", commands: ["list"], takeName: [] };
  await runCompletion(o, testIO(rec));
  assert.equal(rec.stdout, completionScript(o));
});

test("__complete-names prints one instance name per line, asking with its own short deadline", async () => {
  const { seams, rec } = testSeams({ list: () => ({ plugins: [abc, crashed] }) });
  await runCompleteNames({}, seams);
  assert.equal(rec.stdout, "abc\nlonger-name\n");
  assert.deepEqual(rec.calls[0][2], { timeoutMs: 2_000 });
});

test("__complete-names prints nothing and fails nothing when the daemon cannot answer", async () => {
  const { seams, rec } = testSeams({ list: () => Promise.reject(new ConnectError("connection refused", Code.Unavailable)) });
  await runCompleteNames({}, seams);
  assert.equal(rec.stdout + rec.stderr, "");
  const r = await runCli({ list: () => Promise.reject(new ConnectError("connection refused", Code.Unavailable)) }, ["__complete-names"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout + r.stderr, "");
});
