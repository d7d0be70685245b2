/**
 * Classifier guidance (Dhariwal & Nichol 2021, Algorithm 2 and eq. 14): steer any sampler toward class y
 * by adding the gradient of a noisy classifier's log p(y | x_t, t) to the model's score,
 * ∇log p_t(x_t | y) = ∇log p_t(x_t) + s·∇log p(y | x_t, t), which for an ε-prediction reads
 * ε̃ = ε − s·σ_t·∇_{x_t} log p(y | x_t, t) with σ_t = √(1−ᾱ_t). The gradient comes from the engine: the
 * classifier's per-example log-softmax[y], summed over the batch, and its VJP with respect to the input
 * are ONE compiled graph with the weights frozen in. The guided model is again a `ModelFn`, so every
 * registered sampler uses it unchanged: samplers call the model with the VP-scaled input x_t at a
 * (possibly fractional) timestep, so the same correction serves DDPM/DDIM-style and σ-space samplers,
 * and x₀ or v predictions receive the same score shift converted through their affine relation to ε.
 * With s = 1 and an exact classifier the sampler draws from the exact class-conditional distribution.
 *
 * This module must not train a classifier, choose a sampler's maths or write files.
 */
import { OrtNodeRuntime, sum, valueAndGradWithAux } from '../engine/index.js';
import type { HostTensor, Runtime, Tensor } from '../engine/index.js';
import { discreteNoiseLevel } from '../diffusion/oracle.js';
import { conversionCoefficients } from '../diffusion/parameterization.js';
import type { ModelFn, PredictionType } from '../diffusion/samplers/types.js';
import type { Params, ParamTensors } from '../nn/index.js';
import {
  inputTypes,
  labelLogProbs,
  type NoisyClassifier,
  type NoisyClassifierInputs,
} from '../training/noisy-classifier.js';
import { ConfigError, ShapeError, UsageError } from '../util/errors.js';

/** log p(y | x_t, t) per example and its gradient with respect to x_t, from one graph run. */
export interface ClassifierGradientResult {
  /** [B] */
  logProb: Float32Array;
  /** [B, ...sampleShape], flat */
  grad: Float32Array;
}

/** The gradient at one timestep; `labels` is one class for the whole batch or one per example. */
export type ClassifierGradientFn = (
  sample: Float32Array,
  timestep: number,
  labels: number | BigInt64Array,
) => Promise<ClassifierGradientResult>;

export interface CompiledClassifierGradient {
  gradient: ClassifierGradientFn;
  dispose: () => Promise<void>;
}

export interface ClassifierGradientOptions {
  classifier: NoisyClassifier;
  params: Params;
  /** ᾱ_t of the denoiser's training schedule: the noise level of each (fractional) timestep. */
  alphasCumprod: Float64Array;
  runtime?: Runtime;
}

/** The classifier's Σ_b log p(y_b | x_b, t) and its VJP with respect to the input, as one graph. */
function logProbAndGradient(classifier: NoisyClassifier): (
  inputs: NoisyClassifierInputs & { params: ParamTensors; labels: Tensor },
) => {
  logProb: Tensor;
  grad: Tensor;
} {
  return ({ params, labels, ...inputs }) => {
    const { grad, aux } = valueAndGradWithAux((sample: Tensor) => {
      const perExample = labelLogProbs(classifier.logits(params, { ...inputs, sample }), labels);
      return [sum(perExample), perExample] as const;
    })(inputs.sample);
    return { logProb: aux, grad };
  };
}

