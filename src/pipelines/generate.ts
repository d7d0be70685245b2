/**
 * Generation from a trained denoiser: the network is compiled ONCE with its weights frozen into the
 * graph (engine `compile(..., { frozen })`, so onnxruntime pre-packs them), wrapped as the `ModelFn` a
 * registry sampler calls, and run from seeded N(0, I) noise. Class labels condition the network; with
 * a guidance scale s the conditional and unconditional (null-class) predictions come from ONE batched
 * call and combine as ε̃ = ε_u + s (ε_c − ε_u) (Ho & Salimans 2022, eq. 6): s = 0 is unconditional,
 * s = 1 conditional, s > 1 guided. With a `control` (a ControlNet, its weights, conditioning images
 * and a scale) the ControlNet's residuals join every network call (Zhang et al. 2023); the conditioning
 * images repeat over the guided batch's halves.
 *
 * This module must not train, write files or choose a sampler's maths; it only drives the registry.
 */
import {
  fitsFrozen,
  OrtNodeRuntime,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TypeTree,
} from '../engine/index.js';
import { randomNoiseSource } from '../diffusion/samplers/common.js';
import { samplerSetup } from '../diffusion/samplers/registry.js';
import type { ModelFn, StepCallback } from '../diffusion/samplers/types.js';
import type { SchedulerConfig } from '../diffusion/scheduler-config.js';
import type { ControlNetModel } from '../models/controlnet.js';
import type { DenoiserNetwork, Params, ParamTensors } from '../models/types.js';
import { ConfigError, UsageError } from '../util/errors.js';
import { Random } from '../util/random.js';

/** Spatial conditioning through a ControlNet trained for the network. */
export interface ControlOptions {
  network: ControlNetModel;
  params: Params;
  /** Conditioning images in [0, 1]: one for all samples [1, ...conditionShape] or one per sample. */
  condition: Float32Array;
  /** Multiplies every residual (diffusers' `controlnet_conditioning_scale`); default 1. */
  scale?: number;
}

export interface GenerateOptions {
  network: DenoiserNetwork;
  /** Weights to sample with (usually the EMA weights). */
  params: Params;
  /** The model's scheduler config (its training schedule and prediction type). */
  schedulerConfig: SchedulerConfig;
  /** Sampler name (`dpmpp_2m`, `euler_a`, a diffusers class name); default: the model's own scheduler. */
  sampler?: string;
  numSteps: number;
  numSamples: number;
  seed?: number;
  /** Scales the initial and injected noise (1 = the model's distribution). */
  temperature?: number;
  /** One class for all samples, or one per sample; needs a class-conditional network. */
  classLabels?: number | readonly number[];
  /** Classifier-free guidance scale; default 1 (plain conditional). */
  guidance?: number;
  runtime?: Runtime;
  /**
   * A denoiser compiled earlier by `compiledDenoiser` for this network and params, reused across calls
   * (a service answering many requests); it handles any batch size and is not disposed here.
   */
  denoiser?: CompiledDenoiser;
  callback?: StepCallback;
  /** A ControlNet and its condition; with `denoiser`, pass it to `compiledDenoiser` instead. */
  control?: ControlOptions;
}

/** Labels per sample, checked against the network's real classes (the last embedding is the null class). */
function labelsFor(options: GenerateOptions): BigInt64Array | null {
  const { network, classLabels, numSamples } = options;
  if (classLabels === undefined) return null;
  if (network.numClassEmbeds === null) {
    throw new UsageError(`this ${network.className} is unconditional; leave out the class label`);
  }
  const real = network.numClassEmbeds - 1;
  const list =
    typeof classLabels === 'number' ? Array<number>(numSamples).fill(classLabels) : [...classLabels];
  if (list.length !== numSamples)
    throw new UsageError(`got ${list.length} class labels for ${numSamples} samples`);
  for (const label of list) {
    if (!Number.isInteger(label) || label < 0 || label >= real) {
      throw new UsageError(`class label ${label} is out of range`, { hint: `use 0..${real - 1}` });
    }
  }
  return BigInt64Array.from(list, (l) => BigInt(l));
}

