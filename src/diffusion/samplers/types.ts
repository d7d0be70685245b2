/**
 * The shape every sampler shares (k-diffusion's habit): a sampler is a small async function of
 * (model, initial noise, schedule config, noise source, callback) that returns the final sample.
 * Samplers hold no model code and the model holds no sampler code; they meet only here.
 */

/** What the network predicts. Names are diffusers' `prediction_type` values. */
export type PredictionType = 'epsilon' | 'sample' | 'v_prediction';

/**
 * The network as a sampler sees it: the raw output (in the model's `PredictionType`) for a whole batch
 * `input` (flattened, already scaled by the sampler where diffusers' `scale_model_input` would) at one
 * `timestep` (the value the network is conditioned on; fractional for some samplers).
 */
export type ModelFn = (input: Float32Array, timestep: number) => Promise<Float32Array>;

/** Where stochastic samplers get their Gaussian noise; replaceable to replay recorded noise. */
export interface NoiseSource {
  /** `count` independent N(0, 1) values. */
  normal(count: number): Float32Array;
}

/** Reported after every sampler step, for progress bars, trajectories and server progress events. */
export interface StepInfo {
  /** 0-based index of the step just finished. */
  step: number;
  numSteps: number;
  /** The timestep (or σ-derived timestep) of the model call that started this step. */
  timestep: number;
  /** Noise level σ of the step, for σ-space samplers. */
  sigma?: number;
  /** The state after the step. */
  sample: Float32Array;
  /** The model's estimate of the clean sample x₀ at this step. */
  predictedOriginal: Float32Array;
}

export type StepCallback = (info: StepInfo) => void | Promise<void>;

export interface SampleRequest {
  model: ModelFn;
  /** Initial N(0, I) noise for the batch, unscaled; the sampler multiplies by its init noise σ. */
  noise: Float32Array;
  numInferenceSteps: number;
  /** Examples in `noise` (its first axis), for per-example steps such as dynamic thresholding; default 1. */
  batchSize?: number;
  /** Required by stochastic samplers. */
  noiseSource?: NoiseSource;
  /** Scales injected noise (1 = the sampler as published; < 1 = lower temperature). */
  temperature?: number;
  callback?: StepCallback;
}
