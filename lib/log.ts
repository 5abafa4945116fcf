// Structured logs as JSON lines in pino's format (numeric `level`, ISO `time`, `pid`, the bindings,
// the fields, `msg`), each line written with one synchronous write(2), so a plugin process that
// exits right after its last line loses nothing. Never stdout: stdout belongs to the CNI result.
// Not pino itself: the plugin writes a few lines per call, and loading and setting up pino cost
// more start-up than all of them (bench/README.md); the agent logs tens of lines per sync.
import fs from 'node:fs';
import path from 'node:path';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** pino's numbers, which log readers (and our tests) filter on, e.g. `"level":50` for errors. */
const LEVEL_NUMBER: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** What our code logs with, so tests can pass a fake. */
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
  return new JsonLinesLogger({ fd: openLogFd(options.file), minimum: LEVEL_NUMBER[options.level] }, { pid: process.pid, ...options.base });
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

interface Sink {
  fd: number;
  minimum: number;
}

class JsonLinesLogger implements Logger {
  readonly #sink: Sink;
  /** The bindings as a JSON fragment (`"pid":1,"network":"x"`), serialized once per logger. */
  readonly #bound: string;

  constructor(sink: Sink, bindings: Record<string, unknown>, parentBound = '') {
    this.#sink = sink;
    const own = fields(bindings);
    this.#bound = parentBound && own ? `${parentBound},${own}` : parentBound || own;
  }

  trace(obj: object | string, msg?: string): void {
    this.#write(10, obj, msg);
  }
  debug(obj: object | string, msg?: string): void {
    this.#write(20, obj, msg);
  }
  info(obj: object | string, msg?: string): void {
    this.#write(30, obj, msg);
  }
  warn(obj: object | string, msg?: string): void {
    this.#write(40, obj, msg);
  }
  error(obj: object | string, msg?: string): void {
    this.#write(50, obj, msg);
  }

  child(bindings: Record<string, unknown>): Logger {
    return new JsonLinesLogger(this.#sink, bindings, this.#bound);
  }

  #write(level: number, obj: object | string, msg: string | undefined): void {
    if (level < this.#sink.minimum) return;
    const text = typeof obj === 'string' ? obj : msg;
    const parts = [`"level":${level}`, `"time":"${new Date().toISOString()}"`, this.#bound, typeof obj === 'string' ? '' : fields(obj), text === undefined ? '' : `"msg":${JSON.stringify(text)}`];
    writeAll(this.#sink.fd, `{${parts.filter(Boolean).join(',')}}\n`);
  }
}

/** An object's fields as a JSON fragment without braces; Errors become {type, message, stack}. */
function fields(obj: object): string {
  return JSON.stringify(obj, errorsAsObjects).slice(1, -1);
}

function errorsAsObjects(_key: string, value: unknown): unknown {
  return value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : value;
}

/** One write(2) per line; retried for a full pipe (EAGAIN) or a short write, never dropped. */
function writeAll(fd: number, line: string): void {
  let data = Buffer.from(line);
  while (data.length > 0) {
    try {
      data = data.subarray(fs.writeSync(fd, data));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return; // a log we cannot write must not fail the command
    }
  }
}

/** Logs nothing. */
export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
