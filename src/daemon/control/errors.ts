// The control API's one mapping from the daemon's errors to RPC codes, applied to every RPC
// (unary and streaming) by an interceptor, and to startup errors on their way to the CLI.
// Other errors (a ConnectError from the token check, a bug) pass unchanged, for Connect to
// report as it does any error.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { DaemonError, type ErrorReason } from "../errors.js";

const CODES: Record<ErrorReason, Code> = {
  invalid: Code.InvalidArgument,
  "not-found": Code.NotFound,
  exists: Code.AlreadyExists,
  conflict: Code.FailedPrecondition,
  "start-failed": Code.Aborted,
  timeout: Code.DeadlineExceeded,
  unreachable: Code.Unavailable,
  canceled: Code.Canceled,
  corrupt: Code.DataLoss,
  exhausted: Code.ResourceExhausted,
  internal: Code.Internal,
};

/** A DaemonError as the ConnectError with its reason's code (the DaemonError as its cause); anything else as it is. */
export function toConnectError(err: unknown): unknown {
  return err instanceof DaemonError ? new ConnectError(err.message, CODES[err.reason], undefined, undefined, err) : err;
}

/** Maps what a handler throws, including while it streams its answer. */
export const mapDaemonErrors: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    if (!res.stream) return res;
    return { ...res, message: mapStream(res.message) };
  } catch (err) {
    throw toConnectError(err);
  }
};

async function* mapStream<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw toConnectError(err);
  }
}
