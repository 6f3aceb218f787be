// `plugprom restart <name> [--grace <dur>]`: stop gracefully and start again with the same
// spec (restarts +1); prints the instance as it came back.
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { graceOption, instanceName, optionalDuration, requestDuration } from "../flags.js";
import { renderPlugin } from "../output.js";

export interface RestartOptions {
  name: string;
  /** undefined: the daemon's --stop-grace. */
  graceMs: number | undefined;
  json: boolean;
}

export function newRestartCommand(f: Factory, runF: Run<RestartOptions> = runRestart) {
  return new Command("restart")
    .description("stop an instance gracefully and start it again")
    .addArgument(instanceName())
    .addOption(graceOption())
    .action((name, flags) => runF({ name, graceMs: optionalDuration("--grace", flags.grace), json: f.globals().json }, f.seams()));
}

export async function runRestart(o: RestartOptions, { client, io, call }: Seams): Promise<void> {
  const { plugin } = await client.restart({ name: o.name, grace: requestDuration(o.graceMs) }, call);
  await io.out(renderPlugin(plugin!, o.json, io));
}
