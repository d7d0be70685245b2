/**
 * The playground page: wires the forward-process explorer, the 2-D playground, the image-model sampler
 * (a folder picked or the model of the service serving the page) and the inpainting panel to the page's
 * elements, shows which onnxruntime-web backend runs (WebGPU where the browser hands out an adapter,
 * WebAssembly otherwise), and publishes what each shows on `window.playground` (the backend, the
 * current forward view, the 2-D run's report, the image run's report, the inpainting report), so what
 * the page displays can be read back as numbers.
 *
 * This module must not hold any diffusion logic; it only connects the page to the modules that do.
 */
import './style.css';
import { TOY2D_NAMES } from '../../src/data/toy2d.js';
import { samplerNames } from '../../src/diffusion/samplers/registry.js';
import { mountForwardExplorer, type ForwardView } from './forward-explorer.js';
import {
  loadPickedPipeline,
  loadServedPipeline,
  sampleImages,
  type ImageReport,
  type LoadedModel,
} from './image-model.js';
import { emptyInpaintReport, InpaintPanel, type InpaintReport } from './inpaint-panel.js';
import { BACKENDS, providerFor, webRuntime } from './ort-setup.js';
import type { WebProvider } from '../../src/engine/index.js';
import { runToySession, type ToyReport, type ToySettings } from './toy-playground.js';
import { NotFoundError } from '../../src/util/errors.js';

interface PlaygroundState {
  /** The execution provider the chosen backend runs on here, and how the page names it. */
  backend: { provider: WebProvider; label: string } | null;
  forward: ForwardView | null;
  toy: ToyReport | null;
  image: ImageReport | null;
  inpaint: InpaintReport | null;
}

declare global {
  interface Window {
    playground: PlaygroundState;
  }
}

const state: PlaygroundState = { backend: null, forward: null, toy: null, image: null, inpaint: null };
window.playground = state;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new NotFoundError(`the page has no element #${id}`);
  return found as T;
}

function fillOptions(select: HTMLSelectElement, values: readonly string[], selected: string): void {
  select.replaceChildren(
    ...values.map((value) => Object.assign(document.createElement('option'), { value, textContent: value })),
  );
  select.value = selected;
}

function readSettings(): ToySettings {
  const num = (id: string) => Number(element<HTMLInputElement>(id).value);
  return {
    data: element<HTMLSelectElement>('toy-data').value,
    trainSteps: num('toy-train-steps'),
    batchSize: num('toy-batch'),
    hiddenSize: num('toy-hidden'),
    lr: num('toy-lr'),
    numSamples: num('toy-samples'),
    seed: num('toy-seed'),
    samplers: [0, 1].map((i) => ({
      name: element<HTMLSelectElement>(`toy-sampler-${i}`).value,
      steps: num(`toy-sampler-steps-${i}`),
    })),
  };
}

