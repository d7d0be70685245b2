/**
 * JPEG reading through jpeg-js (pure JavaScript, baseline and progressive). Returns 8-bit RGBA with
 * alpha 255. The decoder's own limits on resolution and memory are set from MAX_IMAGE_PIXELS so a
 * hostile header cannot exhaust memory. Writing JPEG is left out on purpose: it is lossy, and every
 * image this project writes is a result that must be kept exactly (PNG).
 */
import jpeg from 'jpeg-js';
import { FormatError } from '../util/errors.js';
import { MAX_IMAGE_PIXELS, checkImageSize, readImageBytes, type RgbaImage } from './rgba-image.js';

/** True when `bytes` start with a JPEG start-of-image marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** Decodes JPEG bytes; `what` names the source in errors. */
export function decodeJpeg(bytes: Uint8Array, what = 'JPEG data'): RgbaImage {
  if (!isJpeg(bytes)) throw new FormatError(`${what} is not a JPEG file (no start-of-image marker)`);
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      maxMemoryUsageInMB: Math.ceil((MAX_IMAGE_PIXELS * 8) / 2 ** 20),
    });
  } catch (error) {
    throw new FormatError(`${what} is not a valid JPEG: ${(error as Error).message}`, { cause: error });
  }
  checkImageSize(decoded.width, decoded.height, what);
  return { width: decoded.width, height: decoded.height, data: decoded.data };
}

/** Reads a JPEG file. */
export function readJpeg(path: string): RgbaImage {
  return decodeJpeg(readImageBytes(path), `'${path}'`);
}
