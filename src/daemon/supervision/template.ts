// Substitution of the daemon-provided metrics endpoint into a plugin's arguments, so that a
// plugin that takes e.g. `-port N` runs unchanged: `-port {{metrics_port}}`.
import type { Address } from "../../shared/address.js";
import { formatAddress } from "../../shared/address.js";

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;
export const PLACEHOLDERS = ["metrics_addr", "metrics_port", "metrics_socket"] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** Which placeholders the arguments use; unknown ones are an error naming the argument. */
export function placeholdersIn(args: readonly string[]): Set<Placeholder> {
  const used = new Set<Placeholder>();
  for (const [i, arg] of args.entries()) {
    for (const m of arg.matchAll(PLACEHOLDER)) {
      const name = m[1] as Placeholder;
      if (!PLACEHOLDERS.includes(name)) {
        throw new Error(`argument ${i}: unknown placeholder {{${m[1]}}} (known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(", ")})`);
      }
      used.add(name);
    }
  }
  return used;
}

/**
 * Replaces the placeholders with the endpoint's values. {{metrics_port}} needs a TCP
 * endpoint and {{metrics_socket}} a Unix one; asking for the other is an error.
 */
export function substituteArgs(args: readonly string[], endpoint: Address): string[] {
  placeholdersIn(args);
  return args.map((arg, i) =>
    arg.replace(PLACEHOLDER, (_, name: Placeholder) => {
      switch (name) {
        case "metrics_addr":
          return formatAddress(endpoint);
        case "metrics_port":
          if (endpoint.kind !== "tcp") throw new Error(`argument ${i}: {{metrics_port}} needs --metrics-transport tcp`);
          return String(endpoint.port);
        case "metrics_socket":
          if (endpoint.kind !== "unix") throw new Error(`argument ${i}: {{metrics_socket}} needs --metrics-transport unix`);
          return endpoint.path;
      }
    }),
  );
}
