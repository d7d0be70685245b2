// Checkpoint and resume: a run interrupted after 12 of 25 steps and resumed from its training_state/
// reaches bit-identical parameters, EMA and optimizer moments to an uninterrupted 25-step run; the
// checkpoint folder holds what it promises; resuming a folder without a state is a NotFoundError.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDataset } from '../../src/data/dataset.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import type { Params } from '../../src/models/types.js';
import { loadTrainingState } from '../../src/training/checkpoint.js';
import { parseTrainConfig } from '../../src/training/config.js';
import { train } from '../../src/training/trainer.js';
import { NotFoundError } from '../../src/util/errors.js';

const config = parseTrainConfig({
  data: 'moons',
  model: { className: 'MLPDenoiser', config: {} },
  steps: 25,
  batchSize: 32,
  lr: 1e-2,
  warmupSteps: 5,
  minSnrGamma: 5,
  objective: 'v_prediction',
  classConditional: true,
  labelDropout: 0.2,
  seed: 11,
});
const network = () => new MLPDenoiser({ hidden_size: 16, num_layers: 1, num_class_embeds: 3 });

function assertBitEqual(a: Params, b: Params, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const name of Object.keys(a)) {
    assert.deepEqual(
      Array.from(a[name].data as Float32Array),
      Array.from(b[name].data as Float32Array),
      `${what} ${name}`,
    );
  }
}

describe('checkpoint and resume', () => {
  it('interrupted at step 12 and resumed gives bit-identical state to an uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'resume-'));
    try {
      const dataset = await resolveDataset('moons', { size: 300 });
      const whole = await train({ config, network: network(), dataset, runDir: join(dir, 'whole') });
      const controller = new AbortController();
      const first = await train({
        config,
        network: network(),
        dataset,
        runDir: join(dir, 'split'),
        signal: controller.signal,
        onStep: ({ step }) => step === 12 && controller.abort(),
      });
      assert.equal(first.step, 12);
      assert.ok(first.interrupted);
      assert.ok(existsSync(join(dir, 'split', 'training_state', 'optimizer.safetensors')));
      const second = await train({
        config,
        network: network(),
        dataset,
        runDir: join(dir, 'split'),
        resume: true,
      });
      assert.equal(second.step, 25);
      assert.deepEqual([...first.losses, ...second.losses], whole.losses);
      assertBitEqual(second.state.params, whole.state.params, 'params');
      assertBitEqual(second.state.ema!, whole.state.ema!, 'ema');
      assertBitEqual(second.state.opt.m, whole.state.opt.m, 'm');
      assertBitEqual(second.state.opt.v, whole.state.opt.v, 'v');
      const saved = loadTrainingState(join(dir, 'split'), Object.keys(network().paramTypes()));
      assert.equal(saved.step, 25);
      assertBitEqual(saved.state.params, whole.state.params, 'saved params');
      assert.deepEqual(saved.config, config);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resuming a folder without a training state is a NotFoundError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'resume-'));
    try {
      const dataset = await resolveDataset('moons', { size: 300 });
      await assert.rejects(
        train({ config, network: network(), dataset, runDir: dir, resume: true }),
        NotFoundError,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
