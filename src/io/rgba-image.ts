/**
 * The one in-memory image type of the io layer: 8-bit RGBA pixels, row-major, top row first, four
 * bytes per pixel whatever the file held (grey, RGB, palette). Codecs decode into it and encode from it;
 * tensor conversion, resizing and grids take and return it. This module holds the type and what every
 * producer of one shares (size limits and checks, alpha flattening, reading a file's bytes, rounding);
 * it knows no file format.
 */
import { readFileSync } from 'node:fs';
import { FormatError, NotFoundError, ShapeError } from '../util/errors.js';

export interface RgbaImage {
  width: number;
  height: number;
  /** width·height·4 bytes: R, G, B, A per pixel. */
  data: Uint8Array;
}

/** An RGBA colour, each channel 0–255. */
export type Rgba = readonly [number, number, number, number];

export const WHITE: Rgba = [255, 255, 255, 255];
export const BLACK: Rgba = [0, 0, 0, 255];

/**
 * Largest image we decode or allocate: 2^27 pixels (512 MB as RGBA, e.g. 11585×11585). A file's
 * header can claim any size; checking it first keeps a corrupt or hostile file from exhausting memory.
 */
export const MAX_IMAGE_PIXELS = 2 ** 27;

/** Throws unless width and height are positive integers within MAX_IMAGE_PIXELS. */
export function checkImageSize(width: number, height: number, what: string): void {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new FormatError(`${what}: image size ${width}×${height} must be positive integers`);
  }
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new FormatError(
      `${what}: image of ${width}×${height} pixels exceeds the limit of ${MAX_IMAGE_PIXELS} pixels`,
    );
  }
}

/** A new image filled with one colour. */
export function blankImage(width: number, height: number, color: Rgba = WHITE): RgbaImage {
  checkImageSize(width, height, 'new image');
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set(color, i);
  return { width, height, data };
}

/** Throws a ShapeError unless `image.data` holds exactly width·height RGBA pixels. */
export function checkImage(image: RgbaImage, what = 'image'): void {
  if (
    !Number.isSafeInteger(image.width) ||
    !Number.isSafeInteger(image.height) ||
    image.width < 1 ||
    image.height < 1
  ) {
    throw new ShapeError(`${what}: size ${image.width}×${image.height} must be positive integers`);
  }
  if (!(image.data instanceof Uint8Array) || image.data.length !== image.width * image.height * 4) {
    throw new ShapeError(
      `${what}: ${image.width}×${image.height} RGBA needs ${image.width * image.height * 4} bytes, got ${image.data?.length}`,
    );
  }
}

/** True when every pixel is fully opaque. */
export function isOpaque(image: RgbaImage): boolean {
  for (let i = 3; i < image.data.length; i += 4) if (image.data[i] !== 255) return false;
  return true;
}

/** True when every pixel has R = G = B. */
export function isGrey(image: RgbaImage): boolean {
  const d = image.data;
  for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return false;
  return true;
}

/**
 * The image over an opaque background colour: out = a·c + (1 − a)·background per channel, rounded.
 * Transparent pixels become the background, so "composited on white" is `flattenAlpha(image, WHITE)`.
 */
export function flattenAlpha(image: RgbaImage, background: Rgba = WHITE): RgbaImage {
  const d = image.data;
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i += 4) {
    const a = d[i + 3];
    for (let c = 0; c < 3; c++) out[i + c] = Math.round((d[i + c] * a + background[c] * (255 - a)) / 255);
    out[i + 3] = 255;
  }
  return { width: image.width, height: image.height, data: out };
}

/** The bytes of an image file, or a NotFoundError naming it. */
export function readImageBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new NotFoundError(`cannot read image '${path}'${code ? ` (${code})` : ''}`, { cause: error });
  }
}

/** Nearest integer, ties to even, as NumPy's `round` and Python's `round` (used for parity with them). */
export function roundHalfEven(v: number): number {
  const floor = Math.floor(v);
  const rest = v - floor;
  if (rest > 0.5 || (rest === 0.5 && floor % 2 !== 0)) return floor + 1;
  return floor;
}
