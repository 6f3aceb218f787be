// `plugprom status`: the daemon's version, pid, addresses, state dir and instance counts.
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { renderStatus, statusJson, toJson } from "../output.js";

export interface StatusOptions {
  json: boolean;
}

export function newStatusCommand(f: Factory, runF: Run<StatusOptions> = runStatus) {
  return new Command("status")
    .description("show the daemon's version, addresses and instance counts")
    .action(() => runF({ json: f.globals().json }, f.seams()));
}

export async function runStatus(o: StatusOptions, { client, io, call }: Seams): Promise<void> {
  const status = await client.status({}, call);
  await io.out(o.json ? toJson(statusJson(status)) : renderStatus(status));
}
