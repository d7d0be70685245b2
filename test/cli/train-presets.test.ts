// Every dataset preset is a valid training config, and `diffusion train --data image-folder --data-path
// DIR` trains the small U-Net on a folder of PNGs (labels from sub-folders), writing a pipeline folder
// whose U-Net sees 3×32×32 images and a 32×32-tile samples grid; a missing --data-path is a one-line
// error naming the option.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImage, writePng } from '../../src/io/images.js';
import { parseTrainConfig, presetFor, presetNames } from '../../src/training/config.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('training presets', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-presets-'));
    for (const [folder, colour] of [
      ['red', [220, 30, 30]],
      ['blue', [30, 30, 220]],
    ] as const) {
      mkdirSync(join(dir, 'images', folder), { recursive: true });
      for (let i = 0; i < 4; i++) {
        const side = 24 + 4 * i;
        const data = new Uint8Array(side * side * 4);
        for (let p = 0; p < side * side; p++) data.set([...colour, 255], 4 * p);
        writePng(join(dir, 'images', folder, `${i}.png`), { width: side, height: side, data });
      }
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('each preset parses as a training config for its own dataset', () => {
    for (const name of presetNames()) {
      const config = parseTrainConfig(presetFor(name), `preset ${name}`);
      assert.equal(config.data, name);
      assert.ok(config.steps > 0 && config.batchSize > 0);
    }
    assert.ok(presetNames().includes('emoji') && presetNames().includes('image-folder'));
  });

  it('image-folder trains the small U-Net on 3×32×32 images', () => {
    const out = join(dir, 'run');
    const result = run(
      'train',
      '--data',
      'image-folder',
      '--data-path',
      join(dir, 'images'),
      '--steps',
      '2',
      '--batch-size',
      '4',
      '--out',
      out,
    );
    assert.equal(result.status, 0, result.stderr);
    const unet = JSON.parse(readFileSync(join(out, 'unet', 'config.json'), 'utf8'));
    assert.equal(unet.sample_size, 32);
    assert.equal(unet.in_channels, 3);
    const grid = readImage(join(out, 'samples.png'));
    assert.ok(grid.width >= 4 * 32 && grid.height >= 4 * 32, `${grid.width}×${grid.height}`);
  });

  it('image-folder without --data-path is a one-line error', () => {
    const out = join(dir, 'no-path');
    const result = run('train', '--data', 'image-folder', '--steps', '1', '--out', out);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /path/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.ok(!existsSync(join(out, 'model_index.json')));
  });
});
