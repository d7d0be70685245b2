/**
 * PNG reading and writing through pngjs. Reading accepts every PNG colour type and bit depth and
 * returns 8-bit RGBA (16-bit samples are scaled to 8 bits); the size in the IHDR chunk is checked
 * before pngjs allocates anything. Writing is lossless for 8-bit RGBA data and picks the smallest colour
 * type that holds the image exactly (grey, grey+alpha, RGB or RGBA). Writes are atomic.
 */
import { PNG } from 'pngjs';
import { FormatError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import {
  checkImage,
  checkImageSize,
  isGrey,
  isOpaque,
  readImageBytes,
  type RgbaImage,
} from './rgba-image.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when `bytes` start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Deflate expands at most 1032:1 (a 258-byte match per 2-bit code), so zlib data can never hold more. */
const MAX_DEFLATE_RATIO = 1032;
/** Samples per pixel of each PNG colour type (grey, RGB, palette, grey+alpha, RGBA). */
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Total length of the IDAT chunks (the compressed pixel data). */
function idatBytes(bytes: Uint8Array, view: DataView): number {
  let total = 0;
  for (let offset = 8; offset + 8 <= bytes.length; offset += 12 + view.getUint32(offset)) {
    if (String.fromCharCode(...bytes.subarray(offset + 4, offset + 8)) === 'IDAT')
      total += view.getUint32(offset);
  }
  return total;
}

/**
 * Rejects a header whose size the compressed data cannot fill: pngjs allocates width·height·4 bytes
 * from the header alone, so a 70-byte file claiming 8000×8000 pixels would cost 256 MB and decode to
 * garbage instead of an error.
 */
function checkDataFillsImage(bytes: Uint8Array, view: DataView, what: string): void {
  const [width, height] = [view.getUint32(16), view.getUint32(20)];
  const bitsPerPixel = (CHANNELS[bytes[25]] ?? 1) * bytes[24];
  const rawBytes = Math.floor((width * height * bitsPerPixel) / 8); // a lower bound, filter bytes aside
  const compressed = idatBytes(bytes, view);
  if (rawBytes > compressed * MAX_DEFLATE_RATIO) {
    throw new FormatError(
      `${what}: ${compressed} bytes of image data cannot hold the ${width}×${height} pixels its header claims`,
      { hint: 'the file is truncated or corrupt' },
    );
  }
}

/** Decodes PNG bytes; `what` names the source in errors. */
export function decodePng(bytes: Uint8Array, what = 'PNG data'): RgbaImage {
  if (!isPng(bytes)) throw new FormatError(`${what} is not a PNG file (bad signature)`);
  if (bytes.length < 33 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') {
    throw new FormatError(`${what} is truncated or lacks its IHDR chunk`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkImageSize(view.getUint32(16), view.getUint32(20), what);
  checkDataFillsImage(bytes, view, what);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new FormatError(`${what} is not a valid PNG: ${(error as Error).message}`, { cause: error });
  }
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

/** Reads a PNG file. */
export function readPng(path: string): RgbaImage {
  return decodePng(readImageBytes(path), `'${path}'`);
}

/** The smallest PNG colour type that holds the image without loss: 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA. */
function losslessColorType(image: RgbaImage): 0 | 2 | 4 | 6 {
  const grey = isGrey(image);
  if (isOpaque(image)) return grey ? 0 : 2;
  return grey ? 4 : 6;
}

/** PNG bytes of an image (8 bits per sample, lossless). */
export function encodePng(image: RgbaImage): Uint8Array {
  checkImage(image, 'PNG image');
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const bytes = PNG.sync.write(png, { colorType: losslessColorType(image), inputColorType: 6 });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Writes an image as a PNG file, atomically. */
export function writePng(path: string, image: RgbaImage): void {
  writeFileAtomic(path, encodePng(image));
}
