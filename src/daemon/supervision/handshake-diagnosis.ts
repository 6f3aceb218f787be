// Why a plugin did not come up, in words that say what to do: it exited before its
// handshake (and whether it refused the magic cookie), it printed no handshake in time, it
// printed something else, or it never reported SERVING. Each names the last lines of stderr,
// where the plugin's own reason usually is.
import { startFailed, timedOut } from "../errors.js";
import { HandshakeError, parseHandshake, type Handshake } from "../../goplugin/handshake.js";
import type { InstanceSpec } from "../spec.js";
import type { ExitStatus } from "./plugin-process.js";

type HandshakeSettings = Pick<InstanceSpec, "magicCookieKey" | "magicCookieValue" | "startTimeoutMs">;

export function describeExit(code: number | undefined, signal: string): string {
  if (signal) return `signal ${signal}`;
  return code === undefined ? "unknown status" : `exit ${code}`;
}

export function exitedBeforeHandshake(status: ExitStatus, stderrTail: string, spec: HandshakeSettings): Error {
  // go-plugin plugins refuse a wrong cookie with their own text and exit 1.
  const cookieHint = /not meant to be executed directly|magic cookie/i.test(stderrTail)
    ? ` The plugin rejected the magic cookie ${spec.magicCookieKey}=${spec.magicCookieValue}: start it with --magic-cookie KEY=VALUE matching its HandshakeConfig.`
    : "";
  return startFailed(`plugin exited before its handshake (${describeExit(status.code ?? undefined, status.signal ?? "")}).${cookieHint} Last stderr: ${stderrTail}`);
}

export function noHandshakeInTime(stderrTail: string, spec: HandshakeSettings): Error {
  return timedOut(
    `plugin did not print its handshake within ${spec.startTimeoutMs} ms. Last stderr: ${stderrTail}. ` +
      `Is it a go-plugin plugin expecting ${spec.magicCookieKey}=${spec.magicCookieValue}?`,
  );
}

/** Parses the handshake line; a line go-plugin would refuse is refused with the plugin's stderr. */
export function readHandshake(line: string, offeredVersions: readonly number[], stderrTail: () => string): Handshake {
  try {
    return parseHandshake(line, offeredVersions);
  } catch (err) {
    if (err instanceof HandshakeError) throw startFailed(`${err.message}. Last stderr: ${stderrTail()}`, err);
    throw err;
  }
}

export function notServingInTime(h: Handshake, spec: HandshakeSettings): Error {
  return timedOut(
    h.protocol === "grpc"
      ? `plugin did not report SERVING for health service "plugin" within ${spec.startTimeoutMs} ms`
      : `plugin's net/rpc address ${h.address} did not accept a connection within ${spec.startTimeoutMs} ms`,
  );
}

/** `work`, or the error onTimeout makes once the deadline (ms since the epoch) has passed. */
export async function withDeadline<T>(work: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
