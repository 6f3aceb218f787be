// `plugprom completion bash|zsh|fish`: shell completion scripts, written from the program's
// own command definitions (the commands `plugprom --help` lists, and which of them take the
// name of an existing instance). Instance names come from the daemon itself, through the
// hidden `plugprom __complete-names` (one name per line, silent when the daemon is away so
// that a completion never prints an error into the prompt).
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { namesAnInstance, oneOf } from "../flags.js";
import type { IO } from "../output.js";

const SHELLS = ["bash", "zsh", "fish"] as const;
const COMPLETE_NAMES = "__complete-names";

export interface CompletionOptions {
  shell: (typeof SHELLS)[number];
  /** Command names and aliases, as `plugprom --help` lists them. */
  commands: string[];
  /** The commands whose argument is an existing instance's name. */
  takeName: string[];
}

export function newCompletionCommand(f: Factory, runF: (o: CompletionOptions, io: IO) => Promise<void> = runCompletion) {
  return new Command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash, zsh or fish")
    .action((shell, _flags, cmd) => runF({ shell: oneOf("completion", shell, SHELLS), ...completionsOf(cmd.parent ?? cmd) }, f.io()));
}

/** What to complete, read from the program: its visible commands in help order. */
function completionsOf(program: CommandUnknownOpts): Pick<CompletionOptions, "commands" | "takeName"> {
  const visible = program.createHelp().visibleCommands(program);
  return {
    commands: visible.flatMap((c) => [c.name(), ...c.aliases()]),
    takeName: visible.filter((c) => namesAnInstance(c.registeredArguments[0])).map((c) => c.name()),
  };
}

export async function runCompletion(o: CompletionOptions, io: IO): Promise<void> {
  await io.out(completionScript(o));
}

export function completionScript(o: CompletionOptions): string {
  const bash = `_plugprom() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${o.commands.join(" ")}" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
    ${o.takeName.join("|")})
      if [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=( $(compgen -W "$(plugprom ${COMPLETE_NAMES} 2>/dev/null)" -- "$cur") )
      fi ;;
    completion) COMPREPLY=( $(compgen -W "${SHELLS.join(" ")}" -- "$cur") ) ;;
  esac
}
complete -F _plugprom plugprom
`;
  switch (o.shell) {
    case "bash":
      return `# plugprom bash completion: eval "$(plugprom completion bash)"\n${bash}`;
    case "zsh":
      // zsh runs the bash function through bashcompinit.
      return `# plugprom zsh completion: eval "$(plugprom completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
    case "fish":
      return `# plugprom fish completion: plugprom completion fish | source
complete -c plugprom -f
complete -c plugprom -n "__fish_use_subcommand" -a "${o.commands.join(" ")}"
complete -c plugprom -n "__fish_seen_subcommand_from ${o.takeName.join(" ")}" -a "(plugprom ${COMPLETE_NAMES} 2>/dev/null)"
complete -c plugprom -n "__fish_seen_subcommand_from completion" -a "${SHELLS.join(" ")}"
`;
  }
}

export type CompleteNamesOptions = Record<string, never>;

/** One instance name per line for the scripts above; registered hidden. */
export function newCompleteNamesCommand(f: Factory, runF: Run<CompleteNamesOptions> = runCompleteNames) {
  return new Command(COMPLETE_NAMES).action(() => runF({}, f.seams()));
}

/** Nothing at all (and exit 0) when the daemon cannot answer: never an error in the prompt. */
export async function runCompleteNames(_o: CompleteNamesOptions, { client, io }: Seams): Promise<void> {
  try {
    const { plugins } = await client.list({}, { timeoutMs: 2_000 });
    await io.out(plugins.map((p) => `${p.name}\n`).join(""));
  } catch {
    // a completion must never print an error into the user's prompt
  }
}
