/**
 * The playground's inpainting panel: pick an image (one of the last samples, a bundled MNIST digit of
 * the model's size, or a PNG/JPEG file scaled to it), draw the region to fill with the pointer (brush
 * radius from a slider), and run the library's inpainting pipeline in the tab on the loaded model. The
 * result canvas shows the completed image at the model's resolution; its unmasked pixels are the
 * input's, byte for byte. What a run did is handed to `publish`, so the page can show it as numbers.
 *
 * This module must not load models or pick the runtime; the page hands it both.
 */
import type { Runtime } from '../../src/engine/index.js';
import { INPAINT_METHODS, type InpaintMethod } from '../../src/pipelines/inpaint.js';
import { builtInImages, toRgba } from './images.js';
import { inpaintImage, type LoadedModel } from './image-model.js';
import { MaskEditor, type EditorImage } from './mask-editor.js';
import { drawImage } from './plot.js';

export interface InpaintReport {
  phase: 'idle' | 'ready' | 'running' | 'done' | 'error';
  /** Which image is being edited: `sample-K`, `mnist-D` or `file`. */
  source: string | null;
  /** Pixels marked to fill. */
  filled: number;
  step: number;
  seconds: number;
  /** The fill mask (1 = fill), one value per pixel. */
  mask: number[];
  /** The input and the result, [C, H, W] in [−1, 1]. */
  input: number[];
  result: number[];
  error?: string;
}

export interface InpaintElements {
  source: HTMLSelectElement;
  file: HTMLInputElement;
  brush: HTMLInputElement;
  clear: HTMLButtonElement;
  method: HTMLSelectElement;
  steps: HTMLInputElement;
  run: HTMLButtonElement;
  status: HTMLElement;
  canvas: HTMLCanvasElement;
  result: HTMLCanvasElement;
  caption: HTMLElement;
}

/** What the panel asks of the page when it runs. */
export interface InpaintHost {
  model(): LoadedModel | null;
  runtime(): Promise<Runtime>;
  /** The class and guidance chosen for sampling, reused for the fill. */
  conditioning(): { classLabel: number | null; guidance: number };
  seed(): number;
  publish(report: InpaintReport): void;
}

export function emptyInpaintReport(): InpaintReport {
  return { phase: 'idle', source: null, filled: 0, step: 0, seconds: 0, mask: [], input: [], result: [] };
}

/** An image file drawn onto a canvas of the model's size, as [C, H, W] values in [−1, 1]. */
async function fileImage(file: File, shape: readonly [number, number, number]): Promise<EditorImage> {
  const [channels, height, width] = shape;
  const bitmap = await createImageBitmap(file);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const plane = width * height;
  const values = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < plane; p++) {
      // Greyscale models read the luma (ITU-R BT.601), colour models the three channels.
      const byte =
        channels === 1
          ? 0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]
          : rgba[4 * p + c];
      values[c * plane + p] = (2 * Math.round(byte)) / 255 - 1;
    }
  }
  return { channels: channels === 1 ? 1 : 3, width, height, values };
}

export class InpaintPanel {
  private readonly editor: MaskEditor;
  private report: InpaintReport = emptyInpaintReport();
  /** The images the source list offers, by option value. */
  private sources = new Map<string, EditorImage>();

  constructor(
    private readonly elements: InpaintElements,
    private readonly host: InpaintHost,
  ) {
    this.editor = new MaskEditor(elements.canvas, (filled) => this.update({ filled }));
    this.editor.brush = Number(elements.brush.value);
    elements.brush.addEventListener('input', () => (this.editor.brush = Number(elements.brush.value)));
    elements.clear.addEventListener('click', () => this.editor.clear());
    elements.method.replaceChildren(
      ...INPAINT_METHODS.map((m) =>
        Object.assign(document.createElement('option'), { value: m, textContent: m }),
      ),
    );
    elements.method.value = 'replace';
    elements.source.addEventListener('change', () => this.choose(elements.source.value));
    elements.file.addEventListener('change', () => void this.chooseFile());
    elements.run.addEventListener('click', () => void this.run());
  }

  /** Offers `samples` ([N, C, H, W]) and the bundled digits that fit the loaded model. */
  offer(samples: Float32Array | null, shape: readonly [number, number, number]): void {
    const [channels, height, width] = shape;
    const size = channels * height * width;
    this.sources = new Map();
    const count = samples ? samples.length / size : 0;
    for (let n = 0; n < count; n++) {
      const values = samples!.slice(n * size, (n + 1) * size).map((v) => Math.max(-1, Math.min(1, v)));
      this.sources.set(`sample-${n}`, { channels: channels === 1 ? 1 : 3, width, height, values });
    }
    for (const image of builtInImages()) {
      if (image.channels === channels && image.width === width && image.height === height)
        this.sources.set(image.id, image);
    }
    const options = [...this.sources.keys()].map((value) =>
      Object.assign(document.createElement('option'), { value, textContent: value }),
    );
    this.elements.source.replaceChildren(...options);
    const first = [...this.sources.keys()][0];
    this.elements.run.disabled = first === undefined;
    if (first !== undefined) {
      this.elements.source.value = first;
      this.choose(first);
    }
  }

  private choose(id: string): void {
    const image = this.sources.get(id);
    if (!image) return;
    this.editor.show(image);
    this.update({ phase: 'ready', source: id, input: Array.from(image.values), result: [], step: 0 });
  }

  private async chooseFile(): Promise<void> {
    const file = this.elements.file.files?.[0];
    const model = this.host.model();
    if (!file || !model) return;
    const shape = model.network.sampleShape as [number, number, number];
    try {
      const image = await fileImage(file, shape);
      this.sources.set('file', image);
      if (!this.elements.source.querySelector('option[value="file"]'))
        this.elements.source.append(
          Object.assign(document.createElement('option'), { value: 'file', textContent: file.name }),
        );
      this.elements.source.value = 'file';
      this.choose('file');
      this.elements.run.disabled = false;
    } catch (error) {
      this.fail(error);
    }
  }

  private async run(): Promise<void> {
    const model = this.host.model();
    const image = this.editor.image;
    if (!model || !image) return;
    const { run, status, result, caption } = this.elements;
    const request = {
      image,
      fill: this.editor.fill.slice(),
      method: this.elements.method.value as InpaintMethod,
      steps: Number(this.elements.steps.value),
      seed: this.host.seed(),
      ...this.host.conditioning(),
    };
    run.disabled = true;
    this.update({ phase: 'running', step: 0, mask: Array.from(request.fill), result: [] });
    const started = performance.now();
    try {
      const runtime = await this.host.runtime();
      const values = await inpaintImage(model, request, runtime, (step, numSteps) => {
        status.textContent = `inpainting (${request.method}): step ${step}/${numSteps}`;
        this.update({ step });
      });
      drawImage(result, toRgba(values, image), image.width, image.height);
      const seconds = (performance.now() - started) / 1000;
      const filled = request.fill.reduce((n, v) => n + v, 0);
      status.textContent = `filled ${filled} pixels with ${request.method} in ${seconds.toFixed(1)} s on ${runtime.name}`;
      caption.textContent = 'inpainted';
      this.update({ phase: 'done', seconds, result: Array.from(values) });
    } catch (error) {
      this.fail(error);
    } finally {
      run.disabled = false;
    }
  }

  private fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.elements.status.textContent = `error: ${message}`;
    this.update({ phase: 'error', error: message });
  }

  private update(change: Partial<InpaintReport>): void {
    this.report = { ...this.report, ...change };
    this.host.publish(this.report);
  }
}
