// unCLIP end to end on tiny networks: the three stages train on mnist-captions, the folder saves and
// loads bit-identically, text-to-image (prior then decoder) and variations are reproducible by seed and
// shaped as asked; cosine retrieval is checked on vectors whose answer is known.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveDataset } from '../../src/data/dataset.js';
import { nearestByCosine, topOneRetrieval } from '../../src/metrics/retrieval.js';
import { isUnclipFolder, loadUnclip, saveUnclip } from '../../src/models/unclip-folder.js';
import { imageVariations, unclipTextToImage, unitRows } from '../../src/pipelines/unclip.js';
import { trainUnclip } from '../../src/training/unclip.js';
import { FormatError, NotFoundError, ShapeError } from '../../src/util/errors.js';

const temp = mkdtempSync(join(tmpdir(), 'unclip-'));
after(() => rmSync(temp, { recursive: true, force: true }));

describe('cosine retrieval', () => {
  it('finds the most similar key regardless of length, and scores top-1', () => {
    const keys = Float32Array.from([1, 0, 0, 1, -1, 0]);
    const queries = Float32Array.from([5, 0.1, 0.2, 3, -0.1, -0.1, 0.5, 0.4]);
    assert.deepEqual(Array.from(nearestByCosine(queries, keys, 2)), [0, 1, 2, 0]);
    assert.equal(topOneRetrieval(queries, keys, 2, [0, 1, 2, 1]), 0.75);
    assert.throws(() => nearestByCosine(queries, Float32Array.from([1, 2, 3]), 2), ShapeError);
    assert.deepEqual(unitRows(Float32Array.from([3, 4, 0, 0]), 2), Float32Array.from([0.6, 0.8, 0, 0]));
  });
});

describe('unCLIP (tiny networks)', () => {
  it('trains, saves, loads and samples text-to-image and variations by seed', async (t) => {
    const dataset = await resolveDataset('mnist-captions', { split: 'test' });
    const trained = await trainUnclip({
      dataset,
      clip: {
        embedDim: 8,
        visionChannels: [4, 8],
        normNumGroups: 2,
        text: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2 },
        tokenizerVocabSize: 560,
        maxTokens: 10,
        steps: 10,
        batchSize: 32,
        lr: 2e-3,
      },
      prior: { network: { hidden_dim: 16, num_layers: 1 }, steps: 20, batchSize: 64, lr: 1e-3 },
      decoder: {
        unet: {
          block_out_channels: [8, 8],
          down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D'],
          up_block_types: ['CrossAttnUpBlock2D', 'UpBlock2D'],
          layers_per_block: 1,
          attention_head_dim: 2,
          norm_num_groups: 4,
        },
        steps: 3,
        batchSize: 4,
        lr: 1e-3,
      },
    });
    const { stages } = trained;
    t.diagnostic(
      `steps: clip ${stages.clip.steps}, prior ${stages.prior.steps}, decoder ${stages.decoder.steps}`,
    );
    assert.deepEqual([stages.clip.steps, stages.prior.steps, stages.decoder.steps], [10, 20, 3]);

    const dir = join(temp, 'model');
    saveUnclip(dir, trained.components);
    assert.ok(isUnclipFolder(dir));
    const loaded = loadUnclip(dir);
    const options = { numSteps: 2, sampler: 'ddim', priorSteps: 3, seed: 4 };
    const prompts = ['a handwritten seven', 'the digit 2'];
    const a = await unclipTextToImage(trained.components, prompts, { ...options, numImagesPerPrompt: 2 });
    const b = await unclipTextToImage(loaded, prompts, { ...options, numImagesPerPrompt: 2 });
    assert.deepEqual(a.shape, [1, 28, 28]);
    assert.equal(a.images.length, 4 * 784);
    assert.deepEqual(b.images, a.images, 'the loaded folder samples the same images');
    // The prior's samples are put back on the unit sphere the decoder was trained on.
    for (let r = 0; r < 4; r++) {
      const row = a.embeddings.subarray(r * 8, (r + 1) * 8);
      assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-5);
    }
    const inputs = dataset.batch([0, 1]).x;
    const v = await imageVariations(loaded, inputs, 2, { numVariations: 3, numSteps: 2, seed: 1 });
    assert.equal(v.images.length, 6 * 784);
    // Variations of one image share its embedding; different noise makes different images.
    assert.deepEqual(v.embeddings.subarray(0, 8), v.embeddings.subarray(8, 16));
    assert.notDeepEqual(v.images.subarray(0, 784), v.images.subarray(784, 1568));
    await assert.rejects(imageVariations(loaded, inputs, 3, { numSteps: 2 }), ShapeError);
  });

  it('refuses folders that are not unCLIP folders, naming what is wrong', () => {
    assert.throws(() => loadUnclip(join(temp, 'absent')), NotFoundError);
    const other = mkdtempSync(join(temp, 'other-'));
    writeFileSync(join(other, 'model_index.json'), JSON.stringify({ _class_name: 'DDPMPipeline' }));
    assert.equal(isUnclipFolder(other), false);
    assert.throws(
      () => loadUnclip(other),
      (e: unknown) => e instanceof FormatError && /not an unCLIP folder/.test(e.message),
    );
  });
});
