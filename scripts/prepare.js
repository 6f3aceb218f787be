#!/usr/bin/env node
// npm's `prepare`: builds after `npm ci` / `npm install` in a checkout, so that a fresh clone's
// bin/plugprom works. npm runs it on `npm pack` and `npm publish` too, right after `prepack`
// has built: building once is enough.
import { spawnSync } from "node:child_process";

if (!["pack", "publish"].includes(process.env.npm_command ?? "")) {
  const r = spawnSync("npm", ["run", "build"], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
