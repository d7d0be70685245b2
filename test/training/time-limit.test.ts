// A time limit ends a run early as if it were complete: the trainer stops at the first step past the
// budget, reports `timeLimited`, and still calls the final sampling hook with the last weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveDataset } from '../../src/data/dataset.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { parseTrainConfig } from '../../src/training/config.js';
import { train } from '../../src/training/trainer.js';

test('a 1.5 s time limit stops a 1e6-step run early, with the final sample hook called once', async () => {
  const dataset = await resolveDataset('moons', { size: 512 });
  const config = parseTrainConfig({
    data: 'moons',
    model: { className: 'MLPDenoiser', config: {} },
    steps: 1_000_000,
    batchSize: 32,
    lr: 1e-3,
  });
  const finals: number[] = [];
  const started = performance.now();
  const result = await train({
    config,
    network: new MLPDenoiser({ in_features: 2, hidden_size: 16, num_layers: 1 }),
    dataset,
    timeLimitSeconds: 1.5,
    onSample: async (_weights, step, final) => {
      if (final) finals.push(step);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  assert.ok(result.timeLimited && !result.interrupted);
  assert.ok(result.step > 0 && result.step < 1_000_000, `stopped at step ${result.step}`);
  assert.equal(result.losses.length, result.step);
  assert.deepEqual(finals, [result.step]);
  assert.ok(result.seconds >= 1.5 && seconds < 30, `${result.seconds} s`);
});
