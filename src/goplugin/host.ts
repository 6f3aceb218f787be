// The host side of a go-plugin gRPC connection: what the daemon calls on a plugin after its
// handshake (health, Shutdown, stdio, and any unary method of the plugin's own services),
// over unix or tcp, with AutoMTLS pinned to the certificate the plugin sent.
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type DescMethodUnary, type MessageShape } from "@bufbuild/protobuf";
import { EmptySchema as WktEmptySchema } from "@bufbuild/protobuf/wkt";
import { EmptySchema, GRPCController } from "../shared/gen/plugin/grpc_controller_pb.js";
import { GRPCStdio, StdioData_Channel } from "../shared/gen/plugin/grpc_stdio_pb.js";
import type { Handshake } from "./handshake.js";
import { callServerStream, callUnary } from "./grpc-service.js";
import { derToPem } from "./mtls.js";
import { HealthChecker, type HealthStatus, type HostTls } from "./health-check.js";

export type { HealthStatus, HostTls };

export interface StdioChunk {
  channel: "stdout" | "stderr";
  data: Uint8Array;
}

export interface PluginClient {
  /** grpc.health.v1.Health/Check for service "plugin", as go-plugin's Ping does. */
  checkHealth(timeoutMs: number): Promise<HealthStatus>;
  /** plugin.GRPCController/Shutdown: asks the plugin to exit gracefully. */
  shutdown(timeoutMs: number): Promise<void>;
  /** A unary method of a service the plugin serves (its own API, e.g. the greeter's Greet). */
  unary<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, request: MessageShape<I>, timeoutMs: number): Promise<MessageShape<O>>;
  /** plugin.GRPCStdio/StreamStdio; older plugins answer UNIMPLEMENTED (see isUnimplemented). */
  streamStdio(): AsyncIterable<StdioChunk> & { cancel(): void };
  close(): void;
}

/** The gRPC target string grpc-js understands for a handshake address. */
export function grpcTarget(h: Pick<Handshake, "network" | "address">): string {
  return h.network === "unix" ? `unix:${h.address}` : h.address;
}

export function connectPlugin(handshake: Handshake, tls?: HostTls): PluginClient {
  const options: grpc.ChannelOptions = {
    // A plugin is one local process: no retries across addresses, small messages.
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    "grpc.enable_retries": 0,
  };
  let credentials = grpc.credentials.createInsecure();
  if (tls) {
    const serverPem = derToPem(tls.serverCertDer);
    credentials = grpc.credentials.createSsl(Buffer.from(serverPem), Buffer.from(tls.clientKeyPem), Buffer.from(tls.clientCertPem), {
      // Pinning: the only certificate accepted is the one from this plugin's handshake.
      checkServerIdentity: (_host, cert) =>
        cert.raw.equals(tls.serverCertDer) ? undefined : new Error("plugin presented a certificate other than the one in its handshake"),
    });
    options["grpc.ssl_target_name_override"] = "localhost";
    options["grpc.default_authority"] = "localhost";
  }
  const client = new grpc.Client(grpcTarget(handshake), credentials, options);
  // The periodic health check on its own HTTP/2 session, not through grpc-js (see health-check.ts).
  const health = new HealthChecker(handshake, tls);
  return {
    checkHealth(timeoutMs) {
      return health.check(timeoutMs);
    },
    async shutdown(timeoutMs) {
      await callUnary(client, GRPCController.method.shutdown, create(EmptySchema), timeoutMs);
    },
    unary(method, request, timeoutMs) {
      return callUnary(client, method, request, timeoutMs);
    },
    streamStdio() {
      const call = callServerStream(client, GRPCStdio.method.streamStdio, create(WktEmptySchema));
      return {
        cancel: () => call.cancel(),
        async *[Symbol.asyncIterator]() {
          for await (const msg of call) {
            yield { channel: msg.channel === StdioData_Channel.STDOUT ? "stdout" : "stderr", data: msg.data } as StdioChunk;
          }
        },
      };
    },
    close() {
      health.close();
      client.close();
    },
  };
}

export function isUnimplemented(err: unknown): boolean {
  return (err as { code?: number } | undefined)?.code === grpc.status.UNIMPLEMENTED;
}
