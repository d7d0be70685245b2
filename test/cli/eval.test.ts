// `diffusion eval` through bin/diffusion.js: the shipped class-conditional MNIST model, a 2-D model
// folder and a folder of PNG digits each give a table and a JSON report with finite metrics; bad input
// (a folder without a model, --num 0, images of the wrong size, no or two sources) exits 2 with one line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDataset } from '../../src/data/dataset.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { tensorToImages, writePng } from '../../src/io/images.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const mnistModel = new URL('../../models/mnist-unet', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

/** The fields of a JSON report these tests read (metrics: numbers, null, or the per-class list). */
interface JsonReport {
  kind: string;
  reference: string;
  numSamples: number;
  numReference: number;
  sampling: Record<string, unknown> | null;
  metrics: Record<string, number> & { perClassAccuracy: number[]; classAccuracy: number | null };
}

const readReport = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as JsonReport;

describe('diffusion eval', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-eval-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('MNIST model: table and JSON with finite FID, KID, precision/recall and class accuracy', () => {
    const out = join(dir, 'mnist.json');
    const result = run(
      'eval',
      '--model',
      mnistModel,
      '--num',
      '20',
      '--steps',
      '4',
      '--guidance',
      '2',
      '--json',
      out,
    );
    assert.equal(result.status, 0, result.stderr);
    for (const name of ['fid', 'kid', 'precision', 'recall', 'class_accuracy', 'accuracy by class'])
      assert.match(result.stdout, new RegExp(`^${name} `, 'm'));
    const report = readReport(out);
    assert.equal(report.kind, 'image');
    assert.equal(report.numSamples, 20);
    assert.equal(report.numReference, 1000);
    assert.deepEqual(report.sampling, { guidance: 2, sampler: 'dpmpp_2m', seed: 0, steps: 4 });
    for (const key of ['fid', 'kid', 'kidStd', 'precision', 'recall', 'classAccuracy'])
      assert.ok(Number.isFinite(report.metrics[key]), `${key} = ${report.metrics[key]}`);
    assert.equal(report.metrics.perClassAccuracy.length, 10);
    assert.ok(report.metrics.fid >= 0 && report.metrics.classAccuracy! <= 1);
  });

  it('2-D model: the dataset comes from the run summary; MMD² and sliced Wasserstein are finite', () => {
    const model = join(dir, 'moons-model');
    const network = new MLPDenoiser({ hidden_size: 16, num_layers: 1 });
    savePipeline(model, {
      network,
      params: network.init(new Random(0)),
      scheduler: schedulerConfig('DDPMScheduler', {}),
    });
    // Without a summary the dataset of a 2-D model is unknown: a usage error naming --dataset.
    const unknown = run('eval', '--model', model, '--num', '50', '--steps', '3');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /--dataset/);
    writeFileSync(join(model, 'training_summary.json'), JSON.stringify({ data: 'moons' }));
    const out = join(dir, 'moons.json');
    const result = run('eval', '--model', model, '--num', '100', '--steps', '3', '--json', out);
    assert.equal(result.status, 0, result.stderr);
    const report = readReport(out);
    assert.equal(report.kind, 'vector');
    assert.equal(report.numSamples, 100);
    assert.ok(report.reference.startsWith('moons'));
    for (const key of ['mmd2', 'bandwidth', 'slicedWasserstein'])
      assert.ok(Number.isFinite(report.metrics[key]), `${key} = ${report.metrics[key]}`);
    // The untrained network draws noise far from the moons.
    assert.ok(report.metrics.slicedWasserstein > 0.1);
  });

  it('--images: a folder of real test digits scores a small FID and no class accuracy', async () => {
    const images = join(dir, 'digits');
    mkdirSync(images);
    const test = await resolveDataset('mnist', { split: 'test' });
    const { x } = test.batch(Int32Array.from({ length: 100 }, (_, i) => i * 10));
    tensorToImages(x, [100, 1, 28, 28]).forEach((image, i) =>
      writePng(join(images, `${String(i).padStart(3, '0')}.png`), image),
    );
    const out = join(dir, 'digits.json');
    const result = run('eval', '--images', images, '--json', out);
    assert.equal(result.status, 0, result.stderr);
    const report = readReport(out);
    assert.equal(report.sampling, null);
    assert.equal(report.numSamples, 100);
    assert.equal(report.metrics.classAccuracy, null);
    // These digits are part of the reference set itself: FID well under that of noise (hundreds).
    assert.ok(report.metrics.fid >= 0 && report.metrics.fid < 40, `FID ${report.metrics.fid}`);
  });

  it('bad input exits 2 with a one-line message', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const small = join(dir, 'small');
    mkdirSync(small);
    for (let i = 0; i < 3; i++) {
      writePng(join(small, `${i}.png`), tensorToImages(new Float32Array(400), [1, 1, 20, 20])[0]);
    }
    const cases: [string[], RegExp][] = [
      [['--model', empty], /not a pipeline folder/],
      [['--model', mnistModel, '--num', '0'], /--num/],
      [['--images', small], /20×20/],
      [['--images', empty], /PNG/],
      [[], /exactly one of --model/],
      [['--model', mnistModel, '--images', small], /exactly one of --model/],
    ];
    for (const [args, message] of cases) {
      const result = run('eval', ...args);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, message);
    }
  });
});
