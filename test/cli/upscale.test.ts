// `diffusion upscale` and `diffusion cascade` through bin/diffusion.js on tiny random stage folders: the
// upscaled PNG has the model's size, the cascade grid holds the last stage's images, and misuse (bad
// flags, a wrong input size, a non-SR model) is a one-line error with exit code 2 and no output file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImage } from '../../src/io/images.js';
import { writePng } from '../../src/io/png.js';
import { saveBaseStage, saveSrStage } from '../pipelines/upscale-fixtures.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('diffusion upscale / cascade', () => {
  let dir = '';
  let input = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-upscale-'));
    saveBaseStage(join(dir, 'base'), 4);
    saveSrStage(join(dir, 'sr-4-8'), 4, 8);
    saveSrStage(join(dir, 'sr-8-16'), 8, 16);
    writeFileSync(
      join(dir, 'cascade.json'),
      JSON.stringify({
        stages: [
          { folder: 'base', steps: 2 },
          { folder: 'sr-4-8', steps: 2 },
          { folder: 'sr-8-16', steps: 2 },
        ],
      }),
    );
    input = join(dir, 'low.png');
    const data = new Uint8Array(4 * 4 * 4);
    for (let i = 0; i < 16; i++) data.set([i * 16, i * 16, i * 16, 255], i * 4);
    writePng(input, { width: 4, height: 4, data });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('upscale writes the model-sized PNG', () => {
    const out = join(dir, 'up.png');
    const result = run(
      'upscale',
      '--model',
      join(dir, 'sr-4-8'),
      '--input',
      input,
      '--out',
      out,
      '--steps',
      '2',
      '--average',
      '2',
      '--aug-level',
      '0.05',
    );
    assert.equal(result.status, 0, result.stderr);
    const image = readImage(out);
    assert.deepEqual([image.width, image.height], [8, 8]);
  });

  it('cascade writes a grid of the last stage (4 samples of 16×16, 2 per row, padding 2)', () => {
    const out = join(dir, 'grid.png');
    const result = run(
      'cascade',
      '--model',
      dir,
      '--class',
      '1',
      '--num',
      '4',
      '--out',
      out,
      '--steps',
      '2,1,1',
    );
    assert.equal(result.status, 0, result.stderr);
    const image = readImage(out);
    assert.deepEqual([image.width, image.height], [2 * 18 + 2, 2 * 18 + 2]);
  });

  for (const [name, args, pattern] of [
    [
      'a wrong input size',
      ['upscale', '--model', 'sr-8-16', '--input', 'low.png', '--out', 'x.png'],
      /is 4×4 but the model upscales 8×8/,
    ],
    [
      'a non-SR model',
      ['upscale', '--model', 'base', '--input', 'low.png', '--out', 'x.png'],
      /cannot upscale/,
    ],
    [
      'a bad level',
      ['upscale', '--model', 'sr-4-8', '--input', 'low.png', '--out', 'x.png', '--aug-level', '2'],
      /--aug-level/,
    ],
    [
      'an unknown sampler',
      ['upscale', '--model', 'sr-4-8', '--input', 'low.png', '--out', 'x.png', '--sampler', 'nope'],
      /sampler/,
    ],
    ['a non-PNG output', ['upscale', '--model', 'sr-4-8', '--input', 'low.png', '--out', 'x.jpg'], /\.png/],
    [
      'a per-stage list of the wrong length',
      ['cascade', '--model', '.', '--out', 'x.png', '--steps', '2,2'],
      /3 stages/,
    ],
    ['a class out of range', ['cascade', '--model', '.', '--out', 'x.png', '--class', '7'], /--class/],
  ] as const) {
    it(`refuses ${name} with exit 2, one line, no output`, () => {
      const resolved = args.map((a, i) =>
        i > 0 && ['--model', '--input', '--out'].includes(args[i - 1]) ? join(dir, a) : a,
      );
      const result = run(...resolved);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.equal(existsSync(join(dir, 'x.png')) || existsSync(join(dir, 'x.jpg')), false);
    });
  }
});
