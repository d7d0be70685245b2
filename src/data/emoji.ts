/**
 * Colour emoji images from the `emoji-datasource-google` npm package (Google's Noto emoji images with
 * the catalogue of the emoji-data project). The package ships every glyph in one PNG sprite sheet
 * per size (16, 20, 32, 64 px; each glyph in a square with a 1-pixel transparent border, at
 * x = sheet_x·(size + 2) + 1). One sheet decode is far cheaper than ~1,900 small files, so the sheet is
 * the source: the smallest one at least as large as the requested size is decoded (once per process),
 * each glyph is cut out, composited on white and, when the sizes differ, shrunk with area averaging.
 * We read the "clean" sheets, which hold Google's own images only (no other vendor's fallbacks).
 *
 * Examples are 3×S×S RGB in [−1, 1] (S = 32 by default), labelled by emoji category in the catalogue's
 * order (Smileys & Emotion, People & Body, Animals & Nature, …, Flags). Left out: the five skin-tone
 * swatches (category Component, not pictures), skin-tone variants (near-duplicates of their base
 * glyph) and glyphs the catalogue marks obsolete (duplicates of their replacement). Each example keeps
 * its name and short names for captions.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { FormatError, NotFoundError, UsageError } from '../util/errors.js';
import { flattenAlpha, readPng, resizeImage, WHITE, type RgbaImage } from '../io/images.js';
import { ByteImageDataset, parseOptions } from './dataset.js';
import { writeChannelFirst } from './image-folder.js';

/** One emoji of the catalogue, as kept with the dataset for captions. */
export interface EmojiEntry {
  /** Unicode name, e.g. "GRINNING FACE". */
  name: string;
  /** The primary short name, e.g. "grinning". */
  shortName: string;
  shortNames: string[];
  /** Code points in hex joined by '-', e.g. "1F600". */
  unified: string;
  category: string;
  subcategory: string;
  sheetX: number;
  sheetY: number;
}

/** Sheet sizes the package ships. */
export const EMOJI_SHEET_SIZES = [16, 20, 32, 64] as const;
const EXCLUDED_CATEGORIES = new Set(['Component']);

interface RawEmoji {
  name: string | null;
  short_name: string;
  short_names: string[];
  unified: string;
  category: string;
  subcategory: string;
  sheet_x: number;
  sheet_y: number;
  sort_order: number;
  has_img_google: boolean;
  obsoleted_by?: string;
}

function packageFolder(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('emoji-datasource-google/package.json'));
  } catch (error) {
    throw new NotFoundError('the emoji data package is not installed', {
      hint: 'run npm install (it is the dependency "emoji-datasource-google")',
      cause: error,
    });
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new FormatError(`cannot read emoji catalogue '${path}'`, { cause: error });
  }
}

/** The emoji categories used as classes, in the catalogue's order. */
export function emojiCategories(): string[] {
  const categories = readJson(join(packageFolder(), 'categories.json')) as Record<string, unknown>;
  return Object.keys(categories).filter((name) => !EXCLUDED_CATEGORIES.has(name));
}

/** The emoji the dataset holds, in the catalogue's sort order (see the module header for what is left out). */
export function emojiCatalogue(): EmojiEntry[] {
  const raw = readJson(join(packageFolder(), 'emoji.json'));
  if (!Array.isArray(raw)) throw new FormatError('emoji catalogue emoji.json must hold a list');
  return (raw as RawEmoji[])
    .filter((e) => e.has_img_google && !e.obsoleted_by && !EXCLUDED_CATEGORIES.has(e.category))
    .sort((a, b) => a.sort_order - b.sort_order)
    .map((e) => ({
      name: e.name ?? e.short_name,
      shortName: e.short_name,
      shortNames: e.short_names,
      unified: e.unified,
      category: e.category,
      subcategory: e.subcategory,
      sheetX: e.sheet_x,
      sheetY: e.sheet_y,
    }));
}

const sheets = new Map<number, RgbaImage>();

/** The decoded clean sprite sheet of one glyph size (cached). */
function spriteSheet(size: number): RgbaImage {
  let sheet = sheets.get(size);
  if (!sheet) {
    sheet = readPng(join(packageFolder(), 'img', 'google', 'sheets-clean', `${size}.png`));
    sheets.set(size, sheet);
  }
  return sheet;
}

