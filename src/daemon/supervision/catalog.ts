// The optional plugin catalog (`plugprom daemon --config plugins.json`): named recipes that
// `plugprom start <name> --plugin <entry>` refers to. Loaded once and validated strictly so
// that a typo is a clear startup error, not a mystery at start time. The fields and their
// validation are shared with plugins files (src/shared/plugin-entry.ts).
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { isRecord, readCatalog, type CatalogEntry, type Problem } from "../../shared/plugin-entry.js";
import { DaemonError } from "../errors.js";

export type { CatalogEntry };
export type Catalog = ReadonlyMap<string, CatalogEntry>;

export class CatalogError extends DaemonError {
  override name = "CatalogError";

  constructor(message: string) {
    super("invalid", message);
  }
}

export async function loadCatalog(file: string): Promise<Catalog> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new CatalogError(`cannot read catalog ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CatalogError(`catalog ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseCatalog(doc, dirname(resolve(file)), file);
}

/** Validates a parsed catalog document; `baseDir` anchors relative commands and directories. */
export function parseCatalog(doc: unknown, baseDir: string, source = "catalog"): Catalog {
  const problems: Problem[] = [];
  let catalog = new Map<string, CatalogEntry>();
  if (!isRecord(doc)) problems.push({ path: "(top level)", message: 'must be an object like {"plugins": {...}}' });
  else {
    for (const key of Object.keys(doc)) if (key !== "plugins") problems.push({ path: key, message: 'unknown field (expected only "plugins")' });
    catalog = readCatalog(doc.plugins, "plugins", baseDir, problems);
  }
  if (problems.length > 0) throw new CatalogError(`${source}: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
  return catalog;
}
