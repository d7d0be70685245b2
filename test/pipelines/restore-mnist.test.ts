/**
 * Restoration acceptance on real data: 32 MNIST test-split digits with Gaussian noise σ = 0.5 (in [−1, 1]
 * units) restored by the shipped MNIST denoiser (unconditional branch, DDIM from the timestep whose noise
 * level matches σ). The restored PSNR must beat the noisy input — clipped to [−1, 1], which is already
 * 2.8 dB better than the raw noisy input — and a Gaussian-blur baseline whose σ is the best of a small
 * grid (chosen with the clean images, so the baseline is as strong as it can be), by the margins below,
 * with σ given and with σ estimated from the images.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mnistDataset } from '../../src/data/mnist.js';
import { OrtNodeRuntime } from '../../src/engine/index.js';
import { psnr } from '../../src/metrics/image.js';
import { loadPipeline } from '../../src/models/pipeline-folder.js';
import { compiledDenoiser, type CompiledDenoiser } from '../../src/pipelines/generate.js';
import type { EditSampler } from '../../src/pipelines/img2img.js';
import { restore } from '../../src/pipelines/restore.js';
import { Random } from '../../src/util/random.js';

const modelDir = new URL('../../models/mnist-unet', import.meta.url).pathname;
const COUNT = 32;
const SIDE = 28;
const NOISE_SIGMA = 0.5;
const BLUR_SIGMAS = [0.5, 0.75, 1, 1.25, 1.5, 2];
/** DDIM timetable length; σ = 0.5 starts at t ≈ 144, so the run takes 8 steps. */
const STEPS = 20;
/**
 * Required gains in dB (the issue asks for ≥ 4 over the noisy input and ≥ 1 over the blur). Measured on
 * these digits (seed 1, digits 0, 31, 62, …): clipped noisy 14.8 dB (raw 12.0), best blur 18.8 dB
 * (σ_blur 0.75); restored 24.6 dB with the final model (+9.7 and +5.8 dB; 24.7 dB with σ estimated),
 * 21.8 dB with an earlier, partly trained checkpoint (+6.9 and +3.0 dB), which the bounds still admit.
 */
const MIN_GAIN_OVER_NOISY_DB = 6;
const MIN_GAIN_OVER_BLUR_DB = 2.5;

/** Separable Gaussian blur of each 28×28 image, edges clamped, radius ⌈3σ⌉. */
function gaussianBlur(images: Float32Array, sigma: number): Float32Array {
  const radius = Math.ceil(3 * sigma);
  const weights = Array.from({ length: 2 * radius + 1 }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigma ** 2)),
  );
  const total = weights.reduce((a, b) => a + b, 0);
  const kernel = weights.map((w) => w / total);
  const clamp = (i: number) => Math.min(SIDE - 1, Math.max(0, i));
  /** One 1-D pass along rows (`vertical` false) or columns. */
  const pass = (input: Float32Array, vertical: boolean) => {
    const out = new Float32Array(input.length);
    for (let base = 0; base < input.length; base += SIDE * SIDE)
      for (let row = 0; row < SIDE; row++)
        for (let col = 0; col < SIDE; col++) {
          let sum = 0;
          for (let k = -radius; k <= radius; k++) {
            const at = vertical ? clamp(row + k) * SIDE + col : row * SIDE + clamp(col + k);
            sum += kernel[k + radius] * input[base + at];
          }
          out[base + row * SIDE + col] = sum;
        }
    return out;
  };
  return pass(pass(images, false), true);
}

const clipped = (values: Float32Array) => values.map((v) => Math.min(1, Math.max(-1, v)));

describe('restoration of noisy MNIST digits with the shipped model', () => {
  const pipeline = loadPipeline(modelDir);
  const digits = mnistDataset({ split: 'test' });
  const clean = digits.batch(Array.from({ length: COUNT }, (_, i) => i * 31)).x;
  const random = new Random(1);
  const noisy = clean.map((v) => v + NOISE_SIGMA * random.normal());
  let denoiser: CompiledDenoiser;
  before(() => {
    denoiser = compiledDenoiser({ ...pipeline, numSamples: COUNT }, new OrtNodeRuntime());
  });
  after(() => denoiser.dispose());

  const sampler = (): EditSampler => ({
    model: (x, t) => denoiser.denoise(x, t, null),
    config: pipeline.schedulerConfig as unknown as EditSampler['config'],
    numInferenceSteps: STEPS,
  });

  it('the Gaussian-blur baseline is computed as stated', () => {
    const flat = new Float32Array(SIDE * SIDE).fill(0.3);
    assert.ok(
      gaussianBlur(flat, 1).every((v) => Math.abs(v - 0.3) < 1e-6),
      'blur keeps a constant image',
    );
    const dot = new Float32Array(SIDE * SIDE);
    dot[14 * SIDE + 14] = 1;
    const blurred = gaussianBlur(dot, 1);
    assert.ok(Math.abs(blurred.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'blur keeps the mass');
    assert.ok(Math.abs(blurred[14 * SIDE + 15] / blurred[14 * SIDE + 14] - Math.exp(-0.5)) < 1e-3);
    assert.ok(Math.abs(blurred[15 * SIDE + 14] / blurred[14 * SIDE + 14] - Math.exp(-0.5)) < 1e-3);
  });

  for (const sigma of [NOISE_SIGMA, 'estimate'] as const) {
    it(`restored PSNR beats the noisy input and the best Gaussian blur (σ ${sigma})`, async () => {
      const restored = await restore(sampler(), {
        image: { data: noisy, shape: [COUNT, 1, SIDE, SIDE] },
        sigma,
      });
      const gain = psnr(restored, clean);
      const raw = psnr(noisy, clean);
      const noisyPsnr = psnr(clipped(noisy), clean);
      const blurPsnr = BLUR_SIGMAS.map((s) => psnr(clipped(gaussianBlur(noisy, s)), clean));
      const bestBlur = Math.max(...blurPsnr);
      console.log(
        `σ ${sigma}: restored ${gain.toFixed(2)} dB, noisy ${noisyPsnr.toFixed(2)} (raw ${raw.toFixed(2)}), ` +
          `best blur ${bestBlur.toFixed(2)} (σ_blur ${BLUR_SIGMAS[blurPsnr.indexOf(bestBlur)]})`,
      );
      assert.ok(gain >= noisyPsnr + MIN_GAIN_OVER_NOISY_DB, `${gain} vs noisy ${noisyPsnr}`);
      assert.ok(gain >= bestBlur + MIN_GAIN_OVER_BLUR_DB, `${gain} vs blur ${bestBlur}`);
    });
  }
});
