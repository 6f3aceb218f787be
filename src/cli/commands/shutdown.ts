// `plugprom shutdown [--keep-plugins]`: stop the daemon, with its plugins or (the upgrade
// path) leaving them running for the next daemon to reattach.
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { toJson } from "../output.js";

export interface ShutdownOptions {
  keepPlugins: boolean;
  json: boolean;
}

export function newShutdownCommand(f: Factory, runF: Run<ShutdownOptions> = runShutdown) {
  return new Command("shutdown")
    .description("stop the daemon (and its plugins, unless --keep-plugins)")
    .option("--keep-plugins", "leave plugins running for the next daemon to reattach", false)
    .action((flags) => runF({ keepPlugins: flags.keepPlugins, json: f.globals().json }, f.seams()));
}

export async function runShutdown(o: ShutdownOptions, { client, io, call }: Seams): Promise<void> {
  await client.shutdown({ keepPlugins: o.keepPlugins }, call);
  await io.out(o.json ? toJson({ shutdown: true, keepPlugins: o.keepPlugins }) : `daemon shutting down${o.keepPlugins ? ", plugins left running" : ""}\n`);
}
