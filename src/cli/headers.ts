// A small WHATWG Headers for the CLI process. Node defines the global Headers lazily, and its
// first use loads all of undici (fetch, WebSockets, web streams): about 15 ms, a quarter of a
// `plugprom list`. connect only needs a header map, so a CLI process that calls the daemon
// installs this one before connect touches the global. Behaviour follows the Fetch standard
// for what connect and the CLI use: case-insensitive names, values trimmed, appended values
// joined with ", ", iteration sorted by name with set-cookie kept apart.

type Init = Iterable<readonly [string, string]> | Record<string, string> | { forEach(cb: (value: string, name: string) => void): void };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// NUL, CR and LF are refused, and so is anything outside Latin-1 (a ByteString).
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\0\r\n]|[^\0-\xff]/;

function checkName(name: string): string {
  const n = String(name);
  if (!TOKEN.test(n)) throw new TypeError(`Headers: invalid header name ${JSON.stringify(n)}`);
  return n.toLowerCase();
}

function normaliseValue(value: string): string {
  const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
  if (BAD_VALUE.test(v)) throw new TypeError(`Headers: invalid header value ${JSON.stringify(v)}`);
  return v;
}

export class LiteHeaders {
  /** Lower-case name to values, in insertion order. */
  readonly #values = new Map<string, string[]>();

  constructor(init?: Init) {
    if (init === undefined || init === null) return;
    if (typeof (init as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<readonly [string, string]>) {
        if (pair.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
        this.append(pair[0], pair[1]);
      }
    } else if (typeof init === "object") {
      for (const name of Object.keys(init)) this.append(name, (init as Record<string, string>)[name]);
    } else {
      throw new TypeError("Headers: init must be an object or an iterable of pairs");
    }
  }

  append(name: string, value: string): void {
    const n = checkName(name);
    const v = normaliseValue(value);
    const list = this.#values.get(n);
    if (list) list.push(v);
    else this.#values.set(n, [v]);
  }

  set(name: string, value: string): void {
    this.#values.set(checkName(name), [normaliseValue(value)]);
  }

  delete(name: string): void {
    this.#values.delete(checkName(name));
  }

  get(name: string): string | null {
    const list = this.#values.get(checkName(name));
    return list ? list.join(", ") : null;
  }

  has(name: string): boolean {
    return this.#values.has(checkName(name));
  }

  getSetCookie(): string[] {
    return [...(this.#values.get("set-cookie") ?? [])];
  }

  forEach(cb: (value: string, name: string, headers: this) => void, thisArg?: unknown): void {
    for (const [name, value] of this.entries()) cb.call(thisArg, value, name, this);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of [...this.#values.keys()].sort()) {
      const list = this.#values.get(name);
      // A callback may have deleted it meanwhile.
      if (!list) continue;
      if (name === "set-cookie") for (const v of list) yield [name, v];
      else yield [name, list.join(", ")];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Headers";
  }
}

/**
 * Makes LiteHeaders the global Headers of this process, unless something already used the
 * global one (then it stays: objects of both kinds must not meet). For CLI processes only:
 * the daemon and tests keep Node's own.
 */
export function installLiteHeaders(): void {
  const current = Object.getOwnPropertyDescriptor(globalThis, "Headers");
  // Node's lazy global is an accessor until its first use turns it into a value.
  if (current && !current.get) return;
  Object.defineProperty(globalThis, "Headers", { value: LiteHeaders, writable: true, configurable: true, enumerable: false });
}
