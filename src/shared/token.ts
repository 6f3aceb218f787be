// Bearer tokens for the control API and the HTTP side: read from a file (never a flag value,
// which would show in `ps`), compared in constant time.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

/** Reads a token file: the first line, trimmed; an empty or unreadable file is an error. */
export function readTokenFile(path: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`${flag} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const token = text.split(/\r?\n/, 1)[0].trim();
  if (token === "") throw new Error(`${flag} ${path}: the file is empty`);
  if (!/^[\x21-\x7e]+$/.test(token)) throw new Error(`${flag} ${path}: the token must be printable ASCII without spaces`);
  return token;
}

/**
 * True when `header` is "Bearer <token>"; the scheme name is case-insensitive and may be
 * followed by several spaces (RFC 7235 section 2.1, RFC 6750 section 2.1). The token
 * comparison takes the same time either way.
 */
export function bearerMatches(header: string | null | undefined, token: string): boolean {
  const presented = header ? (/^bearer +(\S+)$/i.exec(header)?.[1] ?? "") : "";
  // Hashing first makes both sides the same length, as timingSafeEqual requires.
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b) && presented !== "";
}
