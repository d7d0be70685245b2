// The super-resolution pipeline on tiny random models: output shape and range, determinism by seed,
// the effect of the low-res condition, averaging; and a cascade folder (base 4×4 → 8×8 → 16×16) whose
// stage folders load and chain at step 0, refuse a stage that does not fit, and sample end to end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SuperResolutionUNet2DModel } from '../../src/models/super-resolution.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { cascade, loadCascade, upscale } from '../../src/pipelines/upscale.js';
import { ConfigError, NotFoundError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

import { saveBaseStage, saveSrStage, scheduler, small } from './upscale-fixtures.js';

describe('upscale', () => {
  const network = new SuperResolutionUNet2DModel({ ...small, sample_size: 8, low_res_size: 4 });
  const params = network.init(new Random(5));
  const lowRes = new Random(6).normals(3 * 16).map((v) => Math.tanh(v));
  const base = { network, params, schedulerConfig: scheduler, lowRes, numSteps: 3 };

  it('gives [n, C, H, W] in [−1, 1], the same for the same seed, other for another', async () => {
    const a = await upscale({ ...base, seed: 1 });
    const b = await upscale({ ...base, seed: 1 });
    const c = await upscale({ ...base, seed: 2 });
    assert.equal(a.length, 3 * 64);
    assert.ok(a.every((v) => v >= -1 && v <= 1));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('depends on the low-res input, and averaging draws shrinks the spread', async () => {
    const a = await upscale({ ...base, seed: 1 });
    const other = await upscale({ ...base, lowRes: lowRes.map((v) => -v), seed: 1 });
    assert.notDeepEqual(a, other);
    const spread = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + (v - y[i]) ** 2, 0);
    const single = spread(await upscale({ ...base, seed: 3 }), await upscale({ ...base, seed: 4 }));
    const mean = spread(
      await upscale({ ...base, seed: 3, samplesPerImage: 4 }),
      await upscale({ ...base, seed: 4, samplesPerImage: 4 }),
    );
    assert.ok(mean < single, `mean of 4 spread ${mean} ≥ single spread ${single}`);
  });

  it('refuses a wrong low-res size, a bad level and a non-SR network', async () => {
    await assert.rejects(upscale({ ...base, lowRes: new Float32Array(10) }), /upscales \[1, 4, 4\]/);
    await assert.rejects(upscale({ ...base, augLevel: 1 }), UsageError);
    const plain = new UNet2DModel({ ...small, sample_size: 8, in_channels: 1, out_channels: 1 });
    await assert.rejects(upscale({ ...base, network: plain, params: plain.init(new Random(1)) }), UsageError);
  });
});

describe('cascade', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cascade-'));
    saveBaseStage(join(dir, 'base'), 4);
    saveSrStage(join(dir, 'sr-4-8'), 4, 8);
    saveSrStage(join(dir, 'sr-8-16'), 8, 16);
    writeFileSync(
      join(dir, 'cascade.json'),
      JSON.stringify({
        stages: [
          { folder: 'base', steps: 3, guidance: 2 },
          { folder: 'sr-4-8', steps: 2, sampler: 'euler' },
          { folder: 'sr-8-16', steps: 2, aug_level: 0.2 },
        ],
      }),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads every stage folder and the per-stage settings at step 0', () => {
    const loaded = loadCascade(dir);
    assert.deepEqual(
      loaded.stages.map((s) => s.network.sampleShape[1]),
      [4, 8, 16],
    );
    assert.deepEqual(
      loaded.description.stages.map((s) => [s.sampler, s.steps, s.guidance, s.aug_level]),
      [
        ['dpmpp_2m', 3, 2, 0.1],
        ['euler', 2, 1, 0.1],
        ['dpmpp_2m', 2, 1, 0.2],
      ],
    );
  });

  it('samples every stage at its size', async () => {
    const outputs = await cascade({ cascade: loadCascade(dir), numSamples: 2, classLabels: 1, seed: 3 });
    assert.deepEqual(
      outputs.map((o) => o.length),
      [2 * 16, 2 * 64, 2 * 256],
    );
    assert.ok(outputs.every((o) => o.every((v) => Number.isFinite(v) && v >= -1 && v <= 1)));
  });

  it('refuses a stage that does not continue the previous size, and a folder without cascade.json', () => {
    const bad = mkdtempSync(join(tmpdir(), 'cascade-bad-'));
    try {
      saveBaseStage(join(bad, 'base'), 4);
      saveSrStage(join(bad, 'sr'), 8, 16);
      writeFileSync(
        join(bad, 'cascade.json'),
        JSON.stringify({ stages: [{ folder: 'base' }, { folder: 'sr' }] }),
      );
      assert.throws(() => loadCascade(bad), ConfigError);
      writeFileSync(
        join(bad, 'cascade.json'),
        JSON.stringify({ stages: [{ folder: 'base', steps: 0 }, { folder: 'sr' }] }),
      );
      assert.throws(() => loadCascade(bad), ConfigError);
      assert.throws(() => loadCascade(join(bad, 'base')), NotFoundError);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
