/**
 * Image uploads of the HTTP service: a PNG or JPEG sent as base64 text in a JSON field (optionally as a
 * `data:image/…;base64,` URL). Every size check runs before anything is decoded: the byte count is
 * computed from the base64 length before the text is turned into bytes, and the width and height are
 * read from the file header (PNG's IHDR chunk, JPEG's start-of-frame segment) before a single pixel is
 * inflated. Too many bytes or pixels is a 413; a size other than the one the request needs (the model's,
 * or the image's for a mask) is a 400 naming the field; text that is not an image is a 400 as well.
 *
 * This module must not run a model or know about routes; it only turns one untrusted field into pixels.
 */
import { decodeImage, isJpeg, isPng, type RgbaImage } from '../io/images.js';
import { FormatError, UsageError } from '../util/errors.js';
import { HttpStatusError } from './http-errors.js';

/** What one upload may weigh. */
export interface UploadLimits {
  /** Largest decoded file of one image field, in bytes. */
  readonly maxBytes: number;
  /** Most pixels (width × height, from the header) of one image. */
  readonly maxPixels: number;
  /** Largest body of an upload route, in bytes (two base64 images plus the other fields). */
  readonly bodyLimit: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxBytes: 1024 * 1024,
  maxPixels: 1024 * 1024,
  // Base64 is 4 characters per 3 bytes; an inpaint body carries an image and a mask.
  bodyLimit: Math.ceil((2 * 4 * 1024 * 1024) / 3) + 16 * 1024,
};

/** Width and height of an image, as its header states them. */
export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

const DATA_URL = /^data:image\/(?:png|jpeg);base64,/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The base64 text of a field (a data URL's prefix removed), or a UsageError naming the field. */
export function base64Text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new UsageError(`invalid '${field}': expected a base64-encoded PNG or JPEG string`);
  }
  const text = value.replace(DATA_URL, '');
  if (text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new UsageError(`invalid '${field}': not base64 text (A–Z a–z 0–9 + /, padded with =)`);
  }
  return text;
}

/** Bytes that valid base64 `text` decodes to (3 per 4 characters, less the padding). */
export function decodedLength(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

const PNG_IHDR_END = 24;
/** JPEG start-of-frame markers C0–CF, except C4 (DHT), C8 (JPG) and CC (DAC), which are not frames. */
const isStartOfFrame = (marker: number) =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
/** Markers with no length field: TEM (01) and RST0–RST7 (D0–D7). */
const isStandalone = (marker: number) => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);
const START_OF_SCAN = 0xda;

/** The size a PNG states in its IHDR chunk (the first chunk: length, "IHDR", width, height). */
function pngSize(bytes: Uint8Array): ImageSize {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < PNG_IHDR_END || view.toString('latin1', 12, 16) !== 'IHDR') {
    throw new FormatError('the PNG file has no IHDR chunk');
  }
  return { width: view.readUInt32BE(16), height: view.readUInt32BE(20) };
}

/** The size a JPEG states in its start-of-frame segment, found by walking the segment lengths. */
function jpegSize(bytes: Uint8Array): ImageSize {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 2;
  while (at + 4 <= view.length) {
    if (view[at] !== 0xff) throw new FormatError(`the JPEG file has no marker at byte ${at}`);
    const marker = view[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte before a marker
    } else if (isStandalone(marker)) {
      at += 2;
    } else if (marker === START_OF_SCAN) {
      break;
    } else if (isStartOfFrame(marker)) {
      if (at + 9 > view.length) break;
      return { height: view.readUInt16BE(at + 5), width: view.readUInt16BE(at + 7) };
    } else {
      at += 2 + view.readUInt16BE(at + 2);
    }
  }
  throw new FormatError('the JPEG file has no start-of-frame segment before its image data');
}

/** The width and height in the header of PNG or JPEG bytes, without decoding any pixel. */
export function headerSize(bytes: Uint8Array): ImageSize {
  if (isPng(bytes)) return pngSize(bytes);
  if (isJpeg(bytes)) return jpegSize(bytes);
  throw new FormatError('neither a PNG nor a JPEG file');
}

/** A 413 for an upload over the limits. */
const tooLarge = (message: string) => new HttpStatusError(413, 'upload-too-large', message);

/** A UsageError about the field, keeping a format error's message. */
function fieldError(error: unknown, field: string): unknown {
  if (!(error instanceof FormatError)) return error;
  return new UsageError(`invalid '${field}': ${error.message}`, { cause: error });
}

export interface UploadRequirement {
  /** The size the image must have; its header is compared before decoding. */
  readonly size?: ImageSize;
  /** What `size` is, for the message: "the model's size", "the size of 'image'". */
  readonly sizeOf?: string;
}

/**
 * The image in field `field`, decoded once every check has passed: the base64 alphabet, the byte count
 * (413 over `limits.maxBytes`), the header's pixel count (413 over `limits.maxPixels`) and, when
 * `required.size` is given, the header's width × height (400 when it differs).
 */
export function decodeUpload(
  value: unknown,
  field: string,
  limits: UploadLimits,
  required: UploadRequirement = {},
): RgbaImage {
  const text = base64Text(value, field);
  const length = decodedLength(text);
  if (length > limits.maxBytes) {
    throw tooLarge(
      `'${field}' holds ${length} bytes; this server takes images up to ${limits.maxBytes} bytes`,
    );
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  let size: ImageSize;
  try {
    size = headerSize(bytes);
  } catch (error) {
    throw fieldError(error, field);
  }
  const pixels = size.width * size.height;
  if (pixels > limits.maxPixels) {
    throw tooLarge(
      `'${field}' is ${size.width}×${size.height} (${pixels} pixels); this server takes images up to ${limits.maxPixels} pixels`,
    );
  }
  const wanted = required.size;
  if (wanted && (size.width !== wanted.width || size.height !== wanted.height)) {
    throw new UsageError(
      `invalid '${field}': it is ${size.width}×${size.height} but ${required.sizeOf ?? 'the required size'} is ${wanted.width}×${wanted.height}`,
      { hint: `send a ${wanted.width}×${wanted.height} image; the service does not resize` },
    );
  }
  try {
    return decodeImage(bytes, `'${field}'`);
  } catch (error) {
    throw fieldError(error, field);
  }
}
