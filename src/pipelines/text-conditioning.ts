/**
 * How prompts reach a UNet2DConditionModel: each prompt is tokenized, padded to the encoder's length
 * and encoded once into its hidden states [tokens, hidden] (what cross-attention reads) and one prompt
 * vector (the pooled output, or `text_embeds` with a text projection), which networks with
 * `class_embed_type: 'projection'` add to their time embedding as GLIDE does. The U-Net is compiled once
 * per batch size (weights frozen into the graph up to protobuf's 2 GB limit, fed as inputs beyond it)
 * and wrapped as the sampler's `ModelFn`, with classifier-free guidance (Ho & Salimans 2022, eq. 6)
 * run as one doubled batch: ε̃ = ε_u + s (ε_c − ε_u).
 *
 * This module must not read files or sample: the pipelines in `text-to-image.ts` do.
 */
import type { ModelFn } from '../diffusion/samplers/types.js';
import {
  fitsFrozen,
  OrtNodeRuntime,
  type HostTensor,
  type Runtime,
  type Tensor,
  type TypeTree,
} from '../engine/index.js';
import { CLIPTextModel } from '../models/clip-text.js';
import type { TextToImageComponents } from '../models/text-to-image-folder.js';
import type { ParamTensors } from '../models/types.js';

/** A batch of encoded prompts: hidden states flat [count, tokens, hidden] and vectors [count, width]. */
export interface PromptEmbeddings {
  readonly count: number;
  readonly hidden: Float32Array;
  readonly vector: Float32Array;
}

/** Rows [start, end) of a batch of prompt embeddings (views, not copies). */
export function promptRows(prompts: PromptEmbeddings, start: number, end: number): PromptEmbeddings {
  const hidden = prompts.hidden.length / prompts.count;
  const vector = prompts.vector.length / prompts.count;
  return {
    count: end - start,
    hidden: prompts.hidden.subarray(start * hidden, end * hidden),
    vector: prompts.vector.subarray(start * vector, end * vector),
  };
}

/** `a` then `b` as one batch. */
export function concatPrompts(a: PromptEmbeddings, b: PromptEmbeddings): PromptEmbeddings {
  const join = (x: Float32Array, y: Float32Array) => {
    const out = new Float32Array(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  return { count: a.count + b.count, hidden: join(a.hidden, b.hidden), vector: join(a.vector, b.vector) };
}

/** Tokens per prompt: the tokenizer's padded length, capped at the encoder's positions. */
export function promptLength(components: TextToImageComponents): number {
  return Math.min(components.tokenizer.modelMaxLength, components.textEncoder.config.max_position_embeddings);
}

/** The text encoder's hidden states and prompt vector for each text. */
export async function encodePrompts(
  components: TextToImageComponents,
  texts: readonly string[],
  runtime: Runtime = new OrtNodeRuntime(),
): Promise<PromptEmbeddings> {
  const length = promptLength(components);
  const ids = components.tokenizer.encodeBatch(texts, { maxLength: length }).inputIds;
  const { textEncoder, textEncoderParams } = components;
  const freeze = fitsFrozen(textEncoderParams);
  const compiled = runtime.compile(
    ((inputs: { params: ParamTensors; ids: Tensor }) => {
      const outputs = textEncoder.encode(inputs.params, inputs.ids);
      return { hidden: outputs.lastHiddenState, vector: CLIPTextModel.promptVector(outputs) };
    }) as never,
    {
      params: textEncoder.paramTypes() as TypeTree,
      ids: { shape: [texts.length, length], dtype: 'int64' },
    },
    freeze ? { frozen: { params: textEncoderParams } as never } : {},
  );
  try {
    const inputs = {
      ...(freeze ? {} : { params: textEncoderParams }),
      ids: { data: ids, shape: [texts.length, length], dtype: 'int64' },
    };
    const out = (await compiled.run(inputs as never)) as unknown as {
      hidden: HostTensor;
      vector: HostTensor;
    };
    return {
      count: texts.length,
      hidden: out.hidden.data as Float32Array,
      vector: out.vector.data as Float32Array,
    };
  } finally {
    await compiled.dispose();
  }
}

/** The U-Net as a function of (x_t [B, ...sample], t, prompts) for any batch size. */
export interface TextDenoiser {
  denoise(sample: Float32Array, timestep: number, prompts: PromptEmbeddings): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** The U-Net compiled once for samples of `sampleShape` and `batch` rows (other sizes retrace once). */
export function textDenoiser(
  components: TextToImageComponents,
  sampleShape: readonly number[],
  batch: number,
  runtime: Runtime,
): TextDenoiser {
  const { unet, unetParams } = components;
  const tokens = promptLength(components);
  const hidden = components.textEncoder.config.hidden_size;
  const vectorWidth = unet.classEmbedsWidth;
  const freeze = fitsFrozen(unetParams);
  type Inputs = { params: ParamTensors; sample: Tensor; timestep: Tensor; context: Tensor; vector?: Tensor };
  const compiled = runtime.compile(
    ((inputs: Inputs) =>
      unet.apply(inputs.params, {
        sample: inputs.sample,
        timestep: inputs.timestep,
        encoderHiddenStates: inputs.context,
        ...(inputs.vector ? { classEmbeds: inputs.vector } : {}),
      })) as never,
    {
      params: unet.paramTypes() as TypeTree,
      sample: { shape: [batch, ...sampleShape], dtype: 'float32' },
      timestep: { shape: [batch], dtype: 'float32' },
      context: { shape: [batch, tokens, hidden], dtype: 'float32' },
      ...(vectorWidth !== null ? { vector: { shape: [batch, vectorWidth], dtype: 'float32' } } : {}),
    },
    freeze ? { frozen: { params: unetParams } as never } : {},
  );
  const perSample = sampleShape.reduce((a, b) => a * b, 1);
  return {
    async denoise(sample, timestep, prompts) {
      const rows = sample.length / perSample;
      const inputs = {
        ...(freeze ? {} : { params: unetParams }),
        sample: { data: sample, shape: [rows, ...sampleShape], dtype: 'float32' },
        timestep: { data: new Float32Array(rows).fill(timestep), shape: [rows], dtype: 'float32' },
        context: { data: prompts.hidden, shape: [rows, tokens, hidden], dtype: 'float32' },
        ...(vectorWidth !== null
          ? { vector: { data: prompts.vector, shape: [rows, vectorWidth], dtype: 'float32' } }
          : {}),
      };
      const out = (await compiled.run(inputs as never)) as HostTensor;
      return out.data as Float32Array;
    },
    dispose: () => compiled.dispose(),
  };
}

/**
 * The sampler's ModelFn: the conditional prediction (s = 1), the unconditional one (s = 0), or
 * ε_u + s (ε_c − ε_u) from one doubled batch [x; x] with prompts [cond; uncond].
 */
export function textGuidedModel(
  denoiser: Pick<TextDenoiser, 'denoise'>,
  cond: PromptEmbeddings,
  uncond: PromptEmbeddings,
  guidance: number,
): ModelFn {
  if (guidance === 1) return (x, t) => denoiser.denoise(x, t, cond);
  if (guidance === 0) return (x, t) => denoiser.denoise(x, t, uncond);
  const both = concatPrompts(cond, uncond);
  return async (x, t) => {
    const doubled = new Float32Array(x.length * 2);
    doubled.set(x);
    doubled.set(x, x.length);
    const out = await denoiser.denoise(doubled, t, both);
    const guided = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++)
      guided[i] = out[x.length + i] + guidance * (out[i] - out[x.length + i]);
    return guided;
  };
}
