// What bin/plugprom and bin/plugprom-greeter say when the checkout they run from is not built
// (a fresh clone has no dist/): one line naming the command to run, instead of a stack trace.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Exits 1 with guidance when `err` is a module of this package (or a dependency) not found; else rethrows. */
export function exitIfUnbuilt(command, err) {
  if (err?.code !== "ERR_MODULE_NOT_FOUND") throw err;
  const installed = existsSync(`${root}node_modules`);
  const built = existsSync(`${root}dist/src`);
  // Missing dependencies (a fresh clone) need `npm ci`, which builds too (prepare).
  const fix = installed && !built ? "npm run build" : "npm ci";
  process.stderr.write(`${command}: this checkout is not built (${built ? "a dependency is missing" : "no dist/"}): run \`${fix}\` in ${root}\n`);
  process.exit(1);
}
