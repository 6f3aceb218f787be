// `plugprom kill <name>`: SIGKILL the instance's process group now, and forget it.
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { instanceName } from "../flags.js";
import { pluginJson, toJson } from "../output.js";

export interface KillOptions {
  name: string;
  json: boolean;
}

export function newKillCommand(f: Factory, runF: Run<KillOptions> = runKill) {
  return new Command("kill")
    .description("SIGKILL an instance's process group now and forget it")
    .addArgument(instanceName())
    .action((name) => runF({ name, json: f.globals().json }, f.seams()));
}

export async function runKill(o: KillOptions, { client, io, call }: Seams): Promise<void> {
  const { plugin } = await client.kill({ name: o.name }, call);
  await io.out(o.json ? toJson(pluginJson(plugin!)) : `killed ${o.name}\n`);
}
