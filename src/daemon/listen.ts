// Binding the daemon's servers to their addresses (TCP, or a Unix socket whose stale file a
// dead daemon left behind), with errors that name the flag and say what to do.
import { rm } from "node:fs/promises";
import type { Server as HttpServer } from "node:http";
import type { Http2Server } from "node:http2";
import { connect as netConnect, type AddressInfo, type Server as NetServer } from "node:net";
import { formatAddress, type Address } from "../shared/address.js";
import { errorMessage } from "../shared/errors.js";

/** Listens on addr; resolves with the address actually bound (port 0 becomes a real port). */
export function listen(server: NetServer | HttpServer | Http2Server, addr: Address, flag: string): Promise<Address> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const what = formatAddress(addr);
      reject(
        new Error(
          err.code === "EADDRINUSE"
            ? `${flag} ${what}: address already in use (another plugprom daemon? pick another address, or port 0)`
            : `${flag} ${what}: cannot listen: ${errorMessage(err)}`,
        ),
      );
    };
    server.once("error", onError);
    const done = () => {
      server.off("error", onError);
      if (addr.kind === "unix") return resolve(addr);
      const info = server.address() as AddressInfo;
      resolve({ kind: "tcp", host: info.address, port: info.port });
    };
    if (addr.kind === "unix") {
      // A socket file nobody answers on was left by a daemon that died; one that answers is
      // another daemon's, and stays.
      void socketInUse(addr.path).then(async (inUse) => {
        if (inUse) return onError(Object.assign(new Error("in use"), { code: "EADDRINUSE" }));
        await rm(addr.path, { force: true });
        server.listen(addr.path, done);
      });
    } else {
      server.listen(addr.port, addr.host, done);
    }
  });
}

function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
