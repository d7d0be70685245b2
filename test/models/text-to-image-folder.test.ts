// Text-to-image folders: a pixel-space model saved in diffusers' layout (model_index.json entries as
// diffusers writes them) loads back with identical weights and tokenizer; PyTorch `.bin` weights are
// refused naming the file; a missing component is named.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { CLIPTextModel } from '../../src/models/clip-text.js';
import {
  componentWeightsPath,
  loadTextToImagePipeline,
  saveTextToImagePipeline,
  type TextToImageComponents,
} from '../../src/models/text-to-image-folder.js';
import { UNet2DConditionModel } from '../../src/models/unet2d-condition.js';
import { trainClipTokenizer } from '../../src/text/index.js';
import { FormatError, NotFoundError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

function tinyPixelModel(): TextToImageComponents {
  const tokenizer = trainClipTokenizer(['a handwritten seven', 'the digit 7'], { vocabSize: 530, modelMaxLength: 8 });
  const textEncoder = new CLIPTextModel({
    vocab_size: tokenizer.vocabSize,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    max_position_embeddings: 8,
    bos_token_id: tokenizer.bosTokenId,
    eos_token_id: tokenizer.eosTokenId,
    pad_token_id: tokenizer.padTokenId,
  });
  const unet = new UNet2DConditionModel({
    sample_size: 8,
    in_channels: 1,
    out_channels: 1,
    block_out_channels: [4, 8],
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    layers_per_block: 1,
    attention_head_dim: 2,
    norm_num_groups: 2,
    cross_attention_dim: 8,
  });
  return {
    unet,
    unetParams: unet.init(new Random(1)),
    textEncoder,
    textEncoderParams: textEncoder.init(new Random(2)),
    tokenizer,
    schedulerConfig: schedulerConfig('DDPMScheduler', { clipSample: true }),
  };
}

describe('text-to-image folders', () => {
  let dir = '';
  let model: TextToImageComponents;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 't2i-folder-'));
    model = tinyPixelModel();
    saveTextToImagePipeline(join(dir, 'pixel'), model, { 'training_summary.json': '{}\n' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("writes diffusers' layout and model_index.json entries", () => {
    const root = join(dir, 'pixel');
    for (const file of [
      'unet/config.json',
      'unet/diffusion_pytorch_model.safetensors',
      'text_encoder/config.json',
      'text_encoder/model.safetensors',
      'tokenizer/vocab.json',
      'tokenizer/merges.txt',
      'tokenizer/tokenizer_config.json',
      'tokenizer/special_tokens_map.json',
      'scheduler/scheduler_config.json',
      'training_summary.json',
    ]) {
      assert.ok(existsSync(join(root, file)), file);
    }
    const index = JSON.parse(readFileSync(join(root, 'model_index.json'), 'utf8'));
    assert.deepEqual(index.unet, ['diffusers', 'UNet2DConditionModel']);
    assert.deepEqual(index.text_encoder, ['transformers', 'CLIPTextModel']);
    assert.deepEqual(index.tokenizer, ['transformers', 'CLIPTokenizer']);
    assert.deepEqual(index.scheduler, ['diffusers', 'DDPMScheduler']);
    assert.equal(index.vae, undefined);
    const text = JSON.parse(readFileSync(join(root, 'text_encoder', 'config.json'), 'utf8'));
    assert.equal(text.model_type, 'clip_text_model');
  });

  it('loads back identical weights, tokenizer and scheduler', () => {
    const loaded = loadTextToImagePipeline(join(dir, 'pixel'));
    for (const [name, p] of Object.entries(model.unetParams)) {
      assert.deepEqual(loaded.unetParams[name].data, p.data, name);
    }
    for (const [name, p] of Object.entries(model.textEncoderParams)) {
      assert.deepEqual(loaded.textEncoderParams[name].data, p.data, name);
    }
    assert.deepEqual(loaded.tokenizer.encode('the digit 7'), model.tokenizer.encode('the digit 7'));
    assert.equal(loaded.schedulerConfig.className, 'DDPMScheduler');
    assert.equal(loaded.vae, undefined);
  });

  it('refuses PyTorch .bin weights with a message naming the file and safetensors', () => {
    const root = join(dir, 'pixel');
    const weights = join(root, 'unet', 'diffusion_pytorch_model.safetensors');
    const pickle = join(root, 'unet', 'diffusion_pytorch_model.bin');
    renameSync(weights, pickle);
    try {
      assert.throws(
        () => loadTextToImagePipeline(root),
        (error: unknown) =>
          error instanceof FormatError &&
          error.message.includes(pickle) &&
          /safetensors/.test(`${error.message} ${error.hint ?? ''}`),
      );
      assert.throws(() => componentWeightsPath(join(root, 'unet'), 'diffusion_pytorch_model', 'fp16'), NotFoundError);
    } finally {
      renameSync(pickle, weights);
    }
  });

  it('names a missing component of model_index.json', () => {
    const root = join(dir, 'pixel');
    const path = join(root, 'model_index.json');
    const original = readFileSync(path, 'utf8');
    const index = JSON.parse(original);
    delete index.tokenizer;
    writeFileSync(path, JSON.stringify(index));
    try {
      assert.throws(() => loadTextToImagePipeline(root), /lists no 'tokenizer' component/);
    } finally {
      writeFileSync(path, original);
    }
    assert.throws(() => loadTextToImagePipeline(join(dir, 'missing')), NotFoundError);
  });
});
