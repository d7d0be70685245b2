// `diffusion train-control` and `diffusion sample --control` through bin/diffusion.js: a tiny random
// 28×28 base trains a ControlNet for two steps on MNIST edges into a folder with controlnet/; sampling
// with a control picture (or an edge map with --control-is-edges) writes a PNG; misuse is one line on
// stderr with exit code 2.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { readImage, tensorToImages, writePng } from '../../src/io/images.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { UNet2DModel } from '../../src/models/unet2d.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('diffusion train-control / sample --control', () => {
  let dir = '';
  let baseDir = '';
  let controlDir = '';
  let picture = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-control-'));
    baseDir = join(dir, 'base');
    controlDir = join(dir, 'control');
    picture = join(dir, 'square.png');
    const network = new UNet2DModel({
      sample_size: 28,
      in_channels: 1,
      out_channels: 1,
      block_out_channels: [8, 16],
      down_block_types: ['DownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'UpBlock2D'],
      layers_per_block: 1,
      norm_num_groups: 4,
      num_class_embeds: 11,
    });
    savePipeline(baseDir, {
      network,
      params: network.init(new Random(0)),
      scheduler: schedulerConfig('DDPMScheduler', {}),
    });
    const square = new Float32Array(56 * 56).fill(-1);
    for (let y = 14; y < 42; y++) for (let x = 14; x < 42; x++) square[y * 56 + x] = 1;
    writePng(picture, tensorToImages(square, [1, 1, 56, 56])[0]);
    const result = run(
      'train-control',
      '--base',
      baseDir,
      '--condition',
      'edges',
      '--out',
      controlDir,
      '--steps',
      '2',
      '--batch-size',
      '2',
      '--data',
      'mnist',
    );
    assert.equal(result.status, 0, result.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('train-control writes the base pipeline plus controlnet/ and the condition kind', () => {
    for (const file of [
      'unet/config.json',
      'scheduler/scheduler_config.json',
      'controlnet/config.json',
      'controlnet/diffusion_pytorch_model.safetensors',
    ])
      assert.ok(existsSync(join(controlDir, file)), file);
    const index = JSON.parse(readFileSync(join(controlDir, 'model_index.json'), 'utf8'));
    assert.equal(index.controlnet_condition, 'edges');
    assert.deepEqual(index.controlnet, ['diffusion_ts', 'ControlNetModel']);
  });

  it('sample --control writes samples steered by the picture (resized, or taken as edges)', () => {
    for (const extra of [[], ['--control-is-edges', '--control-scale', '0.5']]) {
      const out = join(dir, `controlled-${extra.length}.png`);
      const result = run(
        'sample',
        '--model',
        controlDir,
        '--control',
        picture,
        '--steps',
        '2',
        '--num',
        '4',
        '--out',
        out,
        ...extra,
      );
      assert.equal(result.status, 0, result.stderr);
      const image = readImage(out);
      assert.deepEqual([image.width, image.height], [2 + 2 * 30, 2 + 2 * 30]);
    }
  });

  it('misuse is one line on stderr with exit code 2', () => {
    const out = join(dir, 'x.png');
    const cases: [string[], RegExp][] = [
      [
        ['train-control', '--base', baseDir, '--condition', 'depth', '--out', join(dir, 'a')],
        /--condition: unknown value 'depth'/,
      ],
      [
        ['train-control', '--base', baseDir, '--steps', '0', '--out', join(dir, 'a')],
        /--steps must be an integer/,
      ],
      [['train-control', '--base', baseDir, '--out', controlDir], /already holds a run/],
      [['train-control', '--base', join(dir, 'missing'), '--out', join(dir, 'a')], /does not exist/],
      [['sample', '--model', baseDir, '--control', picture, '--out', out], /holds no ControlNet/],
      [['sample', '--model', controlDir, '--control-scale', '2', '--out', out], /need --control IMAGE/],
      [
        ['sample', '--model', controlDir, '--control', join(dir, 'none.png'), '--out', out],
        /--control: file .* does not exist/,
      ],
      [
        ['sample', '--model', controlDir, '--control', picture, '--control-scale', '-1', '--out', out],
        /--control-scale must be a number/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = run(...args);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });
});
