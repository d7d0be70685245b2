/**
 * JSON text as diffusers reads and writes it. Python's `json` module emits the bare literals `NaN`,
 * `Infinity` and `-Infinity` for non-finite floats (DPMSolver configs hold
 * `"lambda_min_clipped": -Infinity`), which `JSON.parse` rejects; this module accepts them outside
 * strings and writes them back the same way, in the layout of `json.dumps(obj, indent=2,
 * sort_keys=True)` that diffusers uses for `config.json`. It only turns text into plain values and
 * back: checking that a value is a valid config is the caller's job.
 *
 * This module must not import node: modules, so that config parsing bundles for the browser; file
 * reading and writing live in json.ts.
 */
import { FormatError } from '../util/errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Parses JSON text that may hold Python's non-finite literals. `what` names the source in errors
 * ("scheduler config 'x/scheduler_config.json'"); syntax errors give line and column.
 */
export function parseJson(text: string, what: string): JsonValue {
  try {
    // Fast path: plain JSON. The extended parser below accepts a superset and gives the same value.
    return JSON.parse(text) as JsonValue;
  } catch {
    return new ExtendedJsonParser(text, what).parseDocument();
  }
}

export interface JsonWriteOptions {
  /** Spaces per level (diffusers: 2). 0 writes everything on one line with Python's ", " and ": ". */
  indent?: number;
  /** Sort object keys, as diffusers does (`sort_keys=True`). */
  sortKeys?: boolean;
}

/**
 * Serialises like Python's `json.dumps(value, indent=2, sort_keys=True)`: non-finite numbers as
 * `NaN`/`Infinity`/`-Infinity`, non-ASCII escaped as `\uXXXX` (`ensure_ascii`), non-integer floats in
 * Python's `repr` form (`1e-05`, not `0.00001`). JavaScript has one number type, so a float that holds
 * a safe integer (`1.0`) is written as `1`; Python reads it back as an int, which diffusers accepts.
 */
export function stringifyJson(value: unknown, options: JsonWriteOptions = {}): string {
  return new JsonWriter(options.indent ?? 2, options.sortKeys ?? true).value(value, '', '$');
}

/** Python `repr(float)`: shortest round-trip digits, exponent form below 1e-4 or from 1e16 on. */
export function pythonNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Object.is(n, -0)) return '-0.0';
  // Exact integers are written as Python ints; beyond 2^53 a number can only have been a float.
  if (Number.isSafeInteger(n)) return String(n);
  const [mantissa, exponentText] = n.toExponential().split('e');
  const exponent = Number(exponentText);
  if (exponent >= -4 && exponent < 16) return Number.isInteger(n) ? `${n}.0` : String(n);
  const sign = exponent < 0 ? '-' : '+';
  return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

class JsonWriter {
  constructor(
    private readonly indent: number,
    private readonly sortKeys: boolean,
  ) {}

  value(v: unknown, pad: string, path: string): string {
    if (v === null) return 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') return pythonNumber(v);
    if (typeof v === 'string') return asciiString(v);
    if (Array.isArray(v)) return this.array(v, pad, path);
    if (typeof v === 'object' && !ArrayBuffer.isView(v)) return this.object(v as object, pad, path);
    throw new FormatError(`cannot write ${describe(v)} at ${path} as JSON`, {
      hint: 'convert typed arrays with Array.from and bigints with Number',
    });
  }

  private array(items: unknown[], pad: string, path: string): string {
    if (items.length === 0) return '[]';
    const inner = pad + ' '.repeat(this.indent);
    const parts = items.map((item, i) => this.value(item, inner, `${path}[${i}]`));
    return this.join('[', parts, ']', pad, inner);
  }