export type Denoise = (
  sample: Float32Array,
  timestep: number,
  labels: BigInt64Array | null,
) => Promise<Float32Array>;

export interface CompiledDenoiser {
  denoise: Denoise;
  dispose: () => Promise<void>;
}

/** The network compiled once with frozen weights, as a function of (x_t, t, labels) for any batch size. */
export function compiledDenoiser(
  options: Pick<GenerateOptions, 'network' | 'params' | 'numSamples' | 'control'>,
  runtime: Runtime,
): CompiledDenoiser {
  const { network, params, control } = options;
  const conditional = network.numClassEmbeds !== null;
  type Inputs = { params: ParamTensors; sample: Tensor; timestep: Tensor; classLabels?: Tensor };
  type ControlInputs = Inputs & { control: ParamTensors; condition: Tensor };
  const fn = control
    ? (inputs: ControlInputs) => {
        const { condition, control: weights, ...rest } = inputs;
        const residuals = control.network.apply(weights, rest, condition, control.scale ?? 1);
        return network.apply(rest.params, { ...rest, controlResiduals: residuals });
      }
    : (inputs: Inputs) => network.apply(inputs.params, inputs);
  const types = (batch: number) => ({
    params: network.paramTypes() as TypeTree,
    sample: { shape: [batch, ...network.sampleShape], dtype: 'float32' as const },
    timestep: { shape: [batch], dtype: 'float32' as const },
    ...(conditional ? { classLabels: { shape: [batch], dtype: 'int64' as const } } : {}),
    ...(control
      ? {
          control: control.network.paramTypes() as TypeTree,
          condition: { shape: [batch, ...control.network.conditionShape], dtype: 'float32' as const },
        }
      : {}),
  });
  const weights = control ? { params, control: control.params } : { params };
  // One ONNX protobuf holds at most 2 GB: larger weights (an SD-sized U-Net) stay inputs fed each call.
  const freeze = fitsFrozen(params, ...(control ? [control.params] : []));
  const compiled = runtime.compile(
    fn as never,
    types(options.numSamples),
    freeze ? { frozen: weights as never } : {},
  );
  const perSample = network.sampleShape.reduce((a, b) => a * b, 1);
  const denoise: Denoise = async (sample, timestep, labels) => {
    const batch = sample.length / perSample;
    // Explicit shapes: the compiled function retraces (once, then cached) for each new batch size.
    const inputs: Record<string, unknown> = {
      ...(freeze ? {} : weights),
      sample: { data: sample, shape: [batch, ...network.sampleShape], dtype: 'float32' },
      timestep: { data: new Float32Array(batch).fill(timestep), shape: [batch], dtype: 'float32' },
    };
    if (conditional) {
      // An unconditional request to a conditional network uses the null class (index numClassEmbeds − 1).
      const data = labels ?? new BigInt64Array(batch).fill(BigInt(network.numClassEmbeds! - 1));
      inputs.classLabels = { data, shape: [batch], dtype: 'int64' };
    }
    if (control) inputs.condition = conditionBatch(control, batch);
    const out = (await compiled.run(inputs as never)) as HostTensor;
    return out.data as Float32Array;
  };
  return { denoise, dispose: () => compiled.dispose() };
}

/** The conditioning images repeated to `batch` rows (one image for all, or one per sample per half). */
function conditionBatch(control: ControlOptions, batch: number): HostTensor {
  const shape = control.network.conditionShape;
  const per = shape.reduce((a, b) => a * b, 1);
  const given = control.condition.length / per;
  if (!Number.isInteger(given) || given < 1 || batch % given !== 0) {
    throw new ConfigError(
      `control: ${control.condition.length} condition values are not 1 or ${batch} images of shape [${shape.join(', ')}]`,
    );
  }
  const data = new Float32Array(batch * per);
  for (let i = 0; i < batch; i += given) data.set(control.condition, i * per);
  return { data, shape: [batch, ...shape], dtype: 'float32' };
}

