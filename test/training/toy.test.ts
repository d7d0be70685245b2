// A 2-D toy (8 Gaussians) trains with the MLP in seconds and its samples cover the data: each of the 8
// modes gets about 1/8 of 512 samples, the median distance to the nearest mode is close to the data's, and
// the MMD² against a reference draw lies within the null spread (mean + 5 sd) of independent data draws;
// an untrained network fails.
// Also: the same seed gives the same loss curve, and a NaN loss stops the run with a NumericError.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { resolveDataset } from '../../src/data/dataset.js';
import { sampleToy2d } from '../../src/data/toy2d.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { MLPDenoiser } from '../../src/models/mlp.js';
import { generate } from '../../src/pipelines/generate.js';
import { parseTrainConfig } from '../../src/training/config.js';
import { train } from '../../src/training/trainer.js';
import { NumericError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

/** Unbiased MMD² with a sum of Gaussian kernels (bandwidths 0.1–0.8, the scale of the 8 Gaussians' spread). */
function mmd(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const kernel = (x: ArrayLike<number>, y: ArrayLike<number>, same: boolean) => {
    const nx = x.length / 2;
    const ny = y.length / 2;
    let sum = 0;
    let count = 0;
    for (let i = 0; i < nx; i++) {
      for (let j = same ? i + 1 : 0; j < ny; j++) {
        const d2 = (x[2 * i] - y[2 * j]) ** 2 + (x[2 * i + 1] - y[2 * j + 1]) ** 2;
        for (const h of [0.1, 0.2, 0.4, 0.8]) sum += Math.exp(-d2 / (2 * h * h));
        count++;
      }
    }
    return sum / count;
  };
  return kernel(a, a, true) + kernel(b, b, true) - 2 * kernel(a, b, false);
}

/** Share of points nearest each of the 8 modes (radius 2, every 45°) and the median distance to it. */
function modeStatistics(points: ArrayLike<number>): { shares: number[]; medianDistance: number } {
  const n = points.length / 2;
  const counts = new Array<number>(8).fill(0);
  const distances: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = Infinity;
    let mode = 0;
    for (let k = 0; k < 8; k++) {
      const angle = (k * Math.PI) / 4;
      const d = Math.hypot(points[2 * i] - 2 * Math.cos(angle), points[2 * i + 1] - 2 * Math.sin(angle));
      if (d < best) [best, mode] = [d, k];
    }
    counts[mode]++;
    distances.push(best);
  }
  distances.sort((a, b) => a - b);
  return { shares: counts.map((c) => c / n), medianDistance: distances[Math.floor(n / 2)] };
}

/** The training schedule (DDPM linear β) without DDIM's default clipping to [−1, 1]: the toy spans radius 2. */
const TOY_SCHEDULER = schedulerConfig('DDIMScheduler', { numTrainTimesteps: 1000, clipSample: false });

const toyConfig = (overrides: Record<string, unknown> = {}) =>
  parseTrainConfig({
    data: '8gaussians',
    model: { className: 'MLPDenoiser', config: {} },
    steps: 1500,
    batchSize: 128,
    lr: 3e-3,
    warmupSteps: 50,
    emaDecay: 0.99,
    ...overrides,
  });

describe('toy training', () => {
  it('8 Gaussians: samples match the data by MMD² within the null spread of data-vs-data draws', async () => {
    const config = toyConfig();
    const dataset = await resolveDataset('8gaussians', { size: 4000, seed: 1 });
    const network = new MLPDenoiser({ hidden_size: 64, num_layers: 2 });
    const started = performance.now();
    const result = await train({ config, network, dataset });
    const trainSeconds = (performance.now() - started) / 1000;
    const samples = await generate({
      network,
      params: result.state.ema!,
      schedulerConfig: TOY_SCHEDULER,
      sampler: 'dpmpp_2m',
      numSteps: 30,
      numSamples: 512,
      seed: 3,
    });
    const reference = sampleToy2d('8gaussians', 512, new Random(100)).x;
    const nullDraws = Array.from({ length: 20 }, (_, k) =>
      mmd(sampleToy2d('8gaussians', 512, new Random(200 + k)).x, reference),
    );
    const mean = nullDraws.reduce((a, b) => a + b, 0) / nullDraws.length;
    const sd = Math.sqrt(nullDraws.reduce((a, b) => a + (b - mean) ** 2, 0) / (nullDraws.length - 1));
    const trained = modeStatistics(samples);
    const sampleMmd = mmd(samples, reference);
    console.log(
      `8gaussians: ${result.step} steps in ${trainSeconds.toFixed(1)} s (${result.stepsPerSecond.toFixed(0)} steps/s), ` +
        `final loss ${result.losses.at(-1)!.toFixed(3)}, MMD² ${sampleMmd.toExponential(2)} ` +
        `vs data-vs-data ${mean.toExponential(2)} ± ${sd.toExponential(2)}, median distance to nearest mode ` +
        `${trained.medianDistance.toFixed(3)} (data ${modeStatistics(reference).medianDistance.toFixed(3)}), ` +
        `mode shares ${trained.shares.map((s) => s.toFixed(2)).join(' ')}`,
    );
    // Every one of the 8 modes is covered in about its share 1/8, and samples sit near a mode.
    for (const share of trained.shares)
      assert.ok(share > 0.06 && share < 0.2, `mode shares ${trained.shares}`);
    assert.ok(trained.medianDistance < 0.16, `median distance to the nearest mode ${trained.medianDistance}`);
    assert.ok(sampleMmd < mean + 5 * sd, `MMD² ${sampleMmd} above the null threshold ${mean + 5 * sd}`);
    // An untrained network's samples must fail the same test, so the test can fail.
    const untrained = await generate({
      network,
      params: network.init(new Random(9)),
      schedulerConfig: TOY_SCHEDULER,
      sampler: 'dpmpp_2m',
      numSteps: 30,
      numSamples: 512,
      seed: 3,
    });
    assert.ok(mmd(untrained, reference) > mean + 5 * sd);
  });

  it('the same config and seed give an identical loss curve; another seed does not', async () => {
    const config = toyConfig({ steps: 40, batchSize: 64 });
    const dataset = await resolveDataset('moons', { size: 1000 });
    const run = async (seed: number) =>
      (
        await train({
          config: { ...config, seed, data: 'moons' },
          network: new MLPDenoiser({ hidden_size: 32, num_layers: 1 }),
          dataset,
        })
      ).losses;
    const [a, b, c] = [await run(7), await run(7), await run(8)];
    assert.equal(a.length, 40);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('a NaN loss stops the run with a NumericError', async () => {
    const config = toyConfig({ steps: 20, batchSize: 16, lr: 1e-3 });
    const dataset = await resolveDataset('moons', { size: 100 });
    const network = new MLPDenoiser({ hidden_size: 8, num_layers: 1 });
    const poisoned = {
      ...network,
      paramTypes: () => network.paramTypes(),
      apply: network.apply.bind(network),
      init: (r: Random) => {
        const params = network.init(r);
        (params['output_proj.bias'].data as Float32Array)[0] = NaN;
        return params;
      },
    };
    await assert.rejects(
      train({ config, network: poisoned, dataset }),
      (error: unknown) => error instanceof NumericError && /step 1/.test(error.message),
    );
  });
});
