// Evaluation against held-out data: real data scores close to its own held-out part and clearly worse
// once corrupted with noise (MNIST: FID in the classifier's feature space, class accuracy; moons: MMD²
// and sliced Wasserstein); the shipped class-conditional MNIST model draws digits the classifier
// recognises; the training hook appends finite metrics to metrics.jsonl; bad inputs are refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDataset } from '../../src/data/dataset.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { loadClassifier, type MnistClassifier } from '../../src/metrics/classifier.js';
import {
  balancedLabels,
  evaluatePipeline,
  evaluateSamples,
  evaluationHook,
  referenceData,
  trainedDataset,
  type ImageMetrics,
  type VectorMetrics,
} from '../../src/metrics/evaluate.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { loadPipeline } from '../../src/models/pipeline-folder.js';
import { ShapeError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const mnistModel = new URL('../../models/mnist-unet', import.meta.url).pathname;

/** Adds N(0, σ²) noise to every value (clamped to [lo, hi]). */
const corrupted = (data: Float32Array, sigma: number, lo = -Infinity, hi = Infinity) => {
  const random = new Random(3);
  return data.map((v) => Math.min(hi, Math.max(lo, v + sigma * random.normal())));
};

describe('evaluateSamples: MNIST digits in the classifier feature space', () => {
  let classifier: MnistClassifier;
  let clean: ImageMetrics;
  let noisy: ImageMetrics;
  before(async () => {
    classifier = loadClassifier();
    // 300 training digits (every 30th: all classes) against the 1,000 held-out test digits.
    const train = await resolveDataset('mnist', { split: 'train' });
    const { x, labels } = train.batch(Int32Array.from({ length: 300 }, (_, i) => i * 30));
    const score = async (samples: Float32Array) => {
      const report = await evaluateSamples(samples, [1, 28, 28], 'mnist', { labels: labels!, classifier });
      assert.equal(report.kind, 'image');
      assert.equal(report.numReference, 1000);
      return report.metrics as ImageMetrics;
    };
    clean = await score(x);
    noisy = await score(corrupted(x, 0.5, -1, 1));
  });
  after(() => classifier.dispose());

  it('real digits against held-out digits: small FID (measured 15), near-perfect accuracy', () => {
    assert.ok(clean.fid >= 0 && clean.fid < 30, `FID ${clean.fid}`);
    assert.ok(clean.classAccuracy! >= 0.97, `accuracy ${clean.classAccuracy}`);
    assert.equal(clean.perClassAccuracy!.length, 10);
    assert.ok(clean.precision > 0.7 && clean.recall > 0.7, `P ${clean.precision} R ${clean.recall}`);
  });

  it('noisy digits (σ = 0.5): FID over 150 (measured 378), larger KID, lower recall and accuracy', () => {
    assert.ok(noisy.fid > 150 && noisy.fid > 5 * clean.fid, `FID ${noisy.fid} vs ${clean.fid}`);
    assert.ok(noisy.kid > clean.kid + 3 * (noisy.kidStd + clean.kidStd), `KID ${noisy.kid} vs ${clean.kid}`);
    assert.ok(noisy.recall < clean.recall - 0.3, `recall ${noisy.recall} vs ${clean.recall}`);
    assert.ok(noisy.classAccuracy! < 0.9, `accuracy ${noisy.classAccuracy}`);
  });
});

describe('evaluateSamples: 2-D points', () => {
  let clean: VectorMetrics;
  let noisy: VectorMetrics;
  before(async () => {
    // The training draw of moons (seed 0) against the evaluator's fresh draw.
    const moons = await resolveDataset('moons', { size: 1000 });
    const points = moons.batch(Int32Array.from({ length: 1000 }, (_, i) => i)).x;
    clean = (await evaluateSamples(points, [2], 'moons')).metrics as VectorMetrics;
    noisy = (await evaluateSamples(corrupted(points, 0.5), [2], 'moons')).metrics as VectorMetrics;
  });

  it('the training points score near 0 (MMD² −0.0004, SW 0.02 measured)', () => {
    assert.ok(Math.abs(clean.mmd2) < 0.002, `MMD² ${clean.mmd2}`);
    assert.ok(clean.slicedWasserstein < 0.04, `SW ${clean.slicedWasserstein}`);
    assert.ok(clean.bandwidth > 0.5 && clean.bandwidth < 2, `σ ${clean.bandwidth}`);
  });

  it('noisy points (σ = 0.5) score clearly worse (MMD² 0.012, SW 0.15 measured)', () => {
    assert.ok(noisy.mmd2 > 0.005, `MMD² ${noisy.mmd2}`);
    assert.ok(noisy.slicedWasserstein > 0.1, `SW ${noisy.slicedWasserstein}`);
  });
});

describe('evaluatePipeline on the shipped class-conditional MNIST model', () => {
  it('50 digits (5 per class, euler_a 5 steps, guidance 2) are recognised (≥ 85%; chance is 10%)', async () => {
    const pipeline = loadPipeline(mnistModel);
    assert.equal(trainedDataset(mnistModel, pipeline.network), 'mnist');
    const report = await evaluatePipeline({
      ...pipeline,
      dataset: 'mnist',
      numSamples: 50,
      sampler: 'euler_a',
      steps: 5,
      guidance: 2,
    });
    assert.equal(report.kind, 'image');
    const metrics = report.metrics as ImageMetrics;
    // Measured 100% and FID 74 (pure noise scores FID ~10⁵ here; real digits ~15 at 300 samples).
    assert.ok(metrics.classAccuracy! >= 0.85, `class accuracy ${metrics.classAccuracy}`);
    assert.ok(Number.isFinite(metrics.fid) && metrics.fid < 200, `FID ${metrics.fid}`);
    assert.deepEqual(report.sampling, { sampler: 'euler_a', steps: 5, guidance: 2, seed: 0 });
  });
});

describe('evaluationHook', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'eval-hook-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('appends one line of finite metrics per call after the existing lines', async () => {
    const network = new MLPDenoiser({ hidden_size: 16, num_layers: 1 });
    const params = network.init(new Random(0));
    const metricsPath = join(dir, 'metrics.jsonl');
    writeFileSync(metricsPath, '{"step":10,"loss":0.5}\n');
    const hook = evaluationHook({
      network,
      schedulerConfig: schedulerConfig('DDPMScheduler', {}),
      dataset: 'moons',
      metricsPath,
      numSamples: 64,
      steps: 4,
    });
    await hook.evaluate(params, 10);
    await hook.evaluate(params, 20);
    await hook.dispose();
    const lines = readFileSync(metricsPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[0], { step: 10, loss: 0.5 });
    assert.deepEqual(
      lines.slice(1).map((l) => l.step),
      [10, 20],
    );
    for (const line of lines.slice(1)) {
      assert.deepEqual(Object.keys(line.eval).sort(), ['mmd2', 'sliced_wasserstein']);
      // An untrained network draws Gaussian noise, far from the moons.
      assert.ok(line.eval.sliced_wasserstein > 0.1, JSON.stringify(line));
      assert.ok(Number.isFinite(line.eval.mmd2), JSON.stringify(line));
    }
  });
});

describe('evaluation inputs', () => {
  it('balanced labels cycle through the real classes (the null class is left out)', () => {
    const network = new MLPDenoiser({ num_class_embeds: 4 });
    assert.deepEqual(balancedLabels(network, 7), [0, 1, 2, 0, 1, 2, 0]);
    assert.equal(balancedLabels(new MLPDenoiser({}), 3), undefined);
  });

  it('refuses data without a held-out part and samples of the wrong shape', async () => {
    await assert.rejects(referenceData('emoji', [3, 32, 32]), UsageError);
    await assert.rejects(referenceData('mnist', [1, 20, 20]), ShapeError);
    await assert.rejects(referenceData('moons', [3]), ShapeError);
    await assert.rejects(evaluateSamples(new Float32Array(2), [2], 'moons'), ShapeError);
    const empty = mkdtempSync(join(tmpdir(), 'eval-empty-'));
    assert.throws(() => trainedDataset(empty, new MLPDenoiser({})), UsageError);
    rmSync(empty, { recursive: true });
  });
});
