/**
 * The training run as one JSON-serialisable config, validated with zod at the boundary (config files,
 * CLI flags, library calls), plus the presets that give each built-in dataset good small defaults: the
 * 2-D toys train an MLP in seconds, `mnist` a small UNet2D. The saved config (in `training_state/`) is
 * enough to rebuild the run.
 *
 * This module must not build networks or datasets; it only describes them by name and config.
 */
import { z } from 'zod';
import { ConfigError, unknownChoice } from '../util/errors.js';
import { LR_SCHEDULES } from './lr.js';

const modelSpec = z
  .object({
    /** The network's class name in the model registry, e.g. 'MLPDenoiser' or 'UNet2DModel'. */
    className: z.string().min(1),
    /** The network's config (diffusers' snake_case keys); unset keys take the network's defaults. */
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const trainConfigSchema = z
  .object({
    /** Built-in dataset name (see `datasetNames()`), and its options (e.g. `{ size: 10000 }`). */
    data: z.string().min(1),
    dataOptions: z.record(z.string(), z.unknown()).default({}),
    model: modelSpec,
    /** Optimizer updates to run in total (a resumed run continues up to this count). */
    steps: z.number().int().positive(),
    /** Examples per micro-batch; an update sees batchSize × gradientAccumulation examples. */
    batchSize: z.number().int().positive(),
    /** Micro-batches whose gradients are averaged per optimizer update (1: no accumulation). */
    gradientAccumulation: z.number().int().positive().max(1024).default(1),
    /** Peak learning rate of AdamW. */
    lr: z.number().positive(),
    lrSchedule: z.enum(LR_SCHEDULES).default('cosine'),
    warmupSteps: z.number().int().nonnegative().default(0),
    /** Cosine floor as a fraction of the peak rate. */
    minLrRatio: z.number().min(0).max(1).default(0.1),
    weightDecay: z.number().nonnegative().default(0),
    /** Global-norm gradient clipping threshold (torch's clip_grad_norm_); null disables it. */
    clipNorm: z.number().positive().nullable().default(1),
    /** EMA decay of the weights saved for sampling; null disables EMA (the raw weights are saved). */
    emaDecay: z.number().min(0).max(1).nullable().default(0.995),
    /** Warm the EMA up: decay min(emaDecay, n / (n + 9)) at update n, as diffusers' EMAModel does. */
    emaWarmup: z.boolean().default(true),
    /** What the network predicts: diffusers' `prediction_type`. */
    objective: z.enum(['epsilon', 'sample', 'v_prediction']).default('epsilon'),
    /** Min-SNR-γ loss weighting (Hang et al. 2023); null gives the plain unweighted MSE. */
    minSnrGamma: z.number().positive().nullable().default(null),
    /** The DDPM noise schedule the model is trained under (written to scheduler_config.json). */
    numTrainTimesteps: z.number().int().positive().max(1_000_000).default(1000),
    betaSchedule: z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2', 'sigmoid']).default('linear'),
    betaStart: z.number().positive().default(1e-4),
    betaEnd: z.number().positive().default(0.02),
    /** Condition on the dataset's labels (needs a labelled dataset). */
    classConditional: z.boolean().default(false),
    /** Probability of replacing a label by the null class during training (classifier-free guidance). */
    labelDropout: z.number().min(0).max(1).default(0.1),
    seed: z.number().int().default(0),
    /** Write a sample image every this many steps (0: only at the end). */
    sampleEvery: z.number().int().nonnegative().default(0),
    /** Save a checkpoint every this many steps (0: only at the end). */
    checkpointEvery: z.number().int().nonnegative().default(0),
    /** Samples drawn for the periodic and final sample images. */
    numSamples: z.number().int().positive().default(512),
    sampler: z.string().default('dpmpp_2m'),
    sampleSteps: z.number().int().positive().default(25),
    /** Write a metrics line every this many steps. */
    logEvery: z.number().int().positive().default(10),
  })
  .strict();

export type TrainConfig = z.output<typeof trainConfigSchema>;
export type TrainConfigInput = z.input<typeof trainConfigSchema>;

/** Validates a training config; the error lists every offending field with what was expected. */
export function parseTrainConfig(input: unknown, source = 'training config'): TrainConfig {
  const result = trainConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
  throw new ConfigError(`${source} is invalid: ${problems.join('; ')}`);
}

/** A small UNet for 28–32 px images that trains on a CPU (diffusers' defaults are ~100× larger). */
export const SMALL_UNET_CONFIG = {
  block_out_channels: [32, 64, 64],
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
  layers_per_block: 1,
  norm_num_groups: 8,
};

const toyPreset = (data: string): TrainConfigInput => ({
  data,
  model: { className: 'MLPDenoiser', config: {} },
  steps: 3000,
  batchSize: 256,
  lr: 2e-3,
  warmupSteps: 100,
  emaDecay: 0.995,
  sampleEvery: 1000,
});

/** Colour images at 32×32: the small UNet, unconditional, random flips, EMA with warm-up. */
const imagePreset = (data: string, dataOptions: Record<string, unknown>): TrainConfigInput => ({
  data,
  dataOptions,
  model: { className: 'UNet2DModel', config: SMALL_UNET_CONFIG },
  steps: 5000,
  batchSize: 32,
  lr: 5e-4,
  warmupSteps: 200,
  emaDecay: 0.999,
  numSamples: 16,
  sampleEvery: 1000,
  checkpointEvery: 1000,
});

/** A small 2-level SR U-Net on 28×28 MNIST from low_res_size × low_res_size inputs. */
const srPreset = (data: string, lowResSize: number): TrainConfigInput => ({
  data,
  dataOptions: { imageSize: 28 },
  model: {
    className: 'SuperResolutionUNet2DModel',
    config: { sample_size: 28, low_res_size: lowResSize, block_out_channels: [16, 32] },
  },
  objective: 'v_prediction',
  steps: 1500,
  batchSize: 16,
  lr: 2e-3,
  warmupSteps: 50,
  emaDecay: 0.995,
  numSamples: 16,
  sampleSteps: 20,
  checkpointEvery: 500,
  logEvery: 25,
});

/** Presets per built-in dataset: the config a newcomer's `diffusion train --data NAME` starts from. */
const PRESETS: Record<string, TrainConfigInput> = {
  moons: toyPreset('moons'),
  '8gaussians': toyPreset('8gaussians'),
  'swiss-roll': toyPreset('swiss-roll'),
  checkerboard: toyPreset('checkerboard'),
  pinwheel: toyPreset('pinwheel'),
  circles: toyPreset('circles'),
  emoji: imagePreset('emoji', { imageSize: 32, flip: true }),
  'image-folder': imagePreset('image-folder', { imageSize: 32, flip: true }),
  'weather-forecast': {
    data: 'weather-forecast',
    dataOptions: { windowLength: 32 },
    // 25 observed days → a 7-day forecast; x₀-prediction, as the network pins the observed steps.
    model: { className: 'ForecastUNet1DModel', config: { context_length: 25 } },
    objective: 'sample',
    steps: 1000,
    batchSize: 64,
    lr: 1e-3,
    warmupSteps: 100,
    emaDecay: 0.999,
    numSamples: 16,
    sampleSteps: 20,
    checkpointEvery: 1000,
    logEvery: 50,
  },
  // Diffuser-style planning (Janner et al. 2022): x₀-prediction under a cosine schedule, as its maze2d runs.
  'maze2d-umaze': {
    data: 'maze2d-umaze',
    model: { className: 'UNet1DModel', config: { block_out_channels: [32, 64] } },
    objective: 'sample',
    betaSchedule: 'squaredcos_cap_v2',
    steps: 1000,
    batchSize: 32,
    lr: 1e-3,
    warmupSteps: 50,
    emaDecay: 0.995,
    numSamples: 16,
    sampleSteps: 20,
    checkpointEvery: 250,
    logEvery: 50,
  },
  // Diffusion super-resolution (SR3/Imagen): v-prediction, so one step from pure noise is ≈ E[x₀ | low-res].
  'mnist-sr-14-28': srPreset('mnist-sr-14-28', 14),
  'mnist-sr-7-14': {
    ...srPreset('mnist-sr-7-14', 7),
    dataOptions: {},
    model: {
      className: 'SuperResolutionUNet2DModel',
      config: { sample_size: 14, low_res_size: 7, block_out_channels: [16, 32] },
    },
  },
  // A cascade's base: class-conditional at 7×7, one level (7 is odd, so no down-sampling).
  'mnist-7': {
    data: 'mnist-7',
    model: {
      className: 'UNet2DModel',
      config: {
        block_out_channels: [64],
        down_block_types: ['DownBlock2D'],
        up_block_types: ['UpBlock2D'],
        layers_per_block: 2,
        norm_num_groups: 8,
      },
    },
    classConditional: true,
    steps: 2000,
    batchSize: 64,
    lr: 1e-3,
    warmupSteps: 100,
    emaDecay: 0.999,
    numSamples: 100,
    sampleSteps: 20,
    checkpointEvery: 500,
    logEvery: 25,
  },
  'mnist-sr-7-28': srPreset('mnist-sr-7-28', 7),
  // Class-conditional spoken digits: five levels take 4096 samples down to 256 before the mid block;
  // narrow at full rate, where a step's cost lies.
  'spoken-digits': {
    data: 'spoken-digits',
    model: {
      className: 'UNet1DModel',
      config: { block_out_channels: [8, 16, 32, 64, 64], layers_per_block: 1, norm_num_groups: 8 },
    },
    classConditional: true,
    steps: 3000,
    batchSize: 8,
    lr: 2e-3,
    warmupSteps: 100,
    emaDecay: 0.999,
    numSamples: 20,
    sampleSteps: 25,
    checkpointEvery: 500,
    logEvery: 25,
  },
  // Moving MNIST videos: the factorised space–time U-Net, unconditional, small enough for a CPU.
  'moving-mnist': {
    data: 'moving-mnist',
    dataOptions: { size: 3000 },
    model: {
      className: 'UNet3DModel',
      config: { sample_size: 32, num_frames: 8, block_out_channels: [16, 32, 32], norm_num_groups: 8 },
    },
    steps: 3000,
    batchSize: 4,
    lr: 1e-3,
    warmupSteps: 50,
    emaDecay: 0.995,
    numSamples: 8,
    sampleSteps: 20,
    checkpointEvery: 250,
    logEvery: 10,
  },
  mnist: {
    data: 'mnist',
    dataOptions: { imageSize: 28 },
    model: { className: 'UNet2DModel', config: SMALL_UNET_CONFIG },
    classConditional: true,
    steps: 2700,
    batchSize: 32,
    lr: 6e-4,
    warmupSteps: 200,
    emaDecay: 0.999,
    numSamples: 100,
    sampleEvery: 1000,
    checkpointEvery: 500,
    logEvery: 25,
  },
};

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

/** The preset for a dataset name, or a NotFoundError listing the presets. */
export function presetFor(name: string): TrainConfigInput {
  if (!Object.hasOwn(PRESETS, name)) throw unknownChoice('preset', name, presetNames());
  return structuredClone(PRESETS[name]);
}
