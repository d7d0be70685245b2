// `diffusion variations` (and `txt2img`) through bin/diffusion.js on an unCLIP folder of tiny seeded
// networks: a grid of the input and its variations, reproducible by seed; misuse is a one-line error with exit code 2 and
// nothing written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveDataset } from '../../src/data/dataset.js';
import { readImage, tensorToImages, writePng } from '../../src/io/images.js';
import { ContrastiveModel } from '../../src/models/contrastive.js';
import { EmbeddingPrior } from '../../src/models/embedding-prior.js';
import { saveUnclip } from '../../src/models/unclip-folder.js';
import { trainClipTokenizer } from '../../src/text/index.js';
import { priorSchedulerConfig } from '../../src/training/embedding-prior.js';
import {
  parseUnclipDecoderConfig,
  unclipDecoderNetwork,
  unclipDecoderScheduler,
} from '../../src/training/unclip-decoder.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'variations-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  const random = new Random(0);
  const tokenizer = trainClipTokenizer(['a handwritten seven', 'the digit 2'], {
    vocabSize: 530,
    modelMaxLength: 8,
  });
  const model = new ContrastiveModel({
    embed_dim: 8,
    vision_channels: [4, 8],
    norm_num_groups: 2,
    text: {
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      vocab_size: tokenizer.vocabSize,
      max_position_embeddings: 8,
      bos_token_id: tokenizer.bosTokenId,
      eos_token_id: tokenizer.eosTokenId,
      pad_token_id: tokenizer.padTokenId,
    },
  });
  const prior = new EmbeddingPrior({ embedding_dim: 8, condition_dim: 8, hidden_dim: 16, num_layers: 1 });
  const config = parseUnclipDecoderConfig({
    unet: {
      block_out_channels: [8, 8],
      down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D'],
      up_block_types: ['CrossAttnUpBlock2D', 'UpBlock2D'],
      layers_per_block: 1,
      attention_head_dim: 2,
      norm_num_groups: 4,
    },
    steps: 1,
    batchSize: 1,
    lr: 1e-3,
  });
  const decoder = unclipDecoderNetwork(config, { name: 'mnist', shape: [1, 28, 28] }, 8);
  saveUnclip(join(dir, 'model'), {
    clip: { model, params: model.init(random.split()), tokenizer },
    prior: { network: prior, params: prior.init(random.split()), schedulerConfig: priorSchedulerConfig() },
    decoder: {
      network: decoder,
      params: decoder.init(random.split()),
      schedulerConfig: unclipDecoderScheduler(config),
    },
  });
  const digits = await resolveDataset('mnist', { split: 'test' });
  writePng(join(dir, 'digit.png'), tensorToImages(digits.batch([0]).x, [1, 1, 28, 28])[0]);
  writePng(join(dir, 'small.png'), tensorToImages(new Float32Array(14 * 14), [1, 1, 14, 14])[0]);
});

describe('diffusion variations', () => {
  it('writes the input and its variations in one row, reproducible by seed', () => {
    const args = [
      'variations',
      '--model',
      join(dir, 'model'),
      '--image',
      join(dir, 'digit.png'),
      '--num',
      '3',
      '--steps',
      '2',
    ];
    const first = run(...args, '--out', join(dir, 'a.png'));
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /the input and 3 variations, 28×28/);
    const again = run(...args, '--out', join(dir, 'b.png'));
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(readFileSync(join(dir, 'b.png')), readFileSync(join(dir, 'a.png')));
    const grid = readImage(join(dir, 'a.png'));
    assert.ok(
      grid.width > 4 * 28 && grid.height >= 28 && grid.height < 2 * 28,
      `${grid.width}×${grid.height}`,
    );
    const other = run(...args, '--seed', '1', '--out', join(dir, 'c.png'));
    assert.equal(other.status, 0, other.stderr);
    assert.notDeepEqual(readFileSync(join(dir, 'c.png')), readFileSync(join(dir, 'a.png')));
  });

  it('txt2img draws through the prior and the decoder of an unCLIP folder', () => {
    const model = join(dir, 'model');
    const args = ['txt2img', '--model', model, '--prompt', 'a handwritten seven', '--prompt', 'the digit 2'];
    const drawn = run(...args, '--num', '2', '--steps', '2', '--guidance', '2', '--out', join(dir, 't.png'));
    assert.equal(drawn.status, 0, drawn.stderr);
    assert.match(drawn.stdout, /2 prompt\(s\) × 2, 28×28/);
    const grid = readImage(join(dir, 't.png'));
    assert.ok(
      grid.width >= 2 * 28 && grid.width < 3 * 28 && grid.height >= 2 * 28,
      `${grid.width}×${grid.height}`,
    );
    const refused = run(...args, '--negative', 'blurry', '--out', join(dir, 'never.png'));
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /not available with an unCLIP folder/);
  });

  it('refuses misuse in one line with exit code 2, writing nothing', () => {
    const out = join(dir, 'never.png');
    const cases: [string[], RegExp][] = [
      [['--image', join(dir, 'small.png')], /is 14×14 but the model draws 28×28/],
      [['--image', join(dir, 'absent.png')], /--image/],
      [['--num', '0'], /--num/],
      [['--sampler', 'nope'], /sampler/],
    ];
    for (const [flags, pattern] of cases) {
      const args = [
        'variations',
        '--model',
        join(dir, 'model'),
        '--image',
        join(dir, 'digit.png'),
        '--out',
        out,
      ];
      const result = run(...args, ...flags);
      assert.equal(result.status, 2, `${flags.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    const notUnclip = run('variations', '--model', dir, '--image', join(dir, 'digit.png'), '--out', out);
    assert.equal(notUnclip.status, 2);
    assert.match(notUnclip.stderr, /model_index\.json/);
    assert.equal(existsSync(out), false);
  });
});
