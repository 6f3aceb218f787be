// The daemon's structured logger: one line per event, logfmt-like text or JSON, to stderr.
// Fields are a flat record so that plugin log lines (hclog JSON) can be re-logged as-is.
import type { LogFormat, LogLevel } from "./options.js";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  /** A logger that adds these fields to every line. */
  with(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions, base: LogFields = {}): Logger {
  const min = LEVELS[opts.level];
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LEVELS[level] < min) return;
    const all = { ...base, ...fields };
    write(opts.format === "json" ? jsonLine(now(), level, msg, all) : textLine(now(), level, msg, all));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    enabled: (level) => LEVELS[level] >= min,
    with: (fields) => createLogger(opts, { ...base, ...fields }),
  };
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  enabled: () => false,
  with: () => silentLogger,
};

export function isLogLevel(s: string): s is LogLevel {
  return s in LEVELS;
}

function jsonLine(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  return `${JSON.stringify({ time: time.toISOString(), level, msg, ...fields })}\n`;
}

function textLine(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    line += ` ${k}=${quote(typeof v === "string" ? v : JSON.stringify(v))}`;
  }
  return `${line}\n`;
}

function quote(s: string): string {
  return s === "" || /[\s"=\\]/.test(s) || /[^\x20-\x7e]/.test(s) ? JSON.stringify(s) : s;
}
