// The molecule commands through bin/diffusion.js: `train-molecules` (two steps of a tiny EGNN) writes a
// model folder, `sample-molecules` writes parseable XYZ and SDF molecules and prints the stability
// metrics, `train-molecules --data x.sdf` trains on that SDF; bad flags give one-line errors with exit
// code 2 (a malformed SDF, exit 1) and write nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ELEMENTS, readXyz } from '../../src/data/molecules.js';
import { readSdf } from '../../src/io/sdf.js';
import { inferBonds } from '../../src/metrics/molecules.js';

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
    const xyz = readXyz(join(out, 'molecules.xyz'));
    assert.equal(xyz.length, 3);
    // molecules.sdf holds the same molecules (coordinates to 1e-4 Å) with the metric's inferred bonds.
    const sdf = readSdf(join(out, 'molecules.sdf'), ELEMENTS);
    assert.equal(sdf.length, 3);
    sdf.forEach((m, k) => {
      assert.deepEqual(m.elements, xyz[k].elements);
      m.positions.forEach((v, c) => assert.ok(Math.abs(v - xyz[k].positions[c]) <= 1e-4 + 1e-9));
      assert.deepEqual(
        m.bonds,
        inferBonds(m).map(({ i, j }) => ({ i, j, order: 1 })),
      );
    });
    // train-molecules accepts the SDF file as --data.
    const fromSdf = run(
      'train-molecules',
      '--out',
      join(dir, 'model-sdf'),
      '--data',
      join(out, 'molecules.sdf'),
      '--steps',
      '1',
      '--batch-size',
      '2',
      '--hidden-size',
      '8',
      '--layers',
      '1',
      '--timesteps',
      '4',
    );
    assert.equal(fromSdf.status, 0, fromSdf.stderr);
    assert.match(fromSdf.stdout, /trained 1 steps/);
  });

  it('rejects bad flags with one line and exit code 2', () => {
    const cases = [
      ['train-molecules', '--out', join(dir, 'x'), '--data', 'nope'],
      ['train-molecules', '--out', join(dir, 'x'), '--data', join(dir, 'missing.sdf')],
      ['train-molecules', '--out', join(dir, 'x'), '--steps', '0'],
      ['sample-molecules', '--model', join(dir, 'missing'), '--out', join(dir, 'y')],
      ['sample-molecules', '--model', join(dir, 'model'), '--num', 'many', '--out', join(dir, 'y')],
    ];
    for (const args of cases) {
      const result = run(...args);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    // A malformed SDF is refused input (exit 1) with one line naming the record and line.
    const bad = join(dir, 'bad.sdf');
    writeFileSync(bad, 'water\n\n\n  3\nM  END\n$$$$\n');
    const refused = run('train-molecules', '--out', join(dir, 'x'), '--data', bad);
    assert.equal(refused.status, 1, refused.stderr);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.match(refused.stderr, /record 1 'water' line 4: expected a counts line/);
    assert.ok(!existsSync(join(dir, 'x')) && !existsSync(join(dir, 'y')));
  });
});
