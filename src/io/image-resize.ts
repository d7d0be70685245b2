/**
 * Resampling and cropping of RGBA images for data preparation. Two filters: `area` averages the source
 * pixels each output pixel covers, weighted by covered fraction (OpenCV's INTER_AREA, PyTorch's
 * `adaptive_avg_pool2d` when sizes divide) — the right choice for shrinking; `bilinear` interpolates
 * between the two nearest source pixels with half-pixel centres and no antialiasing (PyTorch's
 * `interpolate(mode="bilinear", align_corners=False)`) — for enlarging. Both work on premultiplied
 * alpha so transparent pixels do not bleed their colour. Centre crop and shorter-side resize follow
 * torchvision's `CenterCrop` and `Resize(int)`. No file or tensor code here.
 */
import { ShapeError, unknownChoice } from '../util/errors.js';
import { checkImage, checkImageSize, isOpaque, roundHalfEven, type RgbaImage } from './rgba-image.js';

export type ResizeFilter = 'area' | 'bilinear';
const FILTERS: readonly ResizeFilter[] = ['area', 'bilinear'];

/** For each output index along one axis: the first source index and the weights from there on. */
interface AxisTap {
  first: number;
  weights: number[];
}

/** Box coverage: output pixel i covers source interval [i·s, (i+1)·s), s = src/dst. */
function areaTaps(source: number, target: number): AxisTap[] {
  const scale = source / target;
  return Array.from({ length: target }, (_, i) => {
    const begin = i * scale;
    const end = Math.min(source, (i + 1) * scale);
    const first = Math.floor(begin);
    const weights: number[] = [];
    for (let j = first; j < end; j++) weights.push((Math.min(end, j + 1) - Math.max(begin, j)) / scale);
    return { first, weights };
  });
}

/** Half-pixel centres: source position (i + ½)·s − ½, clamped at 0, between floor and floor + 1. */
function bilinearTaps(source: number, target: number): AxisTap[] {
  const scale = source / target;
  return Array.from({ length: target }, (_, i) => {
    const position = Math.max(0, (i + 0.5) * scale - 0.5);
    const first = Math.min(Math.floor(position), source - 1);
    const frac = position - first;
    return first + 1 < source ? { first, weights: [1 - frac, frac] } : { first, weights: [1] };
  });
}

/** The image resampled to width × height. */
export function resizeImage(
  image: RgbaImage,
  width: number,
  height: number,
  filter: ResizeFilter = 'area',
): RgbaImage {
  checkImage(image);
  checkImageSize(width, height, 'resize target');
  if (!FILTERS.includes(filter)) throw unknownChoice('resize filter', filter, FILTERS);
  if (width === image.width && height === image.height) return { ...image, data: image.data.slice() };
  const taps = filter === 'area' ? areaTaps : bilinearTaps;
  const premultiply = !isOpaque(image);
  const source = toFloatPixels(image, premultiply);
  const rows = resampleRows(source, image.width, image.height, taps(image.width, width));
  const out = resampleColumns(rows, width, taps(image.height, height));
  return { width, height, data: toBytes(out, premultiply) };
}

/** RGBA as floats, colour multiplied by alpha/255 when `premultiply`. */
function toFloatPixels(image: RgbaImage, premultiply: boolean): Float32Array {
  const out = Float32Array.from(image.data);
  if (premultiply) {
    for (let i = 0; i < out.length; i += 4) {
      const a = out[i + 3] / 255;
      out[i] *= a;
      out[i + 1] *= a;
      out[i + 2] *= a;
    }
  }
  return out;
}

function toBytes(pixels: Float32Array, premultiplied: boolean): Uint8Array {
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i += 4) {
    const a = pixels[i + 3];
    const unscale = premultiplied ? (a > 0 ? 255 / a : 0) : 1;
    for (let c = 0; c < 3; c++) out[i + c] = clampByte(pixels[i + c] * unscale);
    out[i + 3] = clampByte(a);
  }
  return out;
}

function clampByte(v: number): number {
  return Math.min(255, Math.max(0, Math.round(v)));
}

/** Resamples along x: width·height → targetWidth·height (4 channels). */
function resampleRows(pixels: Float32Array, width: number, height: number, taps: AxisTap[]): Float32Array {
  const out = new Float32Array(taps.length * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < taps.length; x++) {
      const { first, weights } = taps[x];
      const o = (y * taps.length + x) * 4;
      for (let k = 0; k < weights.length; k++) {
        const i = (y * width + first + k) * 4;
        for (let c = 0; c < 4; c++) out[o + c] += weights[k] * pixels[i + c];
      }
    }
  }
  return out;
}

/** Resamples along y: width·height → width·targetHeight (4 channels). */
function resampleColumns(pixels: Float32Array, width: number, taps: AxisTap[]): Float32Array {
  const out = new Float32Array(width * taps.length * 4);
  for (let y = 0; y < taps.length; y++) {
    const { first, weights } = taps[y];
    for (let k = 0; k < weights.length; k++) {
      const row = (first + k) * width * 4;
      const w = weights[k];
      const o = y * width * 4;
      for (let i = 0; i < width * 4; i++) out[o + i] += w * pixels[row + i];
    }
  }
  return out;
}

/** The centre width × height region; offsets rounded as torchvision's `CenterCrop` (ties to even). */
export function centerCrop(image: RgbaImage, width: number, height: number): RgbaImage {
  checkImage(image);
  checkImageSize(width, height, 'crop size');
  if (width > image.width || height > image.height) {
    throw new ShapeError(`cannot crop ${width}×${height} from a ${image.width}×${image.height} image`, {
      hint: 'resize it first (resizeShorterSide)',
    });
  }
  const top = roundHalfEven((image.height - height) / 2);
  const left = roundHalfEven((image.width - width) / 2);
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const start = ((top + y) * image.width + left) * 4;
    out.set(image.data.subarray(start, start + width * 4), y * width * 4);
  }
  return { width, height, data: out };
}

/** Resizes so the shorter side is `size`, keeping aspect ratio (longer side truncated, as torchvision). */
export function resizeShorterSide(image: RgbaImage, size: number, filter: ResizeFilter = 'area'): RgbaImage {
  const portrait = image.height > image.width;
  const [short, long] = portrait ? [image.width, image.height] : [image.height, image.width];
  const newLong = Math.max(1, Math.trunc((size * long) / short));
  return portrait ? resizeImage(image, size, newLong, filter) : resizeImage(image, newLong, size, filter);
}

/** Shorter side to `size`, then the centre `size × size` square: the usual data-set preparation. */
export function resizeAndCenterCrop(
  image: RgbaImage,
  size: number,
  filter: ResizeFilter = 'area',
): RgbaImage {
  return centerCrop(resizeShorterSide(image, size, filter), size, size);
}
