// The multistep VP solvers (DPM-Solver(++) multistep / singlestep / SDE, UniPC, DEIS): their grids and
// trajectories against diffusers, the exact probability-flow solution for Gaussian data, the DDIM
// equivalence of first-order DPM-Solver++, and the configs they refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getFloatTensor, readSafetensorsFile } from '../../src/io/safetensors.js';
import {
  parseSchedulerConfig,
  schedulerConfig,
  type SchedulerConfig,
  type SchedulerConfigFields,
} from '../../src/diffusion/scheduler-config.js';
import type { SamplerOptions } from '../../src/diffusion/samplers/common.js';
import { sampleDdim } from '../../src/diffusion/samplers/ddim.js';
import { deisGrid, sampleDeis } from '../../src/diffusion/samplers/deis.js';
import {
  dpmSolverGrid,
  dpmSolverSinglestepGrid,
  sampleDpmSolverMultistep,
  sampleDpmSolverSinglestep,
  singlestepOrders,
  solverGrid,
} from '../../src/diffusion/samplers/dpm-solver.js';
import { resolveSampler, sample } from '../../src/diffusion/samplers/registry.js';
import { sampleUniPc } from '../../src/diffusion/samplers/unipc.js';
import type { ModelFn, NoiseSource, SampleRequest } from '../../src/diffusion/samplers/types.js';
import { exponentialSigmas } from '../../src/diffusion/schedules.js';
import { trainingAlphasCumprod } from '../../src/diffusion/timesteps.js';
import { ConfigError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const referenceDir = new URL('../../../shared/reference/', import.meta.url);
const reference = JSON.parse(readFileSync(new URL('samplers.json', referenceDir), 'utf8'));
const tensors = readSafetensorsFile(fileURLToPath(new URL('samplers.safetensors', referenceDir)));
const x = getFloatTensor(tensors, 'x').data;

/** Each reference case: how this project runs it and which grid it should step through. */
const CASES = {
  dpmpp_2m: {
    run: (r: SampleRequest, c: SchedulerConfig) => sampleDpmSolverMultistep(r, c as never),
    grid: (c: SchedulerConfig, n: number) => dpmSolverGrid(c as never, n),
  },
  sde_dpmpp_2m: {
    run: (r: SampleRequest, c: SchedulerConfig) => sampleDpmSolverMultistep(r, c as never),
    grid: (c: SchedulerConfig, n: number) => dpmSolverGrid(c as never, n),
  },
  dpm_singlestep: {
    run: (r: SampleRequest, c: SchedulerConfig) => sampleDpmSolverSinglestep(r, c as never),
    grid: (c: SchedulerConfig, n: number) => dpmSolverSinglestepGrid(c as never, n),
  },
  unipc: {
    run: (r: SampleRequest, c: SchedulerConfig) => sampleUniPc(r, c as never),
    grid: (c: SchedulerConfig, n: number) => solverGrid(c as never, n),
  },
  deis: {
    run: (r: SampleRequest, c: SchedulerConfig) => sampleDeis(r, c as never),
    grid: (c: SchedulerConfig, n: number) => deisGrid(c as never, n),
  },
} as const;

/** Replays recorded noise draws in order and counts them. */
function replay(draws: Float32Array | null): NoiseSource & { used: number } {
  return {
    used: 0,
    normal(count) {
      assert.ok(draws, 'this case records no noise');
      const out = draws.slice(this.used, this.used + count);
      assert.equal(out.length, count, 'ran out of recorded noise');
      this.used += count;
      return out;
    },
  };
}

for (const [name, family] of Object.entries(CASES)) {
  const c = reference.cases.find((entry: { name: string }) => entry.name === name);
  const config = parseSchedulerConfig(c.config_json, c.id);

  test(`${name}: timesteps and σ levels match diffusers`, () => {
    const grid = family.grid(config, c.num_inference_steps);
    assert.deepEqual(grid.timesteps, c.timesteps);
    assert.equal(grid.sigmas.length, c.sigmas.length);
    grid.sigmas.forEach((s, i) => assert.ok(Math.abs(s - c.sigmas[i]) <= 1e-6 * c.sigmas[0], `σ ${i}`));
  });

  test(`${name}: every intermediate sample matches diffusers within 1e-4 of max |reference|`, async () => {
    const samples = getFloatTensor(tensors, `${c.id}/samples`).data;
    const recorded = tensors.tensors.has(`${c.id}/noise`)
      ? getFloatTensor(tensors, `${c.id}/noise`).data
      : null;
    const noiseSource = replay(recorded);
    const fakeModel: ModelFn = async (input, t) =>
      input.map((v) => 0.5 * Math.tanh(v) + Math.fround((0.01 * t) / 1000));
    let worst = 0;
    let last: Float32Array = new Float32Array(0);
    const final = await family.run(
      {
        model: fakeModel,
        noise: x,
        numInferenceSteps: c.num_inference_steps,
        batchSize: 2,
        noiseSource,
        callback: ({ step, sample }) => {
          last = sample;
          const expected = samples.subarray(step * x.length, (step + 1) * x.length);
          const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          for (let i = 0; i < x.length; i++)
            worst = Math.max(worst, Math.abs(sample[i] - expected[i]) / scale);
        },
      },
      config,
    );
    assert.ok(worst <= 1e-4, `worst relative error ${worst}`);
    assert.equal(noiseSource.used, recorded?.length ?? 0, 'every recorded noise draw is used, in order');
    assert.deepEqual(final, last, 'the result is the last reported sample');
    console.log(`${name}: worst relative error ${worst.toExponential(2)}`);
  });
}

// ---------------------------------------------------------------------------------------------------
// Gaussian data: the probability-flow ODE has a closed-form solution

const MU = 0.5;
const S = 0.3;

/** The exact ε-prediction for data N(μ, s²) at the VP level of σ = σ_t/α_t. */
function gaussianEpsilon(v: number, sigma: number): number {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const noiseStd = sigma * alpha;
  // E[x₀ | x_t] = μ + α s²/(α² s² + σ_t²) · (x_t − α μ), then ε = (x_t − α x̂₀)/σ_t.
  const x0 = MU + ((alpha * S * S) / (alpha * alpha * S * S + noiseStd * noiseStd)) * (v - alpha * MU);
  return (v - alpha * x0) / noiseStd;
}

/** The exact ODE map from level σ_a to σ_b: (x − α μ)/√(α² s² + σ_t²) stays fixed (1-D Gaussian flow). */
function exactFlow(x: number, from: number, to: number): number {
  const marginal = (sigma: number) => {
    const alpha = 1 / Math.sqrt(sigma * sigma + 1);
    return { alpha, std: Math.sqrt(alpha * alpha * S * S + (sigma * alpha) ** 2) };
  };
  const [a, b] = [marginal(from), marginal(to)];
  return b.alpha * MU + (b.std * (x - a.alpha * MU)) / a.std;
}

/** A model conditioned on training timesteps of the default linear schedule. */
const alphaBars = trainingAlphasCumprod({
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
});
const gaussianModel: ModelFn = async (input, t) =>
  input.map((v) => gaussianEpsilon(v, Math.sqrt((1 - alphaBars[t]) / alphaBars[t])));

type Run = (request: SampleRequest, options: SamplerOptions) => Promise<Float32Array>;

/**
 * |error| against the exact flow after n steps on a λ-uniform grid from σ = 80 to 0.01, given as an
 * explicit σ schedule whose "timesteps" are the σ themselves (the oracle model is conditioned on σ).
 */
async function flowError(run: Run, n: number): Promise<number> {
  const sigmas = exponentialSigmas(n + 1, 0.01, 80);
  const sigmaSchedule = {
    sigmas,
    timesteps: sigmas.slice(0, n),
    initNoiseSigma: 1,
    timestepOf: (s: number) => s,
  };
  const model: ModelFn = async (input, sigma) => input.map((v) => gaussianEpsilon(v, sigma));
  const [out] = await run({ model, noise: Float32Array.of(2), numInferenceSteps: n }, { sigmaSchedule });
  return Math.abs(out - exactFlow(2, sigmas[0], sigmas[n]));
}

test('every solver converges to the exact Gaussian flow at its order', async () => {
  const end = { finalSigmasType: 'sigma_min', lowerOrderFinal: false } as const;
  const multistep =
    (fields: SchedulerConfigFields<'DPMSolverMultistepScheduler'>): Run =>
    (r, o) =>
      sampleDpmSolverMultistep(r, schedulerConfig('DPMSolverMultistepScheduler', { ...end, ...fields }), o);
  const singlestep =
    (fields: SchedulerConfigFields<'DPMSolverSinglestepScheduler'>): Run =>
    (r, o) =>
      sampleDpmSolverSinglestep(r, schedulerConfig('DPMSolverSinglestepScheduler', { ...end, ...fields }), o);
  const unipc =
    (fields: SchedulerConfigFields<'UniPCMultistepScheduler'>): Run =>
    (r, o) =>
      sampleUniPc(r, schedulerConfig('UniPCMultistepScheduler', { ...end, ...fields }), o);
  const deis =
    (solverOrder: number): Run =>
    (r, o) =>
      sampleDeis(r, schedulerConfig('DEISMultistepScheduler', { lowerOrderFinal: false, solverOrder }), o);
  // [solver, error(24 steps) / error(48 steps) at least]: about 2^order, less where warm-up steps weigh in.
  const solvers: [string, Run, number][] = [
    ['DPM-Solver++ 1', multistep({ solverOrder: 1 }), 1.8],
    ['DPM-Solver++ 2M midpoint', multistep({}), 3.5],
    ['DPM-Solver++ 2M heun', multistep({ solverType: 'heun' }), 3.5],
    ['DPM-Solver++ 3M', multistep({ solverOrder: 3 }), 4.5],
    ['DPM-Solver 2M (noise prediction)', multistep({ algorithmType: 'dpmsolver' }), 3.5],
    ['DPM-Solver++ 2S', singlestep({}), 3.4],
    ['DPM-Solver++ 3S heun', singlestep({ solverOrder: 3, solverType: 'heun' }), 4.5],
    ['UniPC-1 (order 2 with the corrector)', unipc({ solverOrder: 1 }), 3.5],
    ['UniPC-2 bh1', unipc({ solverType: 'bh1' }), 6.5],
    ['UniPC-2 bh2', unipc({}), 6.5],
    ['UniPC-2 noise prediction', unipc({ predictX0: false }), 6.5],
    ['DEIS-2', deis(2), 3.5],
    ['DEIS-3', deis(3), 8],
  ];
  for (const [label, run, minRatio] of solvers) {
    const [coarse, fine] = [await flowError(run, 24), await flowError(run, 48)];
    assert.ok(fine < 3e-2, `${label}: error ${fine} after 48 steps`);
    assert.ok(coarse / fine >= minRatio, `${label}: halving the step cut the error only ${coarse / fine}×`);
  }
});

test('DEIS-2 (linear in log ρ) is DPM-Solver-2M with noise prediction and exact weights', async () => {
  const noise = new Random(4).normals(16);
  const request = { model: gaussianModel, noise, numInferenceSteps: 10 };
  const deis = await sampleDeis(request, schedulerConfig('DEISMultistepScheduler'));
  const dpm = await sampleDpmSolverMultistep(
    request,
    schedulerConfig('DPMSolverMultistepScheduler', {
      algorithmType: 'dpmsolver',
      solverType: 'heun',
      finalSigmasType: 'sigma_min',
    }),
  );
  deis.forEach((v, i) => assert.ok(Math.abs(v - dpm[i]) <= 1e-5, `element ${i}: ${v} vs ${dpm[i]}`));
});

test('first-order DPM-Solver++ is DDIM with eta 0 on the same timesteps', async () => {
  const noise = new Random(5).normals(32);
  const request = { model: gaussianModel, noise, numInferenceSteps: 25 };
  const spacing = { timestepSpacing: 'trailing' } as const;
  const dpm = await sampleDpmSolverMultistep(
    request,
    schedulerConfig('DPMSolverMultistepScheduler', { ...spacing, solverOrder: 1 }),
  );
  const ddim = await sampleDdim(request, schedulerConfig('DDIMScheduler', { ...spacing, clipSample: false }));
  dpm.forEach((v, i) => assert.ok(Math.abs(v - ddim[i]) <= 1e-5, `element ${i}: ${v} vs ${ddim[i]}`));
});

test('the registry runs the multistep families by the names users know', async () => {
  assert.equal(resolveSampler('DPM++ 2M Karras').name, 'dpmpp_2m_karras');
  assert.equal(resolveSampler('DPMSolverMultistepScheduler').name, 'dpmpp_2m');
  assert.equal(resolveSampler('sde-dpmpp-2m').name, 'dpmpp_2m_sde');
  assert.equal(resolveSampler('UniPCMultistepScheduler').name, 'unipc');
  assert.equal(resolveSampler('DEISMultistepScheduler').name, 'deis');
  assert.equal(resolveSampler('DPMSolverSinglestepScheduler').name, 'dpmpp_2s');
  const model = gaussianModel;
  const noise = new Random(1).normals(16);
  const karras = await sample('dpmpp_2m_karras', { model, noise, numInferenceSteps: 8 });
  const plain = await sample('dpmpp_2m', { model, noise, numInferenceSteps: 8 });
  assert.ok(
    karras.some((v, i) => Math.abs(v - plain[i]) > 1e-4),
    'Karras levels change the trajectory',
  );
  // Seeded SDE noise: the same seed gives the same sample, another seed another one.
  const sde = (seed: number) =>
    sample('dpmpp_2m_sde', {
      model,
      noise,
      numInferenceSteps: 8,
      noiseSource: { normal: (n) => new Random(seed).normals(n) },
    });
  assert.deepEqual(await sde(7), await sde(7));
  assert.notDeepEqual(await sde(7), await sde(8));
});

test('singlestep order lists follow diffusers', () => {
  const orders = (n: number, fields: SchedulerConfigFields<'DPMSolverSinglestepScheduler'>) =>
    singlestepOrders(n, schedulerConfig('DPMSolverSinglestepScheduler', fields)).join('');
  assert.equal(orders(6, { solverOrder: 3, lowerOrderFinal: true }), '123121');
  assert.equal(orders(7, { solverOrder: 3, lowerOrderFinal: true }), '1231231');
  assert.equal(orders(8, { solverOrder: 3, lowerOrderFinal: true }), '12312311');
  assert.equal(orders(6, { solverOrder: 3, finalSigmasType: 'sigma_min' }), '123123');
  assert.equal(orders(4, { solverOrder: 2, lowerOrderFinal: true }), '1211');
});

test('configs the solvers cannot honour are refused with ConfigErrors naming the setting', async () => {
  const request = { model: gaussianModel, noise: new Random(0).normals(4), numInferenceSteps: 5 };
  const refused: [string, () => Promise<unknown>][] = [
    [
      'sde-dpmsolver',
      () =>
        sampleDpmSolverMultistep(
          request,
          schedulerConfig('DPMSolverMultistepScheduler', {
            algorithmType: 'sde-dpmsolver',
            finalSigmasType: 'sigma_min',
            solverOrder: 3,
          }),
        ),
    ],
    [
      'use_flow_sigmas',
      () => sampleDeis(request, schedulerConfig('DEISMultistepScheduler', { useFlowSigmas: true })),
    ],
    [
      'predict_x0',
      () => sampleUniPc(request, schedulerConfig('UniPCMultistepScheduler', { predictX0: false })),
    ],
    [
      'σ spacing',
      () =>
        sampleDpmSolverMultistep(
          request,
          schedulerConfig('DPMSolverMultistepScheduler', { useKarrasSigmas: true, useLuLambdas: true }),
        ),
    ],
    [
      'explicit σ schedule',
      () =>
        sampleDpmSolverMultistep(request, schedulerConfig('DPMSolverMultistepScheduler'), {
          sigmaSchedule: {
            sigmas: Float64Array.of(1, 0),
            timesteps: Float64Array.of(999, 500),
            initNoiseSigma: 1,
            timestepOf: () => 0,
          },
        }),
    ],
  ];
  for (const [what, run] of refused) {
    await assert.rejects(run, (e: unknown) => e instanceof ConfigError && e.message.includes(what), what);
  }
  assert.throws(
    () => schedulerConfig('DPMSolverMultistepScheduler', { algorithmType: 'dpmsolver' }),
    (e: unknown) => e instanceof ConfigError && e.message.includes("final_sigmas_type 'zero'"),
  );
  await assert.rejects(
    () => sample('dpmpp_2m_sde', request),
    (e: unknown) => e instanceof UsageError && e.message.includes('noiseSource'),
  );
});

test('learned-variance outputs use the mean half of each example; thresholding bounds every x̂₀', async () => {
  const noise = new Random(6).normals(2 * 12); // 2 examples of 12 values
  const base = { noise, numInferenceSteps: 6, batchSize: 2 };
  const config = (fields: SchedulerConfigFields<'DPMSolverMultistepScheduler'>) =>
    schedulerConfig('DPMSolverMultistepScheduler', fields);
  const plain = await sampleDpmSolverMultistep({ ...base, model: gaussianModel }, config({}));
  const withVariance: ModelFn = async (input, t) => {
    const mean = await gaussianModel(input, t);
    const out = new Float32Array(2 * input.length).fill(1e3); // the variance half: must be ignored
    for (let b = 0; b < 2; b++) out.set(mean.subarray(b * 12, (b + 1) * 12), b * 24);
    return out;
  };
  const learned = await sampleDpmSolverMultistep(
    { ...base, model: withVariance },
    config({ varianceType: 'learned' }),
  );
  assert.deepEqual(learned, plain);

  const extremes = async (thresholding: boolean) => {
    let largest = 0;
    const scaled: ModelFn = async (input, t) => (await gaussianModel(input, t)).map((v) => 3 * v);
    await sampleDpmSolverMultistep(
      {
        ...base,
        model: scaled,
        callback: ({ predictedOriginal }) => {
          for (const v of predictedOriginal) largest = Math.max(largest, Math.abs(v));
        },
      },
      config({ thresholding, sampleMaxValue: 1.5 }),
    );
    return largest;
  };
  assert.ok((await extremes(false)) > 1.5, 'the unthresholded model overshoots');
  assert.ok((await extremes(true)) <= 1 + 1e-6, 'thresholded x̂₀ = clip(x̂₀, −s, s)/s lies in [−1, 1]');
});

test('repeated rounded timesteps (1000 steps over 999) are skipped instead of turning into NaN', async () => {
  const config = schedulerConfig('DPMSolverMultistepScheduler', { solverOrder: 3 });
  const grid = dpmSolverGrid(config, 1000);
  assert.ok(grid.timesteps.length < 1000 && grid.timesteps.length > 990, `${grid.timesteps.length} steps`);
  assert.ok(
    grid.sigmas.every((s, i) => i === 0 || s < grid.sigmas[i - 1]),
    'σ strictly decreasing',
  );
  const noise = new Random(2).normals(8);
  const out = await sampleUniPc(
    { model: gaussianModel, noise, numInferenceSteps: 1000 },
    schedulerConfig('UniPCMultistepScheduler'),
  );
  assert.ok(out.every(Number.isFinite));
});
