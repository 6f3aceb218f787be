// The bundled example plugin (bin/plugprom-greeter): a go-plugin gRPC plugin with a Greeter
// service and a few metrics, what `plugprom start <name>` runs when given no command.
import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import { collectCleanDefaultMetrics } from "../../shared/default-metrics.js";
import { GreeterService, GreetResponseSchema, type GreetRequest } from "../../shared/gen/greeter/v1/greeter_pb.js";
import { DEFAULT_MAGIC_COOKIE_KEY, DEFAULT_MAGIC_COOKIE_VALUE } from "../../goplugin/handshake.js";
import { servePlugin } from "../../goplugin/serve.js";

const DEFAULT_TICK_MS = 10_000;

/**
 * A count exposed untyped under its historic name. The original demo's dashboards query
 * `plugin_greet_count` and `plugin_ticker_count`; as typed counters those names would have to
 * end in `_total` (promtool's lint), and a gauge may not end in `_count`. Untyped keeps both
 * the names and a clean lint.
 */
class UntypedCount {
  readonly type = "untyped";
  readonly aggregator = "sum";
  private value = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  inc(): void {
    this.value++;
  }

  get() {
    // Rendered as "unknown", its OpenMetrics name, when scraped in OpenMetrics.
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [{ value: this.value, labels: {} }] };
  }
}

export async function main(): Promise<void> {
  const registry = new Registry();
  collectCleanDefaultMetrics(registry);
  const greets = new UntypedCount("plugin_greet_count", "Greetings served: one per Greet call (the daemon greets once after start).", registry);
  const ticks = new UntypedCount("plugin_ticker_count", "Ticks of the greeter's timer (every 10 s, or PLUGPROM_GREETER_TICK_MS).", registry);

  const tickMs = Number(process.env.PLUGPROM_GREETER_TICK_MS) > 0 ? Number(process.env.PLUGPROM_GREETER_TICK_MS) : DEFAULT_TICK_MS;
  const ticker = setInterval(() => ticks.inc(), tickMs);

  const served = await servePlugin({
    magicCookieKey: DEFAULT_MAGIC_COOKIE_KEY,
    magicCookieValue: DEFAULT_MAGIC_COOKIE_VALUE,
    registry,
    versions: {
      1: [
        {
          service: GreeterService,
          implementation: {
            greet: (call: grpc.ServerUnaryCall<GreetRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
              greets.inc();
              const name = call.request.name || "world";
              served.log.info("greeted", { name });
              cb(null, create(GreetResponseSchema, { message: `Hello, ${name}!` }));
            },
          },
        },
      ],
    },
    onShutdown: () => clearInterval(ticker),
  });
  served.log.info("greeter started", { version: served.version, tickMs });
}

await main();
