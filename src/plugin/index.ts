// plugprom's TypeScript plugin SDK (`import { servePlugin } from "plugprom/plugin"`): write a
// go-plugin gRPC plugin that any go-plugin host, plugprom included, can launch.
export {
  servePlugin,
  negotiateVersion,
  createPluginLogger,
  ServeError,
  type ServePluginOptions,
  type ServedPlugin,
  type ServiceRegistration,
  type PluginLogger,
} from "../goplugin/serve.js";
export { DEFAULT_MAGIC_COOKIE_KEY, DEFAULT_MAGIC_COOKIE_VALUE } from "../goplugin/handshake.js";
export type { MetricsSource, SnapshotFamily, SnapshotValue } from "../shared/exposition-format.js";
