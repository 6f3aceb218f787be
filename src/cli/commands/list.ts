// `plugprom list` (`ls`): every instance, as a table or a JSON array.
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { pluginJson, renderPluginTable, toJson } from "../output.js";

export interface ListOptions {
  json: boolean;
}

export function newListCommand(f: Factory, runF: Run<ListOptions> = runList) {
  return new Command("list")
    .alias("ls")
    .description("list plugin instances")
    .action(() => runF({ json: f.globals().json }, f.seams()));
}

export async function runList(o: ListOptions, { client, io, call }: Seams): Promise<void> {
  const { plugins } = await client.list({}, call);
  await io.out(o.json ? toJson(plugins.map(pluginJson)) : renderPluginTable(plugins, io));
}