/** The ModelFn for the sampler: plain conditional/unconditional, or CFG over one doubled batch. */
export function guidedModel(
  denoise: Denoise,
  labels: BigInt64Array | null,
  guidance: number,
  nullClass: number,
): ModelFn {
  if (labels === null || guidance === 1) return (x, t) => denoise(x, t, labels);
  if (guidance === 0)
    return (x, t) => denoise(x, t, new BigInt64Array(labels.length).fill(BigInt(nullClass)));
  const both = new BigInt64Array(labels.length * 2);
  both.set(labels);
  both.fill(BigInt(nullClass), labels.length);
  return async (x, t) => {
    const doubled = new Float32Array(x.length * 2);
    doubled.set(x);
    doubled.set(x, x.length);
    const out = await denoise(doubled, t, both);
    const guided = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const cond = out[i];
      const uncond = out[x.length + i];
      guided[i] = uncond + guidance * (cond - uncond);
    }
    return guided;
  };
}

/** A ConfigError unless the control's conditioning images fit (1 or numSamples) and its scale is finite. */
function checkControl(control: ControlOptions, numSamples: number): void {
  const per = control.network.conditionShape.reduce((a, b) => a * b, 1);
  const given = control.condition.length / per;
  if (given !== 1 && given !== numSamples) {
    throw new ConfigError(
      `control: got ${control.condition.length} condition values; need 1 or ${numSamples} images of shape [${control.network.conditionShape.join(', ')}]`,
    );
  }
  if (!Number.isFinite(control.scale ?? 1))
    throw new ConfigError(`control scale must be a finite number, got ${control.scale}`);
}

/** `numSamples` samples, flat [numSamples, ...sampleShape]. */
export async function generate(options: GenerateOptions): Promise<Float32Array> {
  const { network, numSamples, numSteps, temperature = 1, guidance = 1 } = options;
  if (!Number.isInteger(numSamples) || numSamples < 1)
    throw new ConfigError(`number of samples must be a positive integer, got ${numSamples}`);
  if (!Number.isInteger(numSteps) || numSteps < 1)
    throw new ConfigError(`number of steps must be a positive integer, got ${numSteps}`);
  if (!(temperature >= 0 && Number.isFinite(temperature)))
    throw new ConfigError(`temperature must be ≥ 0, got ${temperature}`);
  if (!Number.isFinite(guidance))
    throw new ConfigError(`guidance scale must be a finite number, got ${guidance}`);
  const labels = labelsFor(options);
  if (options.control) {
    if (options.denoiser)
      throw new ConfigError(
        'control: compile it into the denoiser (compiledDenoiser) instead of passing both',
      );
    checkControl(options.control, numSamples);
  }
  const { entry, config } = samplerSetup(
    options.sampler ?? options.schedulerConfig.className,
    options.schedulerConfig,
  );
  const random = new Random(options.seed ?? 0);
  const perSample = network.sampleShape.reduce((a, b) => a * b, 1);
  const noise = random.normals(numSamples * perSample).map((v) => v * temperature);
  // Guidance s ∉ {0, 1} runs the conditional and unconditional halves as one doubled batch.
  const doubled = labels !== null && guidance !== 0 && guidance !== 1;
  const { denoise, dispose } =
    options.denoiser ??
    compiledDenoiser(
      doubled ? { ...options, numSamples: numSamples * 2 } : options,
      options.runtime ?? new OrtNodeRuntime(),
    );
  try {
    const model = guidedModel(denoise, labels, guidance, (network.numClassEmbeds ?? 1) - 1);
    return await entry.run(
      {
        model,
        noise,
        numInferenceSteps: numSteps,
        batchSize: numSamples,
        noiseSource: randomNoiseSource(random),
        temperature,
        ...(options.callback ? { callback: options.callback } : {}),
      },
      config,
      {},
    );
  } finally {
    if (!options.denoiser) await dispose();
  }
}
