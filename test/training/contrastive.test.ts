// Contrastive (CLIP-style) training on mnist-captions: a tiny model trained for 80 steps on the 1,000
// `test` digits lowers the symmetric cross-entropy and retrieves the right one of the ten captions
// "a handwritten zero" … "a handwritten nine" for held-out digits (from the `train` split) well above
// chance; plus config validation, soft targets and determinism of the loss curve.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIGIT_WORDS, MNIST_CAPTION_TEMPLATES } from '../../src/data/captions.js';
import { resolveDataset } from '../../src/data/dataset.js';
import { nearestByCosine } from '../../src/metrics/retrieval.js';
import { embedImages, embedTexts } from '../../src/models/contrastive.js';
import {
  captionTargets,
  parseContrastiveTrainConfig,
  trainContrastive,
  type ContrastiveTrainConfigInput,
} from '../../src/training/contrastive.js';
import { ConfigError } from '../../src/util/errors.js';

const TINY: ContrastiveTrainConfigInput = {
  embedDim: 32,
  visionChannels: [8, 16, 32],
  normNumGroups: 4,
  text: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2 },
  tokenizerVocabSize: 600,
  maxTokens: 12,
  steps: 80,
  batchSize: 64,
  lr: 2e-3,
  warmupSteps: 5,
  seed: 0,
};

const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Index of the caption embedding closest (cosine; the embeddings are unit vectors) to each image's. */
const nearest = (images: Float32Array, texts: Float32Array, d: number): number[] =>
  Array.from(nearestByCosine(images, texts, d));

describe('trainContrastive', () => {
  it('lowers the loss and retrieves digit captions for held-out digits above chance', async (t) => {
    const dataset = await resolveDataset('mnist-captions', { split: 'test' });
    const result = await trainContrastive({ dataset, config: TINY });
    assert.equal(result.losses.length, 80);
    const first = meanOf(result.losses.slice(0, 10));
    const last = meanOf(result.losses.slice(-10));
    t.diagnostic(
      `loss: first 10 steps ${first.toFixed(3)}, last 10 ${last.toFixed(3)} (${result.seconds.toFixed(1)} s)`,
    );
    // Measured: 4.28 → 3.11 (ln 64 = 4.16 is the loss of embeddings that know nothing).
    assert.ok(last < first - 0.5, `loss ${first} → ${last}`);

    const heldOut = await resolveDataset('mnist', { split: 'train' });
    const count = 200;
    const batch = heldOut.batch(
      Array.from({ length: count }, (_, i) => Math.floor((i * heldOut.size) / count)),
    );
    const images = await embedImages(result, batch.x, count);
    const texts = await embedTexts(
      result,
      DIGIT_WORDS.map((w) => `a handwritten ${w}`),
    );
    const predicted = nearest(images, texts, result.model.embedDim);
    const accuracy = predicted.filter((p, i) => p === batch.labels![i]).length / count;
    t.diagnostic(`zero-shot top-1 on ${count} held-out digits: ${(100 * accuracy).toFixed(1)}% (chance 10%)`);
    // Measured 54% with this seed (29.5–54% over seeds 0–2).
    assert.ok(accuracy >= 0.25, `top-1 ${accuracy}`);
  });

  it('is deterministic for a config and seed', async () => {
    const dataset = await resolveDataset('mnist-captions', { split: 'test' });
    const config = { ...TINY, steps: 3, batchSize: 16 };
    const a = await trainContrastive({ dataset, config });
    const b = await trainContrastive({ dataset, config });
    assert.deepEqual(a.losses, b.losses);
    const c = await trainContrastive({ dataset, config: { ...config, seed: 1 } });
    assert.notDeepEqual(a.losses, c.losses);
  });
});

