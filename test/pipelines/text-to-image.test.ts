// A Stable Diffusion folder in diffusers' exact layout and file names (model_index.json as diffusers
// writes it, float16 safetensors, the fp16 variant file for the VAE, transformers' text_encoder config
// with its legacy eos id and `position_ids` buffer, a PNDMScheduler config like SD's), built with TINY
// random configs, loads unchanged and runs text-to-image, image-to-image and inpainting end to end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { AutoencoderKL } from '../../src/models/autoencoder-kl.js';
import { CLIPTextModel } from '../../src/models/clip-text.js';
import {
  loadTextToImagePipeline,
  type LoadedTextToImagePipeline,
} from '../../src/models/text-to-image-folder.js';
import type { Params } from '../../src/models/types.js';
import { UNet2DConditionModel } from '../../src/models/unet2d-condition.js';
import { textImg2img, textInpaint, textToImage } from '../../src/pipelines/text-to-image.js';
import { trainClipTokenizer, writeClipTokenizerFiles } from '../../src/text/index.js';
import { Random } from '../../src/util/random.js';

const PNDM_SD = fileURLToPath(
  new URL(
    '../../../shared/reference/scheduler_configs/PNDMScheduler_sd_like/scheduler_config.json',
    import.meta.url,
  ),
);

const UNET_CONFIG = {
  _class_name: 'UNet2DConditionModel',
  _diffusers_version: '0.6.0',
  act_fn: 'silu',
  attention_head_dim: 2,
  block_out_channels: [8, 16],
  center_input_sample: false,
  cross_attention_dim: 16,
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 1,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 4,
  out_channels: 4,
  sample_size: 8,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
};

const VAE_CONFIG = {
  _class_name: 'AutoencoderKL',
  _diffusers_version: '0.6.0',
  act_fn: 'silu',
  block_out_channels: [8, 8],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
  in_channels: 3,
  latent_channels: 4,
  layers_per_block: 1,
  norm_num_groups: 4,
  out_channels: 3,
  sample_size: 16,
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
};

const MODEL_INDEX = {
  _class_name: 'StableDiffusionPipeline',
  _diffusers_version: '0.6.0',
  feature_extractor: ['transformers', 'CLIPImageProcessor'],
  safety_checker: ['stable_diffusion', 'StableDiffusionSafetyChecker'],
  scheduler: ['diffusers', 'PNDMScheduler'],
  text_encoder: ['transformers', 'CLIPTextModel'],
  tokenizer: ['transformers', 'CLIPTokenizer'],
  unet: ['diffusers', 'UNet2DConditionModel'],
  vae: ['diffusers', 'AutoencoderKL'],
};