/** The smallest shipped sheet size ≥ `imageSize` (shrinking loses less than enlarging). */
function sheetSizeFor(imageSize: number): number {
  return EMOJI_SHEET_SIZES.find((size) => size >= imageSize) ?? EMOJI_SHEET_SIZES.at(-1)!;
}

/** One glyph cut from its sheet (RGBA, with transparency). */
export function emojiGlyph(entry: EmojiEntry, sheetSize: number): RgbaImage {
  const sheet = spriteSheet(sheetSize);
  const left = entry.sheetX * (sheetSize + 2) + 1;
  const top = entry.sheetY * (sheetSize + 2) + 1;
  if (left + sheetSize > sheet.width || top + sheetSize > sheet.height) {
    throw new FormatError(`emoji '${entry.shortName}' lies outside the ${sheetSize}px sprite sheet`);
  }
  const data = new Uint8Array(sheetSize * sheetSize * 4);
  for (let y = 0; y < sheetSize; y++) {
    const start = ((top + y) * sheet.width + left) * 4;
    data.set(sheet.data.subarray(start, start + sheetSize * 4), y * sheetSize * 4);
  }
  return { width: sheetSize, height: sheetSize, data };
}

const emojiOptions = z
  .object({
    /** Side of the square images, 8–64 (default 32, the sheets' native size). */
    imageSize: z.number().int().min(8).max(64).default(32),
    /** Keep only these categories (default: all); labels still index the full category list. */
    categories: z.array(z.string()).optional(),
    /** Mirror images left–right at random when batches are gathered with a generator (default false). */
    flip: z.boolean().default(false),
  })
  .strict();

export type EmojiOptions = z.input<typeof emojiOptions>;

/** The emoji dataset; `entries[i]` names example i. */
export class EmojiDataset extends ByteImageDataset {
  readonly entries: readonly EmojiEntry[];

  constructor(spec: ConstructorParameters<typeof ByteImageDataset>[0] & { entries: readonly EmojiEntry[] }) {
    super(spec);
    this.entries = spec.entries;
  }

  /** A short caption for example `index`, e.g. "grinning face (Smileys & Emotion)". */
  caption(index: number): string {
    const entry = this.entries[index];
    return `${entry.name.toLowerCase()} (${entry.category})`;
  }
}

/** Emoji as 3×S×S images in [−1, 1] on white, labelled by category. */
export function emojiDataset(options: EmojiOptions | Record<string, unknown> = {}): EmojiDataset {
  const { imageSize, categories: wanted, flip } = parseOptions('emoji', emojiOptions, options);
  const categories = emojiCategories();
  for (const name of wanted ?? []) {
    if (!categories.includes(name)) {
      throw new UsageError(`unknown emoji category '${name}'`, { hint: `valid: ${categories.join(', ')}` });
    }
  }
  const entries = emojiCatalogue().filter((e) => !wanted || wanted.includes(e.category));
  const sheetSize = sheetSizeFor(imageSize);
  const plane = imageSize * imageSize;
  const pixels = new Uint8Array(entries.length * 3 * plane);
  const labels = new Int32Array(entries.length);
  entries.forEach((entry, i) => {
    const label = categories.indexOf(entry.category);
    if (label < 0)
      throw new FormatError(`emoji '${entry.shortName}' has unknown category '${entry.category}'`);
    labels[i] = label;
    let glyph = flattenAlpha(emojiGlyph(entry, sheetSize), WHITE);
    if (sheetSize !== imageSize) glyph = resizeImage(glyph, imageSize, imageSize, 'area');
    writeChannelFirst(glyph, 3, pixels.subarray(i * 3 * plane, (i + 1) * 3 * plane));
  });
  return new EmojiDataset({
    name: 'emoji',
    shape: [3, imageSize, imageSize],
    pixels,
    labels,
    numClasses: categories.length,
    classNames: categories,
    description: `Google colour emoji 3x${imageSize}x${imageSize} RGB on white, labelled by category`,
    flip,
    entries,
  });
}
