// `diffusion eval --metrics / --features / bpd` through bin/diffusion.js: a selection prints only its
// metrics; unknown names and metrics that do not apply to the data exit 2 with one line; bits/dim of
// two held-out digits under the shipped MNIST model is reported with its estimator and ODE settings;
// FID/KID in the features of a user's ONNX network (a tiny conv net emitted by the engine) are finite.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDataset } from '../../src/data/dataset.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import type { Tensor } from '../../src/engine/graph.js';
import { avgPool2d, conv2d, reshape, silu } from '../../src/engine/index.js';
import { emitOnnx } from '../../src/engine/onnx/emit.js';
import { trace } from '../../src/engine/trace.js';
import { tensorToImages, writePng } from '../../src/io/images.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { savePipeline } from '../../src/models/pipeline-folder.js';
import { Random } from '../../src/util/random.js';

const bin = new URL('../../bin/diffusion.js', import.meta.url).pathname;
const mnistModel = new URL('../../models/mnist-unet', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
const f32 = (shape: number[]) => ({ shape, dtype: 'float32' as const });

/** Metric lines of a printed table: the first word of each line after the `metric value` header. */
function printedMetrics(stdout: string): string[] {
  const lines = stdout.split('\n');
  const header = lines.findIndex((l) => l.startsWith('metric '));
  return lines
    .slice(header + 1)
    .filter((l) => /^[a-z_]+ +[-\d.]/.test(l))
    .map((l) => l.split(/\s+/)[0]);
}

describe('diffusion eval --metrics', () => {
  let dir = '';
  let digits = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-eval-metrics-'));
    digits = join(dir, 'digits');
    mkdirSync(digits);
    const test = await resolveDataset('mnist', { split: 'test' });
    const { x } = test.batch(Int32Array.from({ length: 24 }, (_, i) => i * 37));
    tensorToImages(x, [24, 1, 28, 28]).forEach((image, i) =>
      writePng(join(digits, `${String(i).padStart(2, '0')}.png`), image),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints only the selected metrics', () => {
    const result = run('eval', '--images', digits, '--metrics', 'fid,recall');
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(printedMetrics(result.stdout), ['fid', 'recall']);
  });

  it('refuses unknown names and metrics that do not apply, with one line', () => {
    const moons = join(dir, 'moons-model');
    const network = new MLPDenoiser({ hidden_size: 8, num_layers: 1 });
    savePipeline(moons, {
      network,
      params: network.init(new Random(0)),
      scheduler: schedulerConfig('DDPMScheduler', {}),
    });
    writeFileSync(join(moons, 'training_summary.json'), JSON.stringify({ data: 'moons' }));
    const cases: [string[], RegExp][] = [
      [
        ['--images', digits, '--metrics', 'fid,inception'],
        /unknown metric 'inception'; valid: fid, kid, accuracy, precision, recall, swd, mmd, bpd/,
      ],
      [['--images', digits, '--metrics', ''], /no metric named/],
      [['--images', digits, '--metrics', 'swd'], /'swd' applies to vector/],
      [
        ['--images', digits, '--metrics', 'accuracy'],
        /'accuracy' needs samples of a class-conditional model/,
      ],
      [['--images', digits, '--metrics', 'bpd'], /'bpd' needs a model/],
      [['--model', mnistModel, '--metrics', 'mmd'], /'mmd' applies to vector/],
      [['--model', moons, '--metrics', 'fid'], /'fid' applies to image models/],
      [['--model', moons, '--metrics', 'bpd'], /'bpd' applies to image models/],
      [['--model', moons, '--metrics', 'accuracy'], /'accuracy' applies to image models/],
      [['--images', digits, '--features', join(dir, 'absent.onnx'), '--layer', 'x'], /does not exist/],
      [['--images', digits, '--features', join(digits, '00.png'), '--layer', 'x'], /not an ONNX model/],
      [['--images', digits, '--layer', 'x'], /--layer needs --features/],
    ];
    for (const [args, message] of cases) {
      const result = run('eval', ...args);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, message);
    }
  });

  it('bpd: bits/dim of held-out digits with its estimator and ODE settings', () => {
    const out = join(dir, 'bpd.json');
    const result = run('eval', '--model', mnistModel, '--metrics', 'bpd', '--num', '2', '--json', out);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^bpd +\d+\.\d{4} ± /m);
    assert.match(
      result.stdout,
      /Hutchinson trace estimator .* RK45 rtol = atol = 0\.001, t from 0\.001 to 1: \d+ ODE steps/s,
    );
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      selectedMetrics: string[];
      kind?: string;
      bitsPerDim: { bpd: number; numExamples: number; perExample: number[]; odeSteps: number };
    };
    assert.deepEqual(report.selectedMetrics, ['bpd']);
    assert.equal(report.kind, undefined); // no samples were drawn
    assert.equal(report.bitsPerDim.numExamples, 2);
    // A small MNIST model: between the ~1 bit/dim of strong models and the 8 bits of raw bytes.
    for (const bpd of report.bitsPerDim.perExample) assert.ok(bpd > 0.8 && bpd < 5, `bpd ${bpd}`);
    assert.ok(report.bitsPerDim.odeSteps >= 3);
  });

  it('--features: FID and KID in the features of a user ONNX network', () => {
    // Grey 28×28 → conv 1→4, SiLU, 4×4 average pool → 196 features, batch 8 declared.
    const weights = { w: new Random(2).normals(4 * 9), b: new Random(3).normals(4) };
    const traced = trace(
      ({ p, x }: { p: { w: Tensor; b: Tensor }; x: Tensor }) => ({
        pooled: reshape(avgPool2d(silu(conv2d(x, p.w, p.b, { padding: 1 })), 4), [8, 196]),
      }),
      { p: { w: f32([4, 1, 3, 3]), b: f32([4]) }, x: f32([8, 1, 28, 28]) },
    );
    const frozen = new Map([
      ['p.w', { data: weights.w, dtype: 'float32' as const }],
      ['p.b', { data: weights.b, dtype: 'float32' as const }],
    ]);
    const model = emitOnnx(traced.inputList, traced.outputList, { frozen });
    const path = join(dir, 'features.onnx');
    writeFileSync(path, model.bytes);
    const layer = model.outputNames.pooled;
    const out = join(dir, 'features.json');
    const args = ['eval', '--images', digits, '--features', path, '--layer', layer, '--metrics', 'fid,kid'];
    const result = run(...args, '--json', out);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`features: .*features\\.onnx:${layer}`));
    assert.deepEqual(printedMetrics(result.stdout), ['fid', 'kid', 'kid_std']);
    const report = JSON.parse(readFileSync(out, 'utf8')) as { metrics: { fid: number; kid: number } };
    assert.ok(Number.isFinite(report.metrics.fid) && report.metrics.fid >= 0);
    const unknown = run(...args.slice(0, 5), '--layer', 'nope');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no value named 'nope'.*values near its end: /);
  });
});
