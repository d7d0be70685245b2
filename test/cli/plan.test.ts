// The maze planning path through bin/diffusion.js: `train --data maze2d-umaze` (a few steps) writes a
// UNet1DModel over [x, y, a_x, a_y] × 48 windows with the data's normaliser; `plan` executes a plan from
// it in the U-maze and draws the maze, plan and path as a PNG; misuse gives one-line errors with exit code
// 2 and writes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePng } from '../../src/io/png.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('diffusion train --data maze2d-umaze / plan', () => {
  let dir = '';
  let runDir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-plan-'));
    runDir = join(dir, 'run');
    const result = run(
      'train',
      '--data',
      'maze2d-umaze',
      '--out',
      runDir,
      '--steps',
      '3',
      '--batch-size',
      '8',
    );
    assert.equal(result.status, 0, result.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('train saves a [4, 48] UNet1DModel predicting x₀ with the [x, y, a_x, a_y] normaliser', () => {
    const config = JSON.parse(readFileSync(join(runDir, 'unet', 'config.json'), 'utf8'));
    assert.equal(config._class_name, 'UNet1DModel');
    assert.deepEqual([config.in_channels, config.sample_size], [4, 48]);
    const scheduler = JSON.parse(readFileSync(join(runDir, 'scheduler', 'scheduler_config.json'), 'utf8'));
    assert.equal(scheduler.prediction_type, 'sample');
    const signal = JSON.parse(readFileSync(join(runDir, 'signal.json'), 'utf8'));
    assert.deepEqual(signal.normalization.columns, ['x', 'y', 'action_x', 'action_y']);
    // Free cells of the U-maze span x, y ∈ [1, 4): ranges centred near 2.5, actions exactly ±1.
    assert.ok(Math.abs(signal.normalization.mean[0] - 2.5) < 0.1);
    assert.deepEqual(signal.normalization.std.slice(2), [1, 1]);
  });

  it('plan executes a plan and draws the maze with it', () => {
    const out = join(dir, 'plan.png');
    const args = ['--model', runDir, '--start', '1.5,1.5', '--goal', '3.5,3.5', '--steps', '3'];
    const result = run('plan', ...args, '--episode-steps', '10', '--out', out);
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /(reached|did not reach) the goal in \d+ steps \(states, re-planning every 8 steps\)/,
    );
    const image = decodePng(readFileSync(out));
    assert.deepEqual([image.width, image.height], [5 * 64, 5 * 64]);
    // The corner cell is wall (dark), the start cell holds the green start marker at its centre.
    assert.deepEqual([...image.data.subarray(0, 3)], [70, 70, 80]);
    const centre = (96 * image.width + 96) * 4;
    assert.deepEqual([...image.data.subarray(centre, centre + 3)], [44, 160, 44]);
  });

  it('misuse is a one-line error with exit code 2 and no file', () => {
    const out = join(dir, 'bad.png');
    const cases = [
      ['--start', '0.5,0.5', '--goal', '3.5,3.5'],
      ['--start', '1.5', '--goal', '3.5,3.5'],
      ['--start', '1.5,1.5', '--goal', '3.5,3.5', '--maze', 'large'],
      ['--start', '1.5,1.5', '--goal', '3.5,3.5', '--execute', 'teleport'],
    ];
    for (const extra of cases) {
      const result = run('plan', '--model', runDir, ...extra, '--out', out);
      assert.equal(result.status, 2, `${extra.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    const result = run('plan', '--model', dir, '--start', '1.5,1.5', '--goal', '3.5,3.5', '--out', out);
    assert.equal(result.status, 2, result.stderr);
    assert.equal(existsSync(out), false);
  });
});