  private object(obj: object, pad: string, path: string): string {
    const keys = Object.keys(obj).filter((k) => (obj as Record<string, unknown>)[k] !== undefined);
    if (keys.length === 0) return '{}';
    if (this.sortKeys) keys.sort(compareCodePoints);
    const inner = pad + ' '.repeat(this.indent);
    const parts = keys.map(
      (k) => `${asciiString(k)}: ${this.value((obj as Record<string, unknown>)[k], inner, `${path}.${k}`)}`,
    );
    return this.join('{', parts, '}', pad, inner);
  }

  private join(open: string, parts: string[], close: string, pad: string, inner: string): string {
    if (this.indent === 0) return `${open}${parts.join(', ')}${close}`;
    return `${open}\n${inner}${parts.join(`,\n${inner}`)}\n${pad}${close}`;
  }
}

/** Python sorts str keys by code point; JavaScript's default sort compares UTF-16 units. */
function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** `ensure_ascii=True`: everything outside printable ASCII (space to `~`) becomes `\uXXXX`. */
function asciiString(s: string): string {
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function describe(v: unknown): string {
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return `a ${typeof v}`;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// JSON strings may not hold raw control characters, so the pattern must name them.
// eslint-disable-next-line no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const WHITESPACE = /[ \t\n\r]*/y;
const LITERALS: ReadonlyArray<[string, JsonValue]> = [
  ['true', true],
  ['false', false],
  ['null', null],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
];
/** Nesting deeper than this is refused rather than overflowing the stack. */
const MAX_DEPTH = 512;

/** Recursive-descent JSON parser with Python's three extra literals; errors carry line and column. */
class ExtendedJsonParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly what: string,
  ) {}

  parseDocument(): JsonValue {
    const value = this.value(0);
    this.skipWhitespace();
    if (this.pos < this.text.length) throw this.error('unexpected text after the JSON value');
    return value;
  }

  private value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) throw this.error(`nesting deeper than ${MAX_DEPTH} levels`);
    this.skipWhitespace();
    const c = this.text[this.pos];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    for (const [word, value] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    throw this.error(
      c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`,
    );
  }

  private object(depth: number): { [key: string]: JsonValue } {
    const result: { [key: string]: JsonValue } = {};
    this.pos++; // '{'
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return result;
    }
    while (true) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') throw this.error('expected a string key');
      const key = this.string();
      this.expect(':');
      // defineProperty keeps a key named "__proto__" an ordinary own property, as JSON.parse does.
      Object.defineProperty(result, key, {
        value: this.value(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      if (this.endOfList('}')) return result;
    }
  }

  private array(depth: number): JsonValue[] {
    const result: JsonValue[] = [];
    this.pos++; // '['
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return result;
    }
    while (true) {
      result.push(this.value(depth + 1));
      if (this.endOfList(']')) return result;
    }
  }

  /** After an item: true at the closing bracket, false after a comma. */
  private endOfList(close: string): boolean {
    this.skipWhitespace();
    const c = this.text[this.pos];
    this.pos++;
    if (c === close) return true;
    if (c === ',') return false;
    this.pos--;
    throw this.error(`expected ',' or '${close}'`);
  }

  private string(): string {
    STRING.lastIndex = this.pos;
    const match = STRING.exec(this.text);
    if (!match) throw this.error('malformed string (unterminated, bad escape or raw control character)');
    this.pos += match[0].length;
    return JSON.parse(match[0]) as string;
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (!match) throw this.error('malformed number');
    this.pos += match[0].length;
    return Number(match[0]);
  }

  private expect(c: string): void {
    this.skipWhitespace();
    if (this.text[this.pos] !== c) throw this.error(`expected '${c}'`);
    this.pos++;
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.pos;
    WHITESPACE.exec(this.text);
    this.pos = WHITESPACE.lastIndex;
  }

  private error(message: string): FormatError {
    const before = this.text.slice(0, this.pos);
    const line = before.split('\n').length;
    const column = this.pos - before.lastIndexOf('\n');
    return new FormatError(`${this.what} is not valid JSON: ${message} at line ${line}, column ${column}`);
  }
}
