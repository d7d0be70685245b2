/**
 * Why DDIM with classifier-free guidance gets worse with more steps on models/mnist-unet (see
 * docs/quality-vs-steps.md): the same balanced digits (seed 0) drawn by DDIM under variants of the
 * model's scheduler config — `clip_sample` as shipped (true), false, true with diffusers'
 * `use_clipped_model_output` (ε recomputed from the clipped x̂₀), and 'trailing' timestep spacing, with
 * dpmpp_2m (which does not clip) as a reference row — at each step count, scored by FID against the held-out digits and class accuracy. It also reports, per
 * run, the share of x̂₀ values at or beyond ±1 and their mean excess |x̂₀| − 1 over all steps.
 *
 * Usage: npx tsx bench/ddim-guidance.ts [--num 100] [--steps 10,50] [--guidance 2]
 *          [--variants shipped,noclip,clipped-eps,trailing,dpmpp_2m]
 * Numbers only, no assertions; this script must not train.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { sampleDdim } from '../src/diffusion/samplers/ddim.js';
import { sample, samplerSetup } from '../src/diffusion/samplers/registry.js';
import type { DDIMSchedulerConfig } from '../src/diffusion/scheduler-config.js';
import { OrtNodeRuntime } from '../src/engine/index.js';
import { loadClassifier } from '../src/metrics/classifier.js';
import { balancedLabels, evaluateSamples, type ImageMetrics } from '../src/metrics/evaluate.js';
import { loadPipeline } from '../src/models/pipeline-folder.js';
import { compiledDenoiser, guidedModel } from '../src/pipelines/generate.js';
import { Random } from '../src/util/random.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    num: { type: 'string', default: '100' },
    steps: { type: 'string', default: '10,50' },
    guidance: { type: 'string', default: '2' },
    variants: { type: 'string', default: 'shipped,noclip,clipped-eps,trailing,dpmpp_2m' },
    model: { type: 'string', default: join(root, 'models', 'mnist-unet') },
  },
});
const NUM = Number(values.num);
const STEPS = values.steps!.split(',').map(Number);
const GUIDANCE = Number(values.guidance);

interface Variant {
  key: string;
  name: string;
  /** Another sampler on the model's own config instead of DDIM (a reference row). */
  sampler?: string;
  config: (base: DDIMSchedulerConfig) => DDIMSchedulerConfig;
  useClippedModelOutput?: boolean;
}

const ALL_VARIANTS: readonly Variant[] = [
  { key: 'shipped', name: 'clip_sample=true (shipped)', config: (c) => c },
  { key: 'noclip', name: 'clip_sample=false', config: (c) => ({ ...c, clipSample: false }) },
  {
    key: 'clipped-eps',
    name: 'clip + use_clipped_model_output',
    config: (c) => c,
    useClippedModelOutput: true,
  },
  {
    key: 'trailing',
    name: "clip + spacing 'trailing'",
    config: (c) => ({ ...c, timestepSpacing: 'trailing' }),
  },
  { key: 'dpmpp_2m', name: 'dpmpp_2m (reference, no clipping)', config: (c) => c, sampler: 'dpmpp_2m' },
];
const VARIANTS = values.variants!.split(',').map((key) => {
  const variant = ALL_VARIANTS.find((v) => v.key === key);
  if (!variant)
    throw new Error(`unknown variant '${key}'; valid: ${ALL_VARIANTS.map((v) => v.key).join(', ')}`);
  return variant;
});

const pipeline = loadPipeline(values.model!);
const { network } = pipeline;
const base = samplerSetup('ddim', pipeline.schedulerConfig).config as DDIMSchedulerConfig;
const labels = balancedLabels(network, NUM)!;
const perSample = network.sampleShape.reduce((a, b) => a * b, 1);
const noise = new Random(0).normals(NUM * perSample);
const classifier = loadClassifier();
const { denoise, dispose } = compiledDenoiser(
  { network, params: pipeline.params, numSamples: 2 * NUM },
  new OrtNodeRuntime(),
);
const model = guidedModel(
  denoise,
  BigInt64Array.from(labels, (l) => BigInt(l)),
  GUIDANCE,
  network.numClassEmbeds! - 1,
);

console.log(`DDIM, ${NUM} digits, guidance ${GUIDANCE}, seed 0 (FID / class accuracy)`);
console.log(`| variant | ${STEPS.map((s) => `${s} steps`).join(' | ')} |`);
console.log(`|---|${STEPS.map(() => '---').join('|')}|`);
const clipStats: string[] = [];
for (const variant of VARIANTS) {
  const cells: string[] = [];
  for (const steps of STEPS) {
    let atBound = 0;
    let excess = 0;
    const request = {
      model,
      noise: Float32Array.from(noise),
      numInferenceSteps: steps,
      batchSize: NUM,
      // x̂₀ as the step used it: clipped values sit at ±1, unclipped ones may lie beyond.
      callback: ({ predictedOriginal }: { predictedOriginal: Float32Array }) => {
        for (const v of predictedOriginal) {
          if (Math.abs(v) >= 1 - 1e-6) atBound++;
          excess += Math.max(0, Math.abs(v) - 1);
        }
      },
    };
    const samples = variant.sampler
      ? await sample(variant.sampler, request, { config: pipeline.schedulerConfig })
      : await sampleDdim(
          request,
          variant.config(base),
          variant.useClippedModelOutput ? { useClippedModelOutput: true } : {},
        );
    const values = steps * samples.length;
    clipStats.push(
      `${variant.name}, ${steps} steps: x̂₀ at or beyond ±1 ${((100 * atBound) / values).toFixed(1)}% of values per step, ` +
        `mean excess |x̂₀| − 1 ${(excess / values).toFixed(4)}`,
    );
    const report = await evaluateSamples(samples, network.sampleShape, 'mnist', { labels, classifier });
    const m = report.metrics as ImageMetrics;
    cells.push(`${m.fid.toFixed(1)} / ${(100 * m.classAccuracy!).toFixed(0)}%`);
  }
  console.log(`| ${variant.name} | ${cells.join(' | ')} |`);
}
for (const line of clipStats) console.log(line);
await dispose();
await classifier.dispose();
