// The control-API client the CLI commands use: gRPC over HTTP/2 (connect-node) to a TCP or
// Unix-socket address, and the one place that tells "daemon unreachable" and "our own
// deadline ran out" apart from an error the daemon returned.
import { connect as netConnect } from "node:net";
import { Code, createClient, ConnectError, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ControlService } from "../shared/gen/plugprom/v1/control_pb.js";
import { parseAddress } from "../shared/address.js";

export type ControlClient = Client<typeof ControlService>;

export function createControlClient(addr: string, token?: string): ControlClient {
  const parsed = parseAddress(addr);
  const interceptors: Interceptor[] = [recordFailedCall];
  if (token) {
    interceptors.push((next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    });
  }
  const transport =
    parsed.kind === "unix"
      ? createGrpcTransport({
          // The authority is not used for routing; the socket is opened by createConnection.
          baseUrl: "http://localhost",
          nodeOptions: { createConnection: () => netConnect({ path: parsed.path }) },
          interceptors,
        })
      : createGrpcTransport({ baseUrl: `http://${addr}`, interceptors });
  return createClient(ControlService, transport);
}

/** What the CLI knows about a call that failed: its RPC name and whether our deadline ended it. */
export interface FailedCall {
  /** The RPC's name as in control.proto, e.g. "List". */
  procedure: string;
  /** The CLI's own --timeout ran out (as opposed to a DeadlineExceeded the daemon returned). */
  timedOut: boolean;
  elapsedMs: number;
}

const failedCalls = new WeakMap<object, FailedCall>();

/** The call `err` came from, when it came out of a control client made here. */
export function failedCallOf(err: unknown): FailedCall | undefined {
  return typeof err === "object" && err !== null ? failedCalls.get(err) : undefined;
}

/**
 * Remembers which RPC an error came from. A client-side deadline aborts the call's own
 * signal, which is how it is told apart from the daemon answering DeadlineExceeded (the
 * daemon does that for a plugin that misses its start timeout).
 */
const recordFailedCall: Interceptor = (next) => async (req) => {
  const started = Date.now();
  const note = (err: unknown): never => {
    if (typeof err === "object" && err !== null && !failedCalls.has(err)) {
      const timedOut = err instanceof ConnectError && err.code === Code.DeadlineExceeded && req.signal.aborted;
      failedCalls.set(err, { procedure: req.method.name, timedOut, elapsedMs: Date.now() - started });
    }
    throw err;
  };
  const res = await next(req).catch(note);
  if (!res.stream) return res;
  // Streaming calls fail while their messages are read, after next() has resolved.
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (err) {
        note(err);
      }
    })(),
  };
};

/** Errors from the socket layer: nothing answered at the address. */
const TRANSPORT_ERRORS = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "EACCES",
  "EPERM",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNRESET",
  "EPIPE",
  "ENOTSOCK",
  "ERR_HTTP2_ERROR",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_INVALID_SESSION",
]);

/** A short reason when `err` means the daemon could not be reached at all, else undefined. */
export function unreachableReason(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && TRANSPORT_ERRORS.has(code)) return describeSocketError(code);
  }
  // connect-node reports a peer that speaks no HTTP/2 (e.g. an HTTP/1 server) this way; a
  // stream the daemon reset as it died is not that (see daemonWentAway).
  if (daemonWentAway(err)) return undefined;
  if (err instanceof ConnectError && /protocol error|http\/2|ERR_HTTP2/i.test(err.rawMessage) && err.metadata.get("content-type") === null) {
    return "not a plugprom control API";
  }
  return undefined;
}

/**
 * The daemon's end of a call in progress closed without an answer (it exited or was killed
 * mid-call): the stream is reset, which connect-node reports as CANCELED with no headers.
 * Our own deadline is told apart by the caller (failedCallOf(err).timedOut).
 */
export function daemonWentAway(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Canceled && /stream closed with error code/i.test(err.rawMessage) && err.metadata.get("content-type") === null;
}

function describeSocketError(code: string): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOENT":
      return "no such socket";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EHOSTUNREACH":
    case "EHOSTDOWN":
      return "host unreachable";
    case "ENETUNREACH":
      return "network unreachable";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ENOTSOCK":
      return "not a socket";
    default:
      return code;
  }
}
