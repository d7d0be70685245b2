/**
 * JSON files as diffusers reads and writes them: the text format (Python's `NaN`/`Infinity` literals,
 * `json.dumps(obj, indent=2, sort_keys=True)` layout) is json-text.ts, re-exported here; this module
 * adds reading a file (missing file → NotFoundError, bad content → FormatError) and writing one
 * atomically. It only turns files into plain values and back: checking that a value is a valid config
 * is the caller's job.
 */
import { readFileSync } from 'node:fs';
import { NotFoundError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { parseJson, stringifyJson, type JsonValue, type JsonWriteOptions } from './json-text.js';

export * from './json-text.js';

/** Reads and parses a JSON file; a missing file is a NotFoundError, bad content a FormatError. */
export function readJsonFile(path: string, what: string): JsonValue {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new NotFoundError(`cannot read ${what} '${path}'${code ? ` (${code})` : ''}`, {
      hint: code === 'ENOENT' ? 'check the path' : undefined,
      cause: error,
    });
  }
  // A UTF-8 byte-order mark is legal in files written by some editors; JSON itself forbids it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return parseJson(text, `${what} '${path}'`);
}

/** Writes `value` atomically with a trailing newline, as diffusers' `to_json_file` does. */
export function writeJsonFile(path: string, value: unknown, options: JsonWriteOptions = {}): void {
  writeFileAtomic(path, `${stringifyJson(value, options)}\n`);
}
