/**
 * The forward-process explorer: pick an image and a beta schedule, slide t, and see
 * x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε (Ho et al. 2020, eq. 4) next to the curves of ᾱ_t and SNR_t = ᾱ_t/(1−ᾱ_t).
 * t counts forward steps as in the paper: t = 0 is the clean image and t = 1..T uses diffusers' table
 * entry t − 1 (the convention of src/pipelines/forward-illustration.ts). ε is drawn once per image from a
 * seeded `Random`, so scrubbing the slider shows one noise path rather than flickering.
 *
 * This module must not train or sample; it only shows the closed-form forward marginal.
 */
import { alphasCumprod, betaSchedule, type BetaScheduleConfig } from '../../src/diffusion/schedules.js';
import { unknownChoice } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { builtInImages, toRgba, type PlaygroundImage } from './images.js';
import { drawCurve, drawImage } from './plot.js';

/** T of every schedule shown. */
export const NUM_TRAIN_TIMESTEPS = 1000;

/** The schedules offered, with the β range each is used with in practice (cosine ignores it). */
export const FORWARD_SCHEDULES: Record<string, BetaScheduleConfig & { label: string }> = {
  linear: {
    label: 'linear (DDPM, β 1e-4 → 0.02)',
    betaSchedule: 'linear',
    numTrainTimesteps: NUM_TRAIN_TIMESTEPS,
    betaStart: 1e-4,
    betaEnd: 0.02,
  },
  scaled_linear: {
    label: 'scaled_linear (Stable Diffusion, β 0.00085 → 0.012)',
    betaSchedule: 'scaled_linear',
    numTrainTimesteps: NUM_TRAIN_TIMESTEPS,
    betaStart: 0.00085,
    betaEnd: 0.012,
  },
  squaredcos_cap_v2: {
    label: 'squaredcos_cap_v2 (cosine, Nichol & Dhariwal)',
    betaSchedule: 'squaredcos_cap_v2',
    numTrainTimesteps: NUM_TRAIN_TIMESTEPS,
    betaStart: 1e-4,
    betaEnd: 0.02,
  },
};

/** What the explorer shows now; the page publishes it for inspection. */
export interface ForwardView {
  imageId: string;
  schedule: string;
  t: number;
  alphaBar: number;
  snr: number;
}

export interface ForwardElements {
  image: HTMLSelectElement;
  schedule: HTMLSelectElement;
  t: HTMLInputElement;
  canvas: HTMLCanvasElement;
  alphaPlot: HTMLCanvasElement;
  snrPlot: HTMLCanvasElement;
  readout: HTMLElement;
}

/** ᾱ after t forward steps: 1 at t = 0, the schedule's cumulative product at entry t − 1 after. */
function alphaBarAfter(alphas: Float64Array, t: number): number {
  return t === 0 ? 1 : alphas[t - 1];
}

/** x_t for one image and its fixed noise (eq. 4). */
export function noisedValues(x0: Float32Array, noise: Float32Array, alphaBar: number): Float32Array {
  const a = Math.sqrt(alphaBar);
  const s = Math.sqrt(1 - alphaBar);
  return x0.map((v, k) => a * v + s * noise[k]);
}

function fillSelect(select: HTMLSelectElement, options: readonly { value: string; label: string }[]): void {
  select.replaceChildren(
    ...options.map(({ value, label }) =>
      Object.assign(document.createElement('option'), { value, textContent: label }),
    ),
  );
}

/** Wires the explorer to its elements; `onChange` receives every new view. */
export function mountForwardExplorer(el: ForwardElements, onChange: (view: ForwardView) => void): void {
  const images = builtInImages();
  const noises = new Map(
    images.map((image, i) => [image.id, new Random(1000 + i).normals(image.values.length)]),
  );
  fillSelect(
    el.image,
    images.map((image) => ({ value: image.id, label: image.label })),
  );
  fillSelect(
    el.schedule,
    Object.entries(FORWARD_SCHEDULES).map(([value, s]) => ({ value, label: s.label })),
  );
  el.t.min = '0';
  el.t.max = String(NUM_TRAIN_TIMESTEPS);
  el.t.step = '1';
  el.t.value = '0';
  let alphas: Float64Array = new Float64Array(0);

  const findImage = (id: string): PlaygroundImage => {
    const image = images.find((candidate) => candidate.id === id);
    if (!image)
      throw unknownChoice(
        'image',
        id,
        images.map((i) => i.id),
      );
    return image;
  };
  const redrawCurves = (t: number) => {
    const snr = Array.from(alphas, (a) => a / (1 - a));
    // The curves cover t = 1..T (index t − 1); t = 0 (the clean image) has no point on them.
    const marker = t > 0 ? t - 1 : null;
    drawCurve(el.alphaPlot, alphas, { color: '#1f77b4', title: 'ᾱ_t (t = 1..T)', marker });
    drawCurve(el.snrPlot, snr, {
      color: '#ff7f0e',
      title: 'SNR_t = ᾱ_t / (1 − ᾱ_t), log scale',
      log: true,
      marker,
    });
  };
  const render = () => {
    const image = findImage(el.image.value);
    const t = Number(el.t.value);
    const alphaBar = alphaBarAfter(alphas, t);
    const values = t === 0 ? image.values : noisedValues(image.values, noises.get(image.id)!, alphaBar);
    drawImage(el.canvas, toRgba(values, image), image.width, image.height);
    redrawCurves(t);
    const snr = alphaBar / (1 - alphaBar);
    el.readout.textContent = `t = ${t}   ᾱ_t = ${alphaBar.toFixed(5)}   SNR_t = ${t === 0 ? '∞' : snr.toPrecision(4)}`;
    onChange({ imageId: image.id, schedule: el.schedule.value, t, alphaBar, snr });
  };
  const setSchedule = () => {
    const config = FORWARD_SCHEDULES[el.schedule.value];
    if (!config) throw unknownChoice('schedule', el.schedule.value, Object.keys(FORWARD_SCHEDULES));
    alphas = alphasCumprod(betaSchedule(config));
    render();
  };
  el.image.addEventListener('change', render);
  el.t.addEventListener('input', render);
  el.schedule.addEventListener('change', setSchedule);
  setSchedule();
}
