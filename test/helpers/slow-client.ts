// A slow client (slowloris) for the servers' timeouts: a raw connection that writes some bytes
// and then nothing, timed until the server closes it.
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface SlowClientOptions {
  /** Speak TLS first (trusting this CA), then write; without it, the bytes go out in the clear. */
  tls?: { ca: string };
}

/**
 * Opens a connection, writes `data`, and resolves with how long the server took to close it;
 * Infinity when it was still open after 30 s (then this side closes it).
 */
export function closedAfter(host: string, port: number, data: string, opts: SlowClientOptions = {}): Promise<number> {
  return new Promise((resolve) => {
    const opened = Date.now();
    const socket: Socket = opts.tls
      ? tlsConnect({ host, port, ca: opts.tls.ca, servername: "localhost" }, () => socket.write(data))
      : netConnect(port, host, () => socket.write(data));
    const giveUp = setTimeout(() => {
      resolve(Infinity);
      socket.destroy();
    }, 30_000);
    socket.on("data", () => undefined);
    socket.on("close", () => {
      clearTimeout(giveUp);
      resolve(Date.now() - opened);
    });
    socket.on("error", () => undefined);
  });
}
