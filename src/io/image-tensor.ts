/**
 * Conversions between images and Float32Array tensors in NCHW layout, as diffusers' VaeImageProcessor
 * does them: bytes → `b/255` in float32 → mapped linearly onto `range` (default [−1, 1], i.e.
 * `2·(b/255) − 1`), and back `round(clamp((x − lo)/(hi − lo), 0, 1)·255)` with NumPy's ties-to-even
 * rounding, in float32 throughout so results match diffusers bit for bit. Grey is PIL's "L"
 * (ITU-R 601-2 luma); alpha is composited on white unless the tensor keeps 4 channels. This module
 * converts only: it does not resize, crop or read files.
 */
import { NumericError, ShapeError } from '../util/errors.js';
import { WHITE, checkImage, flattenAlpha, roundHalfEven, type RgbaImage } from './rgba-image.js';

export type ImageChannels = 1 | 3 | 4;

export interface ImageTensorOptions {
  /** 1 grey, 3 RGB (default), 4 RGBA. Alpha is composited on white for 1 and 3. */
  channels?: ImageChannels;
  /** The values black and white map to (default [−1, 1]; [0, 1] is the other common choice). */
  range?: readonly [number, number];
}

export interface ImageTensor {
  /** [N, C, H, W] */
  shape: [number, number, number, number];
  data: Float32Array;
}

const DEFAULT_RANGE = [-1, 1] as const;

/** Images of one size → one [N, C, H, W] tensor. */
export function imagesToTensor(images: readonly RgbaImage[], options: ImageTensorOptions = {}): ImageTensor {
  const channels = checkedChannels(options.channels ?? 3);
  const [lo, hi] = checkedRange(options.range ?? DEFAULT_RANGE);
  if (images.length === 0) throw new ShapeError('cannot make a tensor of zero images');
  const { width, height } = images[0];
  const plane = width * height;
  const data = new Float32Array(images.length * channels * plane);
  // One lookup table per byte value: float32(b/255) mapped onto [lo, hi], then stored as float32.
  const table = Float32Array.from({ length: 256 }, (_, b) => lo + (hi - lo) * Math.fround(b / 255));
  images.forEach((image, n) => {
    checkImage(image, `image ${n}`);
    if (image.width !== width || image.height !== height) {
      throw new ShapeError(
        `image ${n} is ${image.width}×${image.height}, image 0 is ${width}×${height}; all must match`,
        { hint: 'resize or crop them first' },
      );
    }
    const pixels = channels === 4 ? image.data : flattenAlpha(image, WHITE).data;
    const base = n * channels * plane;
    for (let p = 0; p < plane; p++) {
      const i = p * 4;
      if (channels === 1) data[base + p] = table[luma(pixels[i], pixels[i + 1], pixels[i + 2])];
      else for (let c = 0; c < channels; c++) data[base + c * plane + p] = table[pixels[i + c]];
    }
  });
  return { shape: [images.length, channels, height, width], data };
}

/** One image → a [1, C, H, W] tensor. */
export function imageToTensor(image: RgbaImage, options: ImageTensorOptions = {}): ImageTensor {
  return imagesToTensor([image], options);
}

/**
 * A [N, C, H, W] or [C, H, W] tensor (C = 1, 3 or 4) → N images. Values outside `range` are
 * clamped; NaN is refused, since it means the model diverged and a picture would hide that.
 */
export function tensorToImages(
  data: Float32Array,
  shape: readonly number[],
  options: Pick<ImageTensorOptions, 'range'> = {},
): RgbaImage[] {
  const [lo, hi] = checkedRange(options.range ?? DEFAULT_RANGE);
  const [n, channels, height, width] = shape.length === 3 ? [1, ...shape] : shape;
  if (shape.length < 3 || shape.length > 4 || ![1, 3, 4].includes(channels)) {
    throw new ShapeError(
      `image tensor shape ${JSON.stringify(shape)} must be [N, C, H, W] or [C, H, W] with C = 1, 3 or 4`,
    );
  }
  if (!(width > 0 && height > 0) || data.length !== n * channels * height * width) {
    throw new ShapeError(`image tensor shape ${JSON.stringify(shape)} does not fit ${data.length} values`);
  }
  const plane = width * height;
  const images: RgbaImage[] = [];
  for (let k = 0; k < n; k++) {
    const out = new Uint8Array(plane * 4).fill(255);
    const base = k * channels * plane;
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < plane; p++) {
        const index = base + c * plane + p;
        const byte = toByte(data[index], lo, hi);
        if (Number.isNaN(byte)) throw new NumericError(`image tensor holds NaN at index ${index}`);
        if (channels === 1) out.fill(byte, p * 4, p * 4 + 3);
        else out[p * 4 + c] = byte;
      }
    }
    images.push({ width, height, data: out });
  }
  return images;
}

/** diffusers' `(x/2 + 0.5).clamp(0, 1)`, then NumPy `(v·255).round()`, in float32. */
function toByte(x: number, lo: number, hi: number): number {
  const unit = Math.fround((x - lo) / (hi - lo));
  if (Number.isNaN(unit)) return NaN;
  return roundHalfEven(Math.fround(Math.min(1, Math.max(0, unit)) * 255));
}

/** PIL's RGB → "L": L = R·299/1000 + G·587/1000 + B·114/1000, in its 16-bit fixed point. */
function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

function checkedChannels(channels: number): ImageChannels {
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new ShapeError(`image channels must be 1, 3 or 4, got ${channels}`);
  }
  return channels;
}

function checkedRange(range: readonly [number, number]): readonly [number, number] {
  const [lo, hi] = range;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo === hi) {
    throw new ShapeError(`pixel range ${JSON.stringify(range)} must be two different finite numbers`);
  }
  return range;
}
