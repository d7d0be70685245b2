/**
 * Captioned datasets for text-to-image training: a dataset plus one caption per example, carried in
 * `Dataset.captions` and handed out with each batch (`Batch.captions`). Two built-ins:
 * `mnist-captions` — MNIST digits with template captions ("a handwritten seven", "the digit 7",
 * "a drawing of the number seven", …) — and `emoji-captions` — the emoji images with their names and
 * short names ("an emoji of a grinning face", "grinning emoji", …). Which template or name an example
 * gets is a pure function of (seed, index), so a caption never changes between epochs or runs.
 *
 * This module must not tokenize; captions stay strings until a text encoder's tokenizer sees them.
 */
import { z } from 'zod';
import { ShapeError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import type { Batch, Dataset } from './dataset.js';
import { checkIndices, parseOptions } from './dataset.js';
import type { EmojiEntry } from './emoji.js';

/** English names of the digits, index = digit. */
export const DIGIT_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/**
 * `a` or `an` before `word`, by its first sound: a vowel letter, except words that start with a
 * consonant sound ("one", "unicorn", "euro"), plus a silent h ("hour", "honest").
 */
function article(word: string): string {
  if (/^(one|once|uni|use|usu|eu|ew)/i.test(word)) return 'a';
  if (/^(hour|honest|honou?r|heir)/i.test(word)) return 'an';
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

type DigitTemplate = (word: string, digit: number) => string;

/** The MNIST caption templates; each names the digit as a word or as a numeral. */
export const MNIST_CAPTION_TEMPLATES: readonly DigitTemplate[] = [
  (w) => `a handwritten ${w}`,
  (_, d) => `the digit ${d}`,
  (w) => `a drawing of the number ${w}`,
  (w) => `a handwritten digit ${w}`,
  (_, d) => `the number ${d}, handwritten`,
  (w) => `${article(w)} ${w} written by hand`,
  (_, d) => `a black and white image of the digit ${d}`,
  (w) => `a sketch of ${article(w)} ${w}`,
  (_, d) => `handwritten ${d}`,
  (w) => `the number ${w}`,
];

/**
 * A well-mixed 32-bit hash of (seed, index) (the murmur3 finaliser over both words), so consecutive
 * indices pick unrelated templates.
 */
export function captionHash(seed: number, index: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ (index | 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The caption of an MNIST example with label `digit` at `index` under `seed`. */
export function mnistCaption(digit: number, index: number, seed = 0): string {
  const template = MNIST_CAPTION_TEMPLATES[captionHash(seed, index) % MNIST_CAPTION_TEMPLATES.length];
  return template(DIGIT_WORDS[digit], digit);
}

/** The readable names of an emoji: its Unicode name and its short names, lower-case, `_`/`-` as spaces. */
export function emojiNames(entry: EmojiEntry): string[] {
  const spoken = (name: string) => name.toLowerCase().replace(/[_-]+/g, ' ').replace(/\s+/g, ' ').trim();
  const names = [entry.name, ...entry.shortNames].map(spoken).filter((n) => n !== '');
  return [...new Set(names)];
}

/** The caption of emoji `entry` at `index` under `seed`: one of its names, in one of three phrasings. */
export function emojiCaption(entry: EmojiEntry, index: number, seed = 0): string {
  const names = emojiNames(entry);
  const hash = captionHash(seed, index);
  const name = names[hash % names.length];
  const phrasing = Math.floor(hash / names.length) % 3;
  if (phrasing === 0) return name;
  if (phrasing === 1) return `an emoji of ${article(name)} ${name}`;
  return `${name} emoji`;
}

/** `dataset` with one caption per example; batches carry the captions of their indices. */
export function captionedDataset(dataset: Dataset, captions: readonly string[], name?: string): Dataset {
  if (captions.length !== dataset.size) {
    throw new ShapeError(
      `dataset '${dataset.name}' has ${dataset.size} examples but ${captions.length} captions`,
    );
  }
  const captioned: Dataset = {
    name: name ?? dataset.name,
    shape: dataset.shape,
    size: dataset.size,
    numClasses: dataset.numClasses,
    classNames: dataset.classNames,
    description: `${dataset.description}, one caption per example`,
    captions,
    batch(indices: ArrayLike<number>, random?: Random): Batch {
      checkIndices(captioned, indices);
      return { ...dataset.batch(indices, random), captions: Array.from(indices, (i) => captions[i]) };
    },
  };
  return captioned;
}

const seedOption = z.object({ seed: z.number().int().default(0) }).passthrough();

/** MNIST (options as `mnist`, plus `seed` choosing the templates) with template captions. */
export async function mnistCaptionsDataset(options: Record<string, unknown> = {}): Promise<Dataset> {
  const { seed, ...rest } = parseOptions('mnist-captions', seedOption, options);
  const { mnistDataset } = await import('./mnist.js');
  const digits = mnistDataset(rest);
  const labels = digits.labels!;
  const captions = Array.from(labels, (digit, i) => mnistCaption(digit, i, seed));
  return captionedDataset(digits, captions, digits.name.replace(/^mnist/, 'mnist-captions'));
}

/** The emoji (options as `emoji`, plus `seed` choosing name and phrasing) captioned with their names. */
export async function emojiCaptionsDataset(options: Record<string, unknown> = {}): Promise<Dataset> {
  const { seed, ...rest } = parseOptions('emoji-captions', seedOption, options);
  const { emojiDataset } = await import('./emoji.js');
  const emoji = emojiDataset(rest);
  const captions = emoji.entries.map((entry, i) => emojiCaption(entry, i, seed));
  return captionedDataset(emoji, captions, 'emoji-captions');
}
