// `plugprom stop <name> [--grace <dur>]`: a graceful stop (Shutdown RPC, then SIGTERM, then
// SIGKILL, --grace apart), after which the daemon forgets the instance.
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { graceOption, instanceName, optionalDuration, requestDuration } from "../flags.js";
import { pluginJson, toJson } from "../output.js";

export interface StopOptions {
  name: string;
  /** undefined: the daemon's --stop-grace. */
  graceMs: number | undefined;
  json: boolean;
}

export function newStopCommand(f: Factory, runF: Run<StopOptions> = runStop) {
  return new Command("stop")
    .description("stop an instance gracefully and forget it")
    .addArgument(instanceName())
    .addOption(graceOption())
    .action((name, flags) => runF({ name, graceMs: optionalDuration("--grace", flags.grace), json: f.globals().json }, f.seams()));
}

export async function runStop(o: StopOptions, { client, io, call }: Seams): Promise<void> {
  const { plugin } = await client.stop({ name: o.name, grace: requestDuration(o.graceMs) }, call);
  await io.out(o.json ? toJson(pluginJson(plugin!)) : `stopped ${o.name}\n`);
}
