/**
 * Parsing of command-line flag values shared by the subcommands: each helper turns the flag's text into
 * a checked number or choice, or throws a one-line UsageError (exit 2) that names the flag, what was
 * given and what is valid.
 *
 * This module must not know any subcommand; it only validates single values.
 */
import { UsageError } from '../util/errors.js';

/** An integer flag within [min, max]. */
export function integerFlag(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`;
    throw new UsageError(`${flag} must be an integer ${range}, got '${text}'`);
  }
  return value;
}

/** A finite number flag within [min, max] (exclusive of min when `exclusiveMin`). */
export function numberFlag(
  flag: string,
  text: string,
  min: number,
  max = Infinity,
  exclusiveMin = false,
): number {
  const value = Number(text);
  const aboveMin = exclusiveMin ? value > min : value >= min;
  if (text.trim() === '' || !Number.isFinite(value) || !aboveMin || value > max) {
    const low = exclusiveMin ? `> ${min}` : `≥ ${min}`;
    const range = max === Infinity ? low : `${low} and ≤ ${max}`;
    throw new UsageError(`${flag} must be a number ${range}, got '${text}'`);
  }
  return value;
}

/** One of `valid`, or a UsageError listing them. */
export function choiceFlag(flag: string, text: string, valid: readonly string[]): string {
  if (!valid.includes(text)) {
    throw new UsageError(`${flag}: unknown value '${text}'`, { hint: `valid values: ${valid.join(', ')}` });
  }
  return text;
}
