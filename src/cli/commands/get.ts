// `plugprom get <name>`: one instance in full, as key: value lines or one JSON object.
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { instanceName } from "../flags.js";
import { renderPlugin } from "../output.js";

export interface GetOptions {
  name: string;
  json: boolean;
}

export function newGetCommand(f: Factory, runF: Run<GetOptions> = runGet) {
  return new Command("get")
    .description("show one plugin instance")
    .addArgument(instanceName())
    .action((name) => runF({ name, json: f.globals().json }, f.seams()));
}

export async function runGet(o: GetOptions, { client, io, call }: Seams): Promise<void> {
  const { plugin } = await client.get({ name: o.name }, call);
  await io.out(renderPlugin(plugin!, o.json, io));
}
