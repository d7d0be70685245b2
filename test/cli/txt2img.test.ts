// `diffusion txt2img` through bin/diffusion.js on a tiny random pixel-space text-to-image folder: a grid
// of prompts × --num is written, the same seed gives the same PNG and a negative prompt another one, an
// --image edit runs; misuse is one line on stderr with exit code 2, checked before any model loads.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { readImage, writePng, tensorToImages } from '../../src/io/images.js';
import { CLIPTextModel } from '../../src/models/clip-text.js';
import { saveTextToImagePipeline } from '../../src/models/text-to-image-folder.js';
import { UNet2DConditionModel } from '../../src/models/unet2d-condition.js';
import { trainClipTokenizer } from '../../src/text/index.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

function saveTinyModel(dir: string): void {
  const tokenizer = trainClipTokenizer(['a handwritten seven', 'the digit 7'], {
    vocabSize: 530,
    modelMaxLength: 8,
  });
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
  saveTextToImagePipeline(dir, {
    unet,
    unetParams: unet.init(new Random(1)),
    textEncoder,
    textEncoderParams: textEncoder.init(new Random(2)),
    tokenizer,
    schedulerConfig: schedulerConfig('DDIMScheduler', { clipSample: true }),
  });
}

describe('diffusion txt2img', () => {
  let dir = '';
  let model = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-txt2img-'));
    model = join(dir, 'model');
    saveTinyModel(model);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a prompts × num grid, reproducible by seed; the negative prompt changes it', () => {
    const out = (name: string) => join(dir, name);
    const common = [
      '--model',
      model,
      '--prompt',
      'a handwritten seven',
      '--prompt',
      'the digit 7',
      '--num',
      '3',
      '--steps',
      '4',
    ];
    const a = run('txt2img', ...common, '--out', out('a.png'));
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /2 prompt\(s\) × 3, 8×8/);
    const image = readImage(out('a.png'));
    // torchvision-style grid: 3 columns × 2 rows of 8-px images with 2-px padding.
    assert.deepEqual([image.width, image.height], [3 * 10 + 2, 2 * 10 + 2]);
    const b = run('txt2img', ...common, '--out', out('b.png'));
    assert.equal(b.status, 0, b.stderr);
    assert.deepEqual(readFileSync(out('a.png')), readFileSync(out('b.png')));
    const c = run('txt2img', ...common, '--negative', 'the digit 7', '--out', out('c.png'));
    assert.equal(c.status, 0, c.stderr);
    assert.notDeepEqual(readFileSync(out('a.png')), readFileSync(out('c.png')));
  });

  it('edits an --image with the prompt (image-to-image and inpainting)', () => {
    const picture = join(dir, 'in.png');
    writePng(
      picture,
      tensorToImages(
        new Float32Array(64).map((_, i) => (i % 8 < 4 ? -1 : 1)),
        [1, 1, 8, 8],
      )[0],
    );
    const mask = join(dir, 'mask.png');
    writePng(
      mask,
      tensorToImages(
        new Float32Array(64).map((_, i) => (i < 32 ? -1 : 1)),
        [1, 1, 8, 8],
      )[0],
    );
    const edit = run(
      'txt2img',
      '--model',
      model,
      '--prompt',
      'the digit 7',
      '--image',
      picture,
      '--num',
      '1',
      '--steps',
      '4',
      '--out',
      join(dir, 'edit.png'),
    );
    assert.equal(edit.status, 0, edit.stderr);
    const fill = run(
      'txt2img',
      '--model',
      model,
      '--prompt',
      'the digit 7',
      '--image',
      picture,
      '--mask',
      mask,
      '--method',
      'replace',
      '--num',
      '1',
      '--steps',
      '4',
      '--out',
      join(dir, 'fill.png'),
    );
    assert.equal(fill.status, 0, fill.stderr);
    const filled = readImage(join(dir, 'fill.png'));
    const original = readImage(picture);
    // The black (kept) top half of the mask comes back exactly (grid padding 2 px around the image).
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 8; x++) {
        assert.equal(filled.data[((y + 2) * filled.width + x + 2) * 4], original.data[(y * 8 + x) * 4]);
      }
    }
  });

  it('train on captioned data writes a folder txt2img reads (--config, 2 steps)', () => {
    const config = join(dir, 'tiny.json');
    const tiny = {
      data: 'mnist-captions',
      dataOptions: { split: 'test' },
      unet: {
        block_out_channels: [8, 16],
        down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D'],
        up_block_types: ['CrossAttnUpBlock2D', 'UpBlock2D'],
        layers_per_block: 1,
        attention_head_dim: 2,
        norm_num_groups: 4,
        class_embed_type: 'projection',
      },
      textEncoder: { hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 },
      tokenizerVocabSize: 530,
      steps: 2,
      batchSize: 4,
      lr: 1e-3,
    };
    writeFileSync(config, JSON.stringify(tiny));
    const out = join(dir, 'trained');
    const trained = run('train', '--config', config, '--out', out);
    assert.equal(trained.status, 0, trained.stderr);
    assert.match(trained.stdout, /trained 2 steps/);
    const index = JSON.parse(readFileSync(join(out, 'model_index.json'), 'utf8'));
    assert.deepEqual(index.text_encoder, ['transformers', 'CLIPTextModel']);
    const unetConfig = JSON.parse(readFileSync(join(out, 'unet', 'config.json'), 'utf8'));
    assert.equal(unetConfig.class_embed_type, 'projection');
    assert.equal(unetConfig.projection_class_embeddings_input_dim, 8, 'the pooled prompt is 8 wide');
    const summary = JSON.parse(readFileSync(join(out, 'training_summary.json'), 'utf8'));
    assert.equal(summary.step, 2);
    const again = run('train', '--config', config, '--out', out);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already holds a run/);
    const drawn = run(
      'txt2img',
      '--model',
      out,
      '--prompt',
      'a handwritten seven',
      '--num',
      '2',
      '--steps',
      '2',
      '--out',
      join(dir, 't.png'),
    );
    assert.equal(drawn.status, 0, drawn.stderr);
    assert.deepEqual(
      [readImage(join(dir, 't.png')).width, readImage(join(dir, 't.png')).height],
      [2 * 30 + 2, 30 + 2],
    );
  });

  it('refuses misuse in one line with exit code 2', () => {
    const cases: [string[], RegExp][] = [
      [['--model', model, '--prompt', 'x', '--guidance', 'lots'], /--guidance must be a number/],
      [['--model', model, '--prompt', 'x', '--sampler', 'nope'], /--sampler/],
      [['--model', model, '--prompt', 'x', '--height', '16'], /--height and --width go together/],
      [['--model', model, '--prompt', 'x', '--height', '9', '--width', '9'], /not a positive multiple of 2/],
      [['--model', model, '--prompt', 'x', '--mask', 'm.png'], /--mask needs --image/],
      [['--model', join(dir, 'nothing'), '--prompt', 'x'], /does not exist/],
    ];
    for (const [args, pattern] of cases) {
      const result = run(
        'txt2img',
        ...args,
        ...(args.includes('--out') ? [] : ['--out', join(dir, 'never.png')]),
      );
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });
});
