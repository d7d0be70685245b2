// The molecule commands through bin/diffusion.js: `train-molecules` (two steps of a tiny EGNN) writes a
// model folder, `sample-molecules` writes parseable XYZ molecules and prints the stability metrics; bad
// flags give one-line errors with exit code 2 and write nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readXyz } from '../../src/data/molecules.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('diffusion train-molecules / sample-molecules', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-molecules-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trains a tiny model and samples XYZ molecules with metrics', () => {
    const model = join(dir, 'model');
    const trained = run(
      'train-molecules',
      '--out',
      model,
      '--steps',
      '2',
      '--batch-size',
      '4',
      '--hidden-size',
      '8',
      '--layers',
      '1',
      '--timesteps',
      '4',
    );
    assert.equal(trained.status, 0, trained.stderr);
    assert.match(trained.stdout, /trained 2 steps/);
    const out = join(dir, 'samples');
    const sampled = run('sample-molecules', '--model', model, '--num', '3', '--out', out);
    assert.equal(sampled.status, 0, sampled.stderr);
    assert.match(sampled.stdout, /wrote 3 molecules .* atom stability \d+\.\d%, molecule stability \d+\.\d%/);
    assert.equal(readXyz(join(out, 'molecules.xyz')).length, 3);
  });

  it('rejects bad flags with one line and exit code 2', () => {
    const cases = [
      ['train-molecules', '--out', join(dir, 'x'), '--data', 'nope'],
      ['train-molecules', '--out', join(dir, 'x'), '--steps', '0'],
      ['sample-molecules', '--model', join(dir, 'missing'), '--out', join(dir, 'y')],
      ['sample-molecules', '--model', join(dir, 'model'), '--num', 'many', '--out', join(dir, 'y')],
    ];
    for (const args of cases) {
      const result = run(...args);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    assert.ok(!existsSync(join(dir, 'x')) && !existsSync(join(dir, 'y')));
  });
});
