/**
 * The image entry point of the io layer: reads PNG or JPEG files by their content (not their name)
 * and gathers the image API in one import — the RgbaImage type, PNG/JPEG codecs, tensor conversion,
 * resizing and cropping, grids and strips, animated GIF. Each of those lives in its own module; this one
 * only dispatches on the file signature.
 */
import { FormatError } from '../util/errors.js';
import { decodeJpeg, isJpeg } from './jpeg.js';
import { decodePng, isPng } from './png.js';
import { readImageBytes, type RgbaImage } from './rgba-image.js';

export * from './rgba-image.js';
export * from './png.js';
export * from './jpeg.js';
export * from './image-tensor.js';
export * from './image-resize.js';
export * from './image-grid.js';
export * from './gif.js';

/** Decodes PNG or JPEG bytes, whichever their signature says. */
export function decodeImage(bytes: Uint8Array, what = 'image data'): RgbaImage {
  if (isPng(bytes)) return decodePng(bytes, what);
  if (isJpeg(bytes)) return decodeJpeg(bytes, what);
  throw new FormatError(`${what} is neither a PNG nor a JPEG file`, {
    hint: 'convert it to PNG',
  });
}

/** Reads a PNG or JPEG file. */
export function readImage(path: string): RgbaImage {
  return decodeImage(readImageBytes(path), `'${path}'`);
}
