// Build-time half of src/shared/fast-desc.ts, used by scripts/bundle.js for the client bundle:
// an esbuild plugin that replaces each generated `fileDesc("<base64>", deps)` with the
// FileDescriptorProto that call produces, written out as JavaScript, so that the CLI never
// builds the reflective descriptor of descriptor.proto. The proto is taken from the very
// module being bundled (the tsc build of src/shared/gen, or @bufbuild/protobuf's own wkt
// files), and test/unit/fast-descriptors.test.ts checks the result is the same descriptor.
import { readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import type { DescFile } from "@bufbuild/protobuf";

const FILE_DESC = /fileDesc\("([A-Za-z0-9+/=]+)"(?:,\s*(\[[^\]]*\]))?\)/;
const EXPORT = /export const (file_\w+)(?::\s*GenFile)?\s*=/;

/**
 * The proto of `file` as a JavaScript expression for fileDescFromProto: `[build, defaults]`,
 * where build(m) makes every message with m(typeName, ownFields) and defaults holds each
 * message type's prototype (its fields' default values), exactly as fromBinary made them.
 */
export function writeProto(file: DescFile): string {
  const defaults: Record<string, string> = {};
  const value = (v: unknown): string => {
    if (v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "string") return JSON.stringify(v);
    if (v === undefined) return "undefined";
    if (typeof v === "bigint") return `${v}n`;
    if (v instanceof Uint8Array) return `new Uint8Array([${v.join(",")}])`;
    if (Array.isArray(v)) return `[${v.map(value).join(",")}]`;
    if (typeof v === "object") return message(v as Record<string, unknown>);
    throw new Error(`fast-descriptors: cannot write a ${typeof v}`);
  };
  const fields = (o: object): string => {
    if (Object.getOwnPropertySymbols(o).length > 0) throw new Error("fast-descriptors: a message with symbol keys");
    return `{${Object.entries(o)
      .map(([k, v]) => `${JSON.stringify(k)}:${value(v)}`)
      .join(",")}}`;
  };
  const message = (o: Record<string, unknown>): string => {
    const typeName = o.$typeName;
    if (typeof typeName !== "string") throw new Error("fast-descriptors: an object that is no message");
    const proto = Object.getPrototypeOf(o) as object;
    const protoFields = proto === Object.prototype ? "{}" : fields(proto);
    if (proto !== Object.prototype && Object.getPrototypeOf(proto) !== Object.prototype) throw new Error("fast-descriptors: a deeper prototype chain");
    if ((defaults[typeName] ?? protoFields) !== protoFields) throw new Error(`fast-descriptors: two prototypes for ${typeName}`);
    defaults[typeName] = protoFields;
    return `m(${JSON.stringify(typeName)},${fields(o)})`;
  };
  const build = `(m)=>${message(file.proto as unknown as Record<string, unknown>)}`;
  return `${build},{${Object.entries(defaults)
    .map(([t, d]) => `${JSON.stringify(t)}:${d}`)
    .join(",")}}`;
}

/** The compiled module to take a generated file's descriptor from. */
function moduleFor(path: string, root: string): string {
  const rel = relative(root, path);
  return rel.startsWith("src/") ? join(root, "dist", rel.replace(/\.ts$/, ".js")) : path;
}

interface PluginBuild {
  onLoad(options: { filter: RegExp }, callback: (args: { path: string }) => Promise<{ contents: string; loader: "ts" | "js"; resolveDir: string } | undefined>): void;
}

export function fastDescriptors(root: string, runtime: string) {
  return {
    name: "fast-descriptors",
    setup(b: PluginBuild) {
      b.onLoad({ filter: /_pb\.[jt]s$/ }, async ({ path }) => {
        const source = await readFile(path, "utf8");
        const call = FILE_DESC.exec(source);
        const name = EXPORT.exec(source)?.[1];
        if (!call || !name) return undefined;
        const mod = (await import(pathToFileURL(moduleFor(path, root)).href)) as Record<string, DescFile>;
        if (!mod[name]?.proto) throw new Error(`fast-descriptors: ${path} exports no ${name}`);
        const replaced = source.replace(FILE_DESC, () => `__plugpromFileDesc(${writeProto(mod[name])}${call[2] ? `,${call[2]}` : ""})`);
        return {
          contents: `import { fileDescFromProto as __plugpromFileDesc } from ${JSON.stringify(runtime)};\n${replaced}`,
          loader: path.endsWith(".ts") ? "ts" : "js",
          resolveDir: dirname(path),
        };
      });
    },
  };
}
