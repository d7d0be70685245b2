// unCLIP's decoder: image-embedding conditioning through the projection class embedding and a one-token
// context, embedding dropout for guidance, a short training run, and guided sampling of embeddings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveDataset } from '../../src/data/dataset.js';
import { decodeEmbeddings } from '../../src/pipelines/unclip-decoder.js';
import { droppedRows } from '../../src/training/batch.js';
import {
  parseUnclipDecoderConfig,
  trainUnclipDecoder,
  unclipDecoderNetwork,
  unclipDecoderScheduler,
  withEmbeddings,
} from '../../src/training/unclip-decoder.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const WIDTH = 10;

const CONFIG = parseUnclipDecoderConfig({
  unet: {
    block_out_channels: [8, 16],
    down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D'],
    up_block_types: ['CrossAttnUpBlock2D', 'UpBlock2D'],
    layers_per_block: 1,
    attention_head_dim: 2,
    norm_num_groups: 4,
  },
  steps: 30,
  batchSize: 16,
  lr: 3e-3,
  lrSchedule: 'constant',
  emaDecay: null,
  seed: 1,
});

/** One-hot label embeddings: the simplest image embedding that names the digit. */
function oneHot(labels: Int32Array): Float32Array {
  const out = new Float32Array(labels.length * WIDTH);
  labels.forEach((label, i) => (out[i * WIDTH + label] = 1));
  return out;
}

describe('unCLIP decoder', () => {
  it('batches carry each example’s embedding row; dropout zeroes whole rows at the given rate', async () => {
    const digits = await resolveDataset('mnist', { split: 'test' });
    const labels = digits.batch(Array.from({ length: digits.size }, (_, i) => i)).labels!;
    const data = withEmbeddings(digits, oneHot(labels), WIDTH);
    const batch = data.batch([5, 0, 7]);
    for (const [row, index] of [5, 0, 7].entries()) {
      assert.equal(batch.condition![row * WIDTH + labels[index]], 1);
    }
    assert.throws(() => withEmbeddings(digits, new Float32Array(7), WIDTH), ConfigError);
    const rows = 4000;
    const dropped = droppedRows(new Float32Array(rows * WIDTH).fill(1), WIDTH, 0.1, new Random(2));
    let zero = 0;
    for (let r = 0; r < rows; r++) {
      const row = dropped.subarray(r * WIDTH, (r + 1) * WIDTH);
      assert.ok(row.every((v) => v === 0) || row.every((v) => v === 1), 'rows drop whole');
      if (row[0] === 0) zero++;
    }
    assert.ok(Math.abs(zero / rows - 0.1) < 0.02, `dropped ${zero / rows}`);
  });

  it('trains on (digit, embedding) pairs and decodes embeddings by seed, guided against the zero embedding', async (t) => {
    const digits = await resolveDataset('mnist', { split: 'test' });
    const labels = digits.batch(Array.from({ length: digits.size }, (_, i) => i)).labels!;
    const network = unclipDecoderNetwork(CONFIG, digits, WIDTH);
    assert.equal(network.classEmbedsWidth, WIDTH);
    const result = await trainUnclipDecoder({
      config: CONFIG,
      network,
      dataset: withEmbeddings(digits, oneHot(labels), WIDTH),
    });
    const first = result.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = result.losses.slice(-5).reduce((a, b) => a + b) / 5;
    t.diagnostic(`ε-MSE ${first.toFixed(3)} (steps 1–5) → ${last.toFixed(3)} (steps 26–30)`);
    assert.ok(last < 0.6 * first, `loss ${first} → ${last}`);

    const decoder = {
      network,
      params: result.samplingParams,
      schedulerConfig: unclipDecoderScheduler(CONFIG),
    };
    const embeddings = oneHot(Int32Array.from([3, 8]));
    const options = { numSteps: 4, sampler: 'ddim', seed: 5 };
    const a = await decodeEmbeddings(decoder, embeddings, { ...options, guidance: 1 });
    assert.equal(a.length, 2 * 28 * 28);
    assert.deepEqual(await decodeEmbeddings(decoder, embeddings, { ...options, guidance: 1 }), a);
    // The doubled (guided) batch at s = 1 + 1e-6 is the conditional prediction: the wiring of both halves.
    const nearOne = await decodeEmbeddings(decoder, embeddings, { ...options, guidance: 1 + 1e-6 });
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(nearOne[i] - a[i]));
    assert.ok(diff < 1e-3, `doubled batch differs by ${diff}`);
    const guided = await decodeEmbeddings(decoder, embeddings, { ...options, guidance: 4 });
    assert.ok(
      guided.some((v, i) => Math.abs(v - a[i]) > 1e-2),
      'guidance changes the images',
    );
    await assert.rejects(decodeEmbeddings(decoder, new Float32Array(7), options), ShapeError);
  });
});
