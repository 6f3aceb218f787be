// `plugprom completion bash|zsh|fish`: shell completion scripts. Instance names come from the
// daemon itself, through the hidden `plugprom __complete-names` (one name per line, silent
// when the daemon is away so that a completion never prints an error into the prompt).
import type { ControlClient } from "../client.js";
import { usageError } from "../errors.js";
import type { IO } from "../output.js";

const COMMANDS = ["daemon", "start", "stop", "kill", "restart", "list", "ls", "get", "targets", "scrape", "status", "logs", "top", "shutdown", "apply", "diff", "version", "completion", "help"];
const TAKES_NAME = ["stop", "kill", "restart", "get", "scrape", "logs"];

const SCRIPTS: Record<string, string> = {
  bash: `# plugprom bash completion: eval "$(plugprom completion bash)"
_plugprom() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${COMMANDS.join(" ")}" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
    ${TAKES_NAME.join("|")})
      if [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=( $(compgen -W "$(plugprom __complete-names 2>/dev/null)" -- "$cur") )
      fi ;;
    completion) COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ) ;;
    apply|diff) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
  esac
}
complete -F _plugprom plugprom
`,
  zsh: "", // filled below: zsh runs the bash function through bashcompinit
  fish: `# plugprom fish completion: plugprom completion fish | source
complete -c plugprom -f
complete -c plugprom -n "__fish_use_subcommand" -a "${COMMANDS.join(" ")}"
complete -c plugprom -n "__fish_seen_subcommand_from ${TAKES_NAME.join(" ")}" -a "(plugprom __complete-names 2>/dev/null)"
complete -c plugprom -n "__fish_seen_subcommand_from completion" -a "bash zsh fish"
complete -c plugprom -n "__fish_seen_subcommand_from apply diff" -F
`,
};
SCRIPTS.zsh = `# plugprom zsh completion: eval "$(plugprom completion zsh)"
autoload -U +X bashcompinit && bashcompinit
${SCRIPTS.bash.split("\n").slice(1).join("\n")}`;

export async function runCompletion(o: { shell: string }, io: IO): Promise<void> {
  const script = SCRIPTS[o.shell];
  if (!script) throw usageError(`completion ${JSON.stringify(o.shell)}: expected bash, zsh or fish`);
  await io.out(script);
}

/** One instance name per line; nothing at all (and exit 0) when the daemon cannot answer. */
export async function runCompleteNames(_o: unknown, client: ControlClient, io: IO): Promise<void> {
  try {
    const { plugins } = await client.list({}, { timeoutMs: 2_000 });
    await io.out(plugins.map((p) => `${p.name}\n`).join(""));
  } catch {
    // a completion must never print an error into the user's prompt
  }
}
