// `plugprom list`, `get`, `status` and `targets`: read-only views of the daemon.
import type { ControlClient } from "../client.js";
import { pluginJson, renderPluginDetails, renderPluginTable, renderStatus, statusJson, toJson, type IO } from "../output.js";

/** Per-call options; no timeoutMs means no deadline (--timeout 0). */
type CallOptions = { timeoutMs?: number };

export async function runList(o: { json: boolean }, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  const { plugins } = await client.list({}, call);
  await io.out(o.json ? toJson(plugins.map(pluginJson)) : renderPluginTable(plugins, io));
}

export async function runGet(o: { name: string; json: boolean }, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  const info = (await client.get({ name: o.name }, call)).plugin!;
  await io.out(o.json ? toJson(pluginJson(info)) : renderPluginDetails(info, io));
}

export async function runStatus(o: { json: boolean }, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  const status = await client.status({}, call);
  await io.out(o.json ? toJson(statusJson(status)) : renderStatus(status));
}

/** Prints the SD document exactly as Prometheus receives it (it ends with a newline). */
export async function runTargets(_o: unknown, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  await io.out((await client.targets({}, call)).json);
}
