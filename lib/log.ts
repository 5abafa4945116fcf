// Structured JSON logs through pino, written synchronously so a plugin process that exits right
// after its last line loses nothing. Never stdout: stdout belongs to the CNI result.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** The subset of pino's logger our code uses, so tests can pass a fake. */
export interface Logger {
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LogOptions {
  level: LogLevel;
  /** A file to append to; when it cannot be opened the log goes to stderr (fd 2). */
  file?: string;
  base?: Record<string, unknown>;
}

export function createLogger(options: LogOptions): Logger {
  if (options.level === 'silent') return silentLogger;
  return pino(
    { level: options.level, base: { pid: process.pid, ...options.base }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: openLogFd(options.file), sync: true }),
  );
}

function openLogFd(file: string | undefined): number {
  if (!file) return 2;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return fs.openSync(file, 'a', 0o640);
  } catch {
    return 2;
  }
}

/** Logs nothing. A plain object: a pino instance would open a writer on stdout, the result's. */
export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
