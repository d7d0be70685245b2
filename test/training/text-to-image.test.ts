// Text-to-image training (GLIDE-style, text encoder trained jointly): caption dropout to the empty
// prompt, networks sized from the learnt tokenizer, warm-starting the U-Net from matching weights, and a
// tiny model on mnist-captions whose loss falls below a stated value in a few dozen steps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDataset } from '../../src/data/dataset.js';
import {
  captionIds,
  parseTextToImageConfig,
  textToImageModels,
  textToImagePreset,
  trainTextToImage,
  withMatchingParams,
} from '../../src/training/text-to-image.js';
import { ConfigError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const TINY = parseTextToImageConfig({
  data: 'mnist-captions',
  dataOptions: { split: 'test' },
  unet: {
    block_out_channels: [16, 32],
    down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D'],
    up_block_types: ['CrossAttnUpBlock2D', 'UpBlock2D'],
    layers_per_block: 1,
    attention_head_dim: 2,
    norm_num_groups: 8,
  },
  textEncoder: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2 },
  tokenizerVocabSize: 560,
  steps: 40,
  batchSize: 16,
  lr: 3e-3,
  warmupSteps: 5,
  lrSchedule: 'constant',
  emaDecay: null,
  seed: 3,
});

describe('text-to-image training', () => {
  it('drops captions to the empty prompt at the given rate, as padded int64 ids', async () => {
    const dataset = await resolveDataset('mnist-captions', { split: 'test' });
    const { tokenizer } = textToImageModels(TINY, dataset);
    const captions = Array<string>(400).fill('a handwritten seven');
    const empty = tokenizer.encodeBatch([''], { maxLength: 16 }).inputIds;
    const full = tokenizer.encodeBatch(['a handwritten seven'], { maxLength: 16 }).inputIds;
    const ids = captionIds(tokenizer, captions, 0.1, 16, new Random(0));
    let dropped = 0;
    for (let i = 0; i < captions.length; i++) {
      const row = ids.subarray(i * 16, (i + 1) * 16);
      const isEmpty = row.every((v, j) => v === empty[j]);
      assert.ok(isEmpty || row.every((v, j) => v === full[j]));
      if (isEmpty) dropped++;
    }
    // 400 draws at p = 0.1: 40 expected, σ = 6.
    assert.ok(dropped >= 22 && dropped <= 58, `dropped ${dropped}`);
    assert.equal(tokenizer.decode(full), 'a handwritten seven');
  });

  it('sizes both networks from the tokenizer and the images; refuses uncaptioned data', async () => {
    const dataset = await resolveDataset('mnist-captions', { split: 'test' });
    const { unet, textEncoder, tokenizer } = textToImageModels(TINY, dataset);
    assert.equal(textEncoder.config.vocab_size, tokenizer.vocabSize);
    assert.equal(textEncoder.config.eos_token_id, tokenizer.eosTokenId);
    assert.equal(unet.crossAttentionDim, 16);
    assert.deepEqual(unet.sampleShape, [1, 28, 28]);
    const digits = await resolveDataset('mnist', { split: 'test' });
    assert.throws(() => textToImageModels(TINY, digits), ConfigError);
    assert.throws(
      () => parseTextToImageConfig({ ...textToImagePreset('mnist-captions'), captionDropout: 2 }),
      ConfigError,
    );
  });

  it('copies only the tensors whose name and shape match', () => {
    const shape = [2];
    const t = (v: number, s = shape) => ({
      data: new Float32Array(s.reduce((a, b) => a * b, 1)).fill(v),
      shape: s,
      dtype: 'float32' as const,
    });
    const { params, copied } = withMatchingParams(
      { a: t(0), b: t(0), c: t(0) },
      { a: t(1), b: t(1, [3]), d: t(1) },
    );
    assert.equal(copied, 1);
    assert.deepEqual([params.a.data[0], params.b.data[0], params.c.data[0]], [1, 0, 0]);
  });

  it('a tiny model on mnist-captions brings the ε-MSE below 0.35 within 40 steps', async (t) => {
    const dataset = await resolveDataset('mnist-captions', { split: 'test' });
    const models = textToImageModels(TINY, dataset);
    const result = await trainTextToImage({ config: TINY, models, dataset });
    assert.equal(result.steps, 40);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(result.losses.slice(0, 5));
    const last = mean(result.losses.slice(-10));
    t.diagnostic(`mean loss of steps 1–5 ${first.toFixed(3)}, of steps 31–40 ${last.toFixed(3)}`);
    assert.ok(first > 0.45, `initial loss ${first}`);
    assert.ok(last < 0.35, `loss of the last 10 steps ${last} (first 5: ${first})`);
    // Both networks were updated.
    const before = models.textEncoder.init(new Random(0));
    assert.ok(Object.keys(before).every((name) => name in result.params.textEncoder));
    assert.equal(result.samplingParams, result.params);
  });
});