// (SLOW=1, 3–4 minutes) The default towers (vision [16, 32, 64], text 64 wide × 2 layers, D = 32)
// trained on the 9,000 `train` digits for 750 steps of 128, then zero-shot top-1 on all 1,000 `test`
// digits with the captions of every template.
describe(
  'trainContrastive, default towers on the MNIST train split (SLOW=1)',
  { skip: process.env.SLOW !== '1' },
  () => {
    it('classifies held-out digits zero-shot from the ten captions', async (t) => {
      const dataset = await resolveDataset('mnist-captions', { split: 'train' });
      const config = { steps: 750, batchSize: 128, lr: 2e-3, warmupSteps: 50, seed: 0 };
      const result = await trainContrastive({ dataset, config, timeLimitSeconds: 330 });
      const first = meanOf(result.losses.slice(0, 20));
      const last = meanOf(result.losses.slice(-20));
      t.diagnostic(
        `${result.losses.length} steps in ${result.seconds.toFixed(0)} s; loss ${first.toFixed(3)} → ${last.toFixed(3)}`,
      );
      t.diagnostic(
        `logit scale exp(s) = ${Math.exp(result.params.logit_scale.data[0] as number).toFixed(1)}`,
      );
      const test = await resolveDataset('mnist', { split: 'test' });
      const all = test.batch(Array.from({ length: test.size }, (_, i) => i));
      const images = await embedImages(result, all.x, test.size);
      const texts = await embedTexts(
        result,
        DIGIT_WORDS.map((w) => `a handwritten ${w}`),
      );
      const predicted = nearest(images, texts, result.model.embedDim);
      const accuracy = predicted.filter((p, i) => p === all.labels![i]).length / test.size;
      t.diagnostic(`zero-shot top-1 on ${test.size} test digits: ${(100 * accuracy).toFixed(1)}%`);
      // Every caption template of the dataset, digit as word or numeral ("the digit 7", …).
      const perTemplate: number[] = [];
      for (const template of MNIST_CAPTION_TEMPLATES) {
        const captions = DIGIT_WORDS.map((w, d) => template(w, d));
        const guess = nearest(images, await embedTexts(result, captions), result.model.embedDim);
        perTemplate.push(guess.filter((p, i) => p === all.labels![i]).length / test.size);
      }
      t.diagnostic(`per caption template: ${perTemplate.map((a) => (100 * a).toFixed(1)).join(', ')}%`);
      // Measured (seed 0): loss 4.859 → 2.707; 95.9%; templates 95.7–96.3%.
      assert.ok(last < first - 1.5, `loss ${first} → ${last}`);
      assert.ok(accuracy >= 0.9, `top-1 ${accuracy}`);
      assert.ok(Math.min(...perTemplate) >= 0.9, `per template ${perTemplate.join(', ')}`);
    });
  },
);

describe('contrastive training config and targets', () => {
  it('names bad fields', () => {
    assert.throws(
      () => parseContrastiveTrainConfig({ steps: 0, batchSize: 1, lr: 1e-3 }),
      (e: Error) => e instanceof ConfigError && /steps/.test(e.message) && /batchSize/.test(e.message),
    );
    assert.throws(
      () => parseContrastiveTrainConfig({ steps: 1, batchSize: 4, lr: 1e-3, stepz: 2 }),
      (e: Error) => e instanceof ConfigError && /stepz/.test(e.message),
    );
  });

  it('refuses a dataset without captions', async () => {
    const dataset = await resolveDataset('mnist', { split: 'test' });
    await assert.rejects(
      trainContrastive({ dataset, config: { ...TINY, steps: 1 } }),
      (e: Error) => e instanceof ConfigError && /no captions/.test(e.message),
    );
  });

  it('builds row-normalised same-caption targets, or the identity', () => {
    const captions = ['a', 'b', 'a', 'c'];
    assert.deepEqual(
      Array.from(captionTargets(captions, true)),
      [0.5, 0, 0.5, 0, 0, 1, 0, 0, 0.5, 0, 0.5, 0, 0, 0, 0, 1],
    );
    assert.deepEqual(
      Array.from(captionTargets(captions, false)),
      [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
    );
  });
});
