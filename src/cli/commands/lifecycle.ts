// `plugprom stop`, `kill` and `restart`: one instance, one RPC, the resulting state printed.
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { PluginInfo } from "../../shared/gen/plugprom/v1/control_pb.js";
import type { ControlClient } from "../client.js";
import { pluginJson, renderPluginDetails, toJson, type IO } from "../output.js";
import { duration } from "./start.js";

export interface LifecycleOptions {
  name: string;
  grace?: string;
  json: boolean;
}

/** Per-call options; no timeoutMs means no deadline (--timeout 0). */
type CallOptions = { timeoutMs?: number };

export async function runStop(o: LifecycleOptions, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  const grace = o.grace !== undefined ? durationFromMs(duration("--grace", o.grace)) : undefined;
  await print((await client.stop({ name: o.name, grace }, call)).plugin, o, io, "stopped");
}

export async function runKill(o: LifecycleOptions, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  await print((await client.kill({ name: o.name }, call)).plugin, o, io, "killed");
}

export async function runRestart(o: LifecycleOptions, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  const grace = o.grace !== undefined ? durationFromMs(duration("--grace", o.grace)) : undefined;
  const info = (await client.restart({ name: o.name, grace }, call)).plugin;
  await io.out(o.json ? toJson(pluginJson(info!)) : renderPluginDetails(info!, io));
}

async function print(info: PluginInfo | undefined, o: LifecycleOptions, io: IO, verb: string): Promise<void> {
  if (o.json) await io.out(toJson(pluginJson(info!)));
  else await io.out(`${verb} ${o.name}\n`);
}

export async function runShutdown(o: { keepPlugins: boolean; json: boolean }, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  await client.shutdown({ keepPlugins: o.keepPlugins }, call);
  await io.out(o.json ? toJson({ shutdown: true, keepPlugins: o.keepPlugins }) : `daemon shutting down${o.keepPlugins ? ", plugins left running" : ""}\n`);
}
