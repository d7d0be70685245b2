/**
 * Drawing an inpainting mask over an image with the pointer: the canvas holds the image at its own
 * resolution (scaled up by CSS), and pressing and dragging a pointer paints a round brush of the chosen
 * radius into the mask, one canvas pixel per image pixel; painted pixels show tinted red over the
 * image. The mask is one byte per pixel, 1 = fill (to be generated), 0 = keep, and `pipelineMask` turns it
 * into the pipeline's 1 = keep mask for every channel.
 *
 * This module must not run a model; it only edits and shows the mask.
 */
import type { EditInput } from '../../src/pipelines/img2img.js';
import { toRgba } from './images.js';
import { drawImage } from './plot.js';

/** An image the editor shows: [C, H, W] values in [−1, 1]. */
export interface EditorImage {
  channels: 1 | 3;
  width: number;
  height: number;
  values: Float32Array;
}

/** How much of the red tint a masked pixel takes (the rest is the image). */
const TINT = 0.55;

/** The pipeline's keep mask [C, H, W] (1 = keep, 0 = fill) of a fill mask of H·W bytes. */
export function pipelineMask(fill: Uint8Array, channels: number, height: number, width: number): EditInput {
  const plane = height * width;
  const data = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) for (let p = 0; p < plane; p++) data[c * plane + p] = fill[p] ? 0 : 1;
  return { data, shape: [channels, height, width] };
}

export class MaskEditor {
  image: EditorImage | null = null;
  /** 1 = fill, 0 = keep; one byte per pixel. */
  fill = new Uint8Array(0);
  /** Brush radius in image pixels: a pixel is painted when its centre lies within it. */
  brush = 2;
  private drawing = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly onChange: (filled: number) => void = () => {},
  ) {
    canvas.addEventListener('pointerdown', (event) => {
      if (!this.image) return;
      this.drawing = true;
      // Keeps the stroke when the pointer leaves the canvas; a synthetic event has no pointer to capture.
      if (event.isTrusted) canvas.setPointerCapture(event.pointerId);
      this.paintAt(event);
    });
    canvas.addEventListener('pointermove', (event) => {
      if (this.drawing) this.paintAt(event);
    });
    const stop = () => {
      this.drawing = false;
    };
    canvas.addEventListener('pointerup', stop);
    canvas.addEventListener('pointercancel', stop);
  }

  /** Shows `image` with an empty mask. */
  show(image: EditorImage): void {
    this.image = image;
    this.fill = new Uint8Array(image.width * image.height);
    this.redraw();
  }

  clear(): void {
    this.fill.fill(0);
    this.redraw();
  }

  /** Pixels marked to fill. */
  get filled(): number {
    return this.fill.reduce((n, v) => n + v, 0);
  }

  /** Paints the brush at the image pixel under the pointer. */
  private paintAt(event: PointerEvent): void {
    const image = this.image!;
    const rect = this.canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * image.width;
    const y = ((event.clientY - rect.top) / rect.height) * image.height;
    const r = this.brush;
    for (let py = Math.floor(y - r); py <= Math.ceil(y + r); py++) {
      for (let px = Math.floor(x - r); px <= Math.ceil(x + r); px++) {
        if (px < 0 || py < 0 || px >= image.width || py >= image.height) continue;
        if ((px + 0.5 - x) ** 2 + (py + 0.5 - y) ** 2 <= r * r) this.fill[py * image.width + px] = 1;
      }
    }
    this.redraw();
  }

  private redraw(): void {
    const image = this.image;
    if (!image) return;
    const rgba = toRgba(image.values, image);
    for (let p = 0; p < this.fill.length; p++) {
      if (!this.fill[p]) continue;
      rgba[4 * p] = Math.round((1 - TINT) * rgba[4 * p] + TINT * 255);
      rgba[4 * p + 1] = Math.round((1 - TINT) * rgba[4 * p + 1]);
      rgba[4 * p + 2] = Math.round((1 - TINT) * rgba[4 * p + 2]);
    }
    drawImage(this.canvas, rgba, image.width, image.height);
    this.onChange(this.filled);
  }
}
