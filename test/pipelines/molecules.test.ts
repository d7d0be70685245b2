// Equivariant molecule diffusion end to end on a tiny model: zero-CoM noise has zero centre of mass
// over the real atoms and zero padding; a two-step training run, the model folder round trip, and a
// sampler whose every step keeps the centre of mass at 0 and whose molecules have the data's sizes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadShippedMolecules } from '../../src/data/molecules.js';
import {
  fillZeroComNoise,
  loadMoleculeModel,
  maxCentreOfMass,
  randomMolecules,
  sampleMolecules,
  saveMoleculeModel,
  trainMolecules,
} from '../../src/pipelines/molecules.js';
import { Random } from '../../src/util/random.js';

describe('zero-CoM noise', () => {
  it('has zero centre of mass per molecule and zero padding', () => {
    const mask = Float32Array.from([1, 1, 1, 0, 1, 1, 0, 0]);
    const noise = new Float32Array(8 * 3);
    fillZeroComNoise(noise, mask, new Random(1), 4);
    assert.ok(maxCentreOfMass(noise, mask, 4) < 1e-7);
    for (const i of [3, 6, 7]) for (let k = 0; k < 3; k++) assert.equal(noise[i * 3 + k], 0);
    assert.ok(noise.some((v) => Math.abs(v) > 0.1));
  });
});

describe('molecule diffusion', () => {
  it('trains, saves, loads and samples with the CoM at 0 after every step', async () => {
    const molecules = loadShippedMolecules()
      .filter((m) => m.elements.length <= 8)
      .slice(0, 20);
    const logged: number[] = [];
    const { model, steps } = await trainMolecules({
      molecules,
      steps: 2,
      batchSize: 4,
      network: { hidden_size: 8, num_layers: 1 },
      diffusion: { num_train_timesteps: 6 },
      logEvery: 1,
      onLog: (_, loss) => logged.push(loss),
    });
    assert.equal(steps, 2);
    assert.ok(logged.length === 2 && logged.every((l) => Number.isFinite(l) && l > 0));
    const dir = mkdtempSync(join(tmpdir(), 'molecules-'));
    try {
      saveMoleculeModel(join(dir, 'model'), model);
      const loaded = loadMoleculeModel(join(dir, 'model'));
      assert.deepEqual(loaded.network.config, model.network.config);
      assert.deepEqual(loaded.params['type_out.weight'].data, model.params['type_out.weight'].data);
      let worst = 0;
      let calls = 0;
      const sampled = await sampleMolecules(loaded, {
        count: 5,
        seed: 2,
        onStep: (positions, mask) => {
          calls++;
          // Relative to the coordinates' size: float32 rounding of the projected values is ~6e-8 of it.
          const size = positions.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
          worst = Math.max(worst, maxCentreOfMass(positions, mask, loaded.network.maxAtoms) / size);
        },
      });
      assert.equal(calls, 6);
      assert.ok(worst < 1e-6, `CoM drifted to ${worst} of the coordinates' size`);
      const sizes = new Set(molecules.map((m) => m.elements.length));
      assert.ok(sampled.length === 5 && sampled.every((m) => sizes.has(m.elements.length)));
      assert.throws(() => loadMoleculeModel(join(dir, 'missing')), /config\.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds the random baseline from reference compositions inside the cube', () => {
    const reference = loadShippedMolecules().slice(0, 10);
    const random = randomMolecules(reference, 4, 0, 4);
    const formulas = new Set(reference.map((m) => m.elements.join()));
    assert.ok(
      random.every((m) => formulas.has(m.elements.join()) && m.positions.every((v) => Math.abs(v) <= 2)),
    );
  });
});