/** Params as float16 safetensors bytes (what `torch_dtype=torch.float16` checkpoints hold). */
function fp16Bytes(
  params: Params,
  extra: Record<string, { shape: number[]; data: BigInt64Array }> = {},
): Uint8Array {
  const tensors = Object.fromEntries(
    Object.entries(params).map(([name, p]) => [name, { shape: p.shape, data: p.data as Float32Array }]),
  );
  return serializeSafetensors({ ...tensors, ...extra }, { format: 'pt' }, { floatDType: 'F16' });
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes the tiny SD folder into `dir`. */
function writeSdFolder(dir: string): void {
  for (const sub of ['unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler'])
    mkdirSync(join(dir, sub), { recursive: true });
  writeJson(join(dir, 'model_index.json'), MODEL_INDEX);
  const unet = new UNet2DConditionModel(UNET_CONFIG);
  writeJson(join(dir, 'unet', 'config.json'), UNET_CONFIG);
  writeFileSync(
    join(dir, 'unet', 'diffusion_pytorch_model.safetensors'),
    fp16Bytes(unet.init(new Random(1))),
  );
  const vae = new AutoencoderKL(VAE_CONFIG);
  writeJson(join(dir, 'vae', 'config.json'), VAE_CONFIG);
  writeFileSync(
    join(dir, 'vae', 'diffusion_pytorch_model.fp16.safetensors'),
    fp16Bytes(vae.init(new Random(2))),
  );
  const tokenizer = trainClipTokenizer(
    ['a photo of a cat', 'a photo of a dog', 'a red car', 'blurry, low quality'],
    {
      vocabSize: 540,
      modelMaxLength: 12,
    },
  );
  writeClipTokenizerFiles(join(dir, 'tokenizer'), tokenizer);
  const textConfig = {
    _name_or_path: 'tiny-sd/text_encoder',
    architectures: ['CLIPTextModel'],
    attention_dropout: 0,
    bos_token_id: 0,
    dropout: 0,
    eos_token_id: 2,
    hidden_act: 'quick_gelu',
    hidden_size: 16,
    initializer_factor: 1,
    initializer_range: 0.02,
    intermediate_size: 32,
    layer_norm_eps: 1e-5,
    max_position_embeddings: 12,
    model_type: 'clip_text_model',
    num_attention_heads: 2,
    num_hidden_layers: 2,
    pad_token_id: 1,
    projection_dim: 16,
    torch_dtype: 'float16',
    transformers_version: '4.22.0.dev0',
    vocab_size: tokenizer.vocabSize,
  };
  writeJson(join(dir, 'text_encoder', 'config.json'), textConfig);
  const text = new CLIPTextModel(textConfig);
  const positionIds = { shape: [1, 12], data: BigInt64Array.from({ length: 12 }, (_, i) => BigInt(i)) };
  writeFileSync(
    join(dir, 'text_encoder', 'model.safetensors'),
    fp16Bytes(text.init(new Random(3)), { 'text_model.embeddings.position_ids': positionIds }),
  );
  copyFileSync(PNDM_SD, join(dir, 'scheduler', 'scheduler_config.json'));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('a diffusers Stable Diffusion folder (tiny random configs)', () => {
  let dir: string;
  let sd: LoadedTextToImagePipeline;
  const base = { prompt: 'a photo of a cat', numSteps: 3, seed: 7 };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sd-tiny-'));
    writeSdFolder(dir);
    sd = loadTextToImagePipeline(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads every component unchanged (float16 upcast, fp16 variant VAE, SD scheduler)', () => {
    assert.equal(sd.schedulerConfig.className, 'PNDMScheduler');
    assert.equal(sd.vae?.model.config.scaling_factor, 0.18215);
    assert.equal(sd.textEncoder.config.hidden_size, 16);
    assert.equal(sd.unet.crossAttentionDim, 16);
    // float16 storage: every weight is exactly representable in half precision.
    const w = sd.unetParams['conv_in.weight'].data as Float32Array;
    assert.ok(w.every((v) => Math.fround(v) === v && Number.isFinite(v)));
  });

  it('txt2img is deterministic given the seed, 16×16 RGB from 8×8 latents', async () => {
    const first = await textToImage(sd, base);
    const again = await textToImage(sd, base);
    assert.deepEqual(first.shape, [3, 16, 16]);
    assert.equal(first.images.length, 3 * 16 * 16);
    assert.ok(first.images.every(Number.isFinite));
    assert.equal(maxAbsDiff(first.images, again.images), 0);
    const otherSeed = await textToImage(sd, { ...base, seed: 8 });
    assert.ok(maxAbsDiff(first.images, otherSeed.images) > 1e-3);
  });

  it('a negative prompt changes the guided output; at guidance 1 only the prompt counts', async () => {
    const plain = await textToImage(sd, base);
    const negative = await textToImage(sd, { ...base, negativePrompt: 'blurry, low quality' });
    assert.ok(maxAbsDiff(plain.images, negative.images) > 1e-3, 'negative prompt had no effect');
    const condA = await textToImage(sd, { ...base, guidance: 1 });
    const condB = await textToImage(sd, { ...base, guidance: 1, negativePrompt: 'a red car' });
    assert.equal(maxAbsDiff(condA.images, condB.images), 0);
    // The doubled-batch guided path at s = 1 + 1e-6 equals the conditional-only run (ε_u + s(ε_c − ε_u) ≈ ε_c).
    const doubled = await textToImage(sd, { ...base, guidance: 1 + 1e-6, negativePrompt: 'a red car' });
    assert.ok(maxAbsDiff(condA.images, doubled.images) < 1e-3, `${maxAbsDiff(condA.images, doubled.images)}`);
    assert.ok(maxAbsDiff(condA.images, plain.images) > 1e-3, 'guidance 7.5 equals guidance 1');
  });

  it('image-to-image and inpainting with a prompt run in latent space', async () => {
    const image = {
      data: new Float32Array(3 * 16 * 16).map((_, i) => Math.sin(i / 7)),
      shape: [1, 3, 16, 16],
    };
    const edited = await textImg2img(sd, { ...base, image, strength: 0.6, numSteps: 4 });
    assert.deepEqual(edited.shape, [3, 16, 16]);
    assert.ok(edited.images.every(Number.isFinite));
    const otherPrompt = await textImg2img(sd, {
      ...base,
      prompt: 'a red car',
      image,
      strength: 0.6,
      numSteps: 4,
    });
    assert.ok(maxAbsDiff(edited.images, otherPrompt.images) > 1e-4);
    // Keep the left half (1), fill the right half (0): kept pixels come back exactly.
    const mask = {
      data: new Float32Array(3 * 16 * 16).map((_, i) => (i % 16 < 8 ? 1 : 0)),
      shape: [3, 16, 16],
    };
    const filled = await textInpaint(sd, { ...base, image, mask, numSteps: 3, method: 'replace' });
    for (let i = 0; i < filled.images.length; i++) {
      if (mask.data[i] === 1) assert.equal(filled.images[i], image.data[i]);
    }
    assert.ok(maxAbsDiff(filled.images, image.data) > 1e-3);
  });
});
