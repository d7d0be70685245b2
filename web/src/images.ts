/**
 * The forward explorer's built-in images: one MNIST test digit per class (bundled at build time from
 * the project's MNIST loader, 28×28 greyscale) and a generated 32×32 colour pattern. Images are [C, H, W]
 * float arrays in [−1, 1], the range the models train on (x = 2·byte/255 − 1, as src/data/mnist.ts).
 *
 * This module must not noise images or draw them; it only provides them and converts values to bytes.
 */
import digits from 'virtual:mnist-digits';

export interface PlaygroundImage {
  id: string;
  label: string;
  channels: 1 | 3;
  width: number;
  height: number;
  /** [C, H, W] in [−1, 1]. */
  values: Float32Array;
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function digitImage(entry: { label: number; index: number; pixels: string }): PlaygroundImage {
  const bytes = decodeBase64(entry.pixels);
  return {
    id: `mnist-${entry.label}`,
    label: `MNIST digit ${entry.label} (test image ${entry.index})`,
    channels: 1,
    width: digits.side,
    height: digits.side,
    values: Float32Array.from(bytes, (b) => (2 * b) / 255 - 1),
  };
}

/**
 * A 32×32 colour test pattern: red varies with the radius (rings), green with the angle (six sectors),
 * blue is a horizontal ramp — structure at several scales, so noise visibly destroys the fine rings first.
 */
function patternImage(): PlaygroundImage {
  const side = 32;
  const values = new Float32Array(3 * side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const dx = x - (side - 1) / 2;
      const dy = y - (side - 1) / 2;
      const k = y * side + x;
      values[k] = Math.cos(Math.hypot(dx, dy) * 0.9);
      values[side * side + k] = Math.sign(Math.sin(3 * Math.atan2(dy, dx))) * 0.8;
      values[2 * side * side + k] = (2 * x) / (side - 1) - 1;
    }
  }
  return { id: 'pattern', label: 'Colour pattern (32×32)', channels: 3, width: side, height: side, values };
}

/** Every built-in image: the ten digits, then the pattern. */
export function builtInImages(): PlaygroundImage[] {
  return [...digits.digits.map(digitImage), patternImage()];
}

/** RGBA bytes of [C, H, W] values in [−1, 1]: byte = round(255·(x + 1)/2), clamped; grey repeats C = 1. */
export function toRgba(
  values: Float32Array,
  image: Pick<PlaygroundImage, 'channels' | 'width' | 'height'>,
): Uint8ClampedArray {
  const plane = image.width * image.height;
  const rgba = new Uint8ClampedArray(4 * plane);
  for (let k = 0; k < plane; k++) {
    for (let c = 0; c < 3; c++) {
      const v = values[(image.channels === 1 ? 0 : c) * plane + k];
      rgba[4 * k + c] = Math.round((255 * (v + 1)) / 2);
    }
    rgba[4 * k + 3] = 255;
  }
  return rgba;
}