async function train(): Promise<void> {
  const button = element<HTMLButtonElement>('toy-train');
  const status = element('toy-status');
  const backend = element<HTMLSelectElement>('backend').value;
  button.disabled = true;
  state.toy = { ...emptyReport(), phase: 'training' };
  const elements = {
    lossPlot: element<HTMLCanvasElement>('toy-loss'),
    sampleCanvases: [0, 1].map((i) => element<HTMLCanvasElement>(`toy-canvas-${i}`)),
    sampleCaptions: [0, 1].map((i) => element(`toy-caption-${i}`)),
    status,
  };
  const publish = (report: ToyReport) => {
    state.toy = { ...report, losses: [...report.losses], samplers: [...report.samplers] };
  };
  try {
    const settings = readSettings();
    const provider = await providerFor(backend);
    try {
      await runToySession(settings, webRuntime(provider), elements, publish);
    } catch (error) {
      // 'auto' picked WebGPU, whose kernels may not cover a training graph: WebAssembly always does.
      if (backend !== 'auto' || provider === 'wasm') throw error;
      console.warn('WebGPU run failed, retrying on WebAssembly:', error);
      await runToySession(settings, webRuntime('wasm'), elements, publish);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    status.textContent = `error: ${message}`;
    state.toy = { ...(state.toy ?? emptyReport()), phase: 'error', error: message };
  } finally {
    button.disabled = false;
  }
}

function emptyReport(): ToyReport {
  return {
    phase: 'idle',
    runtime: '',
    step: 0,
    losses: [],
    trainSeconds: 0,
    noiseDistance: null,
    untrainedDistance: null,
    dataDistance: null,
    samplers: [],
  };
}

let imageModel: LoadedModel | null = null;

function publishImage(update: Partial<ImageReport>): void {
  state.image = { ...(state.image ?? emptyImageReport()), ...update };
}

function emptyImageReport(): ImageReport {
  return { phase: 'idle', model: null, step: 0, seconds: 0, samples: [], shape: [], trajectorySteps: [] };
}

const PROVIDER_NAMES: Record<WebProvider, string> = { webgpu: 'WebGPU', wasm: 'WebAssembly' };

/** Shows (and publishes) the provider the chosen backend means in this browser. */
async function showBackend(): Promise<void> {
  const label = element('backend-label');
  try {
    const backend = element<HTMLSelectElement>('backend').value;
    const provider = await providerFor(backend);
    const why = backend === 'auto' && provider === 'wasm' ? ' (no WebGPU adapter in this browser)' : '';
    const text = `runs on ${PROVIDER_NAMES[provider]}${why}`;
    label.textContent = text;
    state.backend = { provider, label: text };
  } catch (error) {
    label.textContent = `error: ${error instanceof Error ? error.message : String(error)}`;
    state.backend = null;
  }
}

let inpaintPanel: InpaintPanel | null = null;

async function loadImageModel(load: () => Promise<LoadedModel>): Promise<void> {
  const status = element('img-status');
  const button = element<HTMLButtonElement>('img-sample');
  button.disabled = true;
  publishImage({ phase: 'loading' });
  try {
    imageModel = await load();
    const classes = Array.from({ length: imageModel.numClasses }, (_, k) => String(k));
    fillOptions(element('img-class'), ['none', ...classes], classes.length > 0 ? '0' : 'none');
    element('img-model').textContent =
      `${imageModel.name}: ${imageModel.network.className} [${imageModel.network.sampleShape.join('×')}], ` +
      `${imageModel.numClasses > 0 ? `${imageModel.numClasses} classes` : 'unconditional'}`;
    status.textContent = 'loaded';
    button.disabled = false;
    publishImage({ phase: 'loaded', model: imageModel.name });
    inpaintPanel?.offer(null, imageModel.network.sampleShape as [number, number, number]);
  } catch (error) {
    failImage(error);
  }
}

async function sampleImageModel(): Promise<void> {
  if (!imageModel) return;
  const button = element<HTMLButtonElement>('img-sample');
  const status = element('img-status');
  const num = (id: string) => Number(element<HTMLInputElement>(id).value);
  const classValue = element<HTMLSelectElement>('img-class').value;
  const request = {
    sampler: element<HTMLSelectElement>('img-sampler').value,
    steps: num('img-steps'),
    numSamples: num('img-samples'),
    classLabel: classValue === 'none' ? null : Number(classValue),
    guidance: num('img-guidance'),
    seed: num('img-seed'),
  };
  button.disabled = true;
  publishImage({ phase: 'sampling', step: 0, trajectorySteps: [] });
  const started = performance.now();
  try {
    const runtime = webRuntime(await providerFor(element<HTMLSelectElement>('backend').value));
    const canvases = {
      grid: element<HTMLCanvasElement>('img-canvas'),
      trajectory: element<HTMLCanvasElement>('img-trajectory'),
    };
    const { samples, shape } = await sampleImages(imageModel, request, runtime, canvases, (step, strip) => {
      status.textContent = `sampling with ${request.sampler}: step ${step}/${request.steps}`;
      publishImage({ step, trajectorySteps: [...strip.steps] });
    });
    const seconds = (performance.now() - started) / 1000;
    status.textContent = `${request.numSamples} samples, ${request.steps} steps of ${request.sampler} in ${seconds.toFixed(1)} s on ${runtime.name}`;
    publishImage({
      phase: 'done',
      seconds,
      samples: Array.from(samples),
      shape: [request.numSamples, ...shape],
    });
    inpaintPanel?.offer(samples, shape);
  } catch (error) {
    failImage(error);
  } finally {
    button.disabled = false;
  }
}

function failImage(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  element('img-status').textContent = `error: ${message}`;
  publishImage({ phase: 'error', error: message });
}

function mount(): void {
  mountForwardExplorer(
    {
      image: element('fwd-image'),
      schedule: element('fwd-schedule'),
      t: element('fwd-t'),
      canvas: element('fwd-canvas'),
      alphaPlot: element('fwd-alpha'),
      snrPlot: element('fwd-snr'),
      readout: element('fwd-readout'),
    },
    (view) => {
      state.forward = view;
    },
  );
  fillOptions(element('toy-data'), TOY2D_NAMES, 'moons');
  fillOptions(element('toy-sampler-0'), samplerNames(), 'ddpm');
  fillOptions(element('toy-sampler-1'), samplerNames(), 'dpmpp_2m');
  fillOptions(element('backend'), BACKENDS, 'auto');
  element('backend').addEventListener('change', () => void showBackend());
  element('toy-train').addEventListener('click', () => void train());
  state.toy = emptyReport();
  fillOptions(element('img-sampler'), samplerNames(), 'dpmpp_2m');
  const folder = element<HTMLInputElement>('img-folder');
  folder.addEventListener('change', () => {
    const files = Array.from(folder.files ?? []);
    void loadImageModel(() => loadPickedPipeline(files));
  });
  element('img-load-service').addEventListener(
    'click',
    () => void loadImageModel(() => loadServedPipeline(location.href)),
  );
  element('img-sample').addEventListener('click', () => void sampleImageModel());
  state.image = emptyImageReport();
  mountInpaint();
  void showBackend().then(() => {
    document.body.dataset.ready = 'true';
  });
}

function mountInpaint(): void {
  const classValue = () => element<HTMLSelectElement>('img-class').value;
  inpaintPanel = new InpaintPanel(
    {
      source: element('inp-source'),
      file: element('inp-file'),
      brush: element('inp-brush'),
      clear: element('inp-clear'),
      method: element('inp-method'),
      steps: element('inp-steps'),
      run: element('inp-run'),
      status: element('inp-status'),
      canvas: element('inp-canvas'),
      result: element('inp-result'),
      caption: element('inp-caption'),
    },
    {
      model: () => imageModel,
      runtime: async () => webRuntime(await providerFor(element<HTMLSelectElement>('backend').value)),
      conditioning: () => ({
        classLabel: classValue() === 'none' ? null : Number(classValue()),
        guidance: Number(element<HTMLInputElement>('img-guidance').value),
      }),
      seed: () => Number(element<HTMLInputElement>('img-seed').value),
      publish: (report) => {
        state.inpaint = report;
      },
    },
  );
  state.inpaint = emptyInpaintReport();
}

mount();