/** The classifier gradient compiled once with its weights frozen; any batch size (retraced once per size). */
export function compiledClassifierGradient(options: ClassifierGradientOptions): CompiledClassifierGradient {
  const { classifier, params, alphasCumprod } = options;
  const perExample = classifier.sampleShape.reduce((a, b) => a * b, 1);
  const types = (batch: number) => ({
    params: classifier.paramTypes(),
    ...inputTypes(classifier, batch),
    labels: { shape: [batch], dtype: 'int64' as const },
  });
  const compiled = (options.runtime ?? new OrtNodeRuntime()).compile(
    logProbAndGradient(classifier) as never,
    types(1),
    { frozen: { params } as never },
  );
  const gradient: ClassifierGradientFn = async (sample, timestep, given) => {
    if (sample.length % perExample !== 0) {
      throw new ShapeError(
        `classifier guidance: ${sample.length} values are not whole examples of ${perExample} values`,
      );
    }
    const batch = sample.length / perExample;
    const labels = typeof given === 'number' ? new BigInt64Array(batch).fill(BigInt(given)) : given;
    if (labels.length !== batch) {
      throw new UsageError(`classifier guidance got ${labels.length} class labels for a batch of ${batch}`);
    }
    for (const label of labels) {
      if (label < 0n || label >= BigInt(classifier.numClasses)) {
        throw new UsageError(`class label ${label} is out of range for the classifier`, {
          hint: `use 0..${classifier.numClasses - 1}`,
        });
      }
    }
    const level = discreteNoiseLevel(alphasCumprod, timestep);
    const vector = (value: number) => ({
      data: new Float32Array(batch).fill(value),
      shape: [batch],
      dtype: 'float32' as const,
    });
    const out = (await compiled.run({
      sample: { data: sample, shape: [batch, ...classifier.sampleShape], dtype: 'float32' },
      timestep: vector(timestep),
      alpha: vector(level.alpha),
      sigma: vector(level.sigma),
      labels: { data: labels, shape: [batch], dtype: 'int64' },
    } as never)) as { logProb: HostTensor; grad: HostTensor };
    return { logProb: out.logProb.data as Float32Array, grad: out.grad.data as Float32Array };
  };
  return { gradient, dispose: () => compiled.dispose() };
}

export interface ClassifierGuidanceOptions {
  /** The unconditional (or conditional) denoiser as the sampler would call it. */
  model: ModelFn;
  /** What `model` outputs. */
  predictionType: PredictionType;
  /** ᾱ_t of the model's training schedule (`trainingAlphasCumprod(schedulerConfig)`). */
  alphasCumprod: Float64Array;
  gradient: ClassifierGradientFn;
  /** The target class: one for the whole batch or one per example. */
  labels: number | readonly number[];
  /** Guidance scale s ≥ 0: 0 returns `model` itself, 1 targets p(x | y), larger sharpens toward y. */
  scale: number;
}

/** One class for every example, or one per example (checked against the batch when it arrives). */
function labelList(labels: number | readonly number[]): number | BigInt64Array {
  const list = typeof labels === 'number' ? [labels] : labels;
  for (const label of list) {
    if (!Number.isInteger(label) || label < 0)
      throw new UsageError(`class label ${label} must be a non-negative integer`);
  }
  return typeof labels === 'number' ? labels : BigInt64Array.from(labels, (l) => BigInt(l));
}

/**
 * The model with the classifier's gradient folded into its output. For ε: ε̃ = ε − s·σ·g, with
 * g = ∇_{x_t} log p(y | x_t, t). Other parameterisations are affine in ε at fixed x_t
 * (`conversionCoefficients('epsilon', kind)` gives ∂output/∂ε: −σ/α for x₀, (α²+σ²)/α for v), so they
 * shift by that coefficient times −s·σ·g — e.g. x̂₀ gains s·σ²/α·g, Tweedie's formula for the added score.
 */
export function classifierGuidedModel(options: ClassifierGuidanceOptions): ModelFn {
  const { model, predictionType, alphasCumprod, gradient, scale } = options;
  if (!(Number.isFinite(scale) && scale >= 0)) {
    throw new ConfigError(`classifier guidance scale must be a finite number ≥ 0, got ${scale}`);
  }
  // Validates the prediction type once, up front.
  conversionCoefficients('epsilon', predictionType, { alpha: 1, sigma: 1 });
  if (scale === 0) return model;
  const labels = labelList(options.labels);
  return async (input, timestep) => {
    const output = await model(input, timestep);
    if (output.length !== input.length) {
      throw new ShapeError(`model returned ${output.length} values for an input of ${input.length}`);
    }
    const level = discreteNoiseLevel(alphasCumprod, timestep);
    const { grad } = await gradient(input, timestep, labels);
    const shift = -scale * level.sigma * conversionCoefficients('epsilon', predictionType, level).prediction;
    const guided = new Float32Array(output.length);
    for (let i = 0; i < output.length; i++) guided[i] = output[i] + shift * grad[i];
    return guided;
  };
}
