/**
 * Validation of network configs at the boundary, shared by the networks whose `config.json` is a zod
 * schema: parse with defaults filled in, stamp `_class_name`, and turn the first schema issue into a
 * ConfigError naming the class and the offending key. This module must not know any network's keys
 * or cross-field rules; those stay with the network.
 */
import { z } from 'zod';
import { ConfigError } from '../util/errors.js';

/** A config field that must be a positive integer (widths, counts, sizes). */
export const positiveInt = z.number().int().positive();

/** `input` parsed by `schema`, with `_class_name` set; ConfigError names the key and the file to check. */
export function parseModelConfig<T extends object, C extends string>(
  schema: z.ZodType<T>,
  input: unknown,
  className: C,
): T & { _class_name: C } {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `'${issue.path.join('.')}' ` : '';
    throw new ConfigError(`${className} config: ${where}${issue.message}`, {
      hint: `check the keys of the ${className} config.json`,
    });
  }
  return { ...parsed.data, _class_name: className };
}
