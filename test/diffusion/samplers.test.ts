// The discrete samplers beyond the diffusers trajectories: the registry's names, run-time options and
// their errors, and the distribution each sampler produces under the exact Gaussian-mixture denoiser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mixtureModelFn, mixtureParams } from '../../src/diffusion/oracle.js';
import { schedulerConfig, type SchedulerConfig } from '../../src/diffusion/scheduler-config.js';
import { randomNoiseSource, thresholded } from '../../src/diffusion/samplers/common.js';
import { pndmTimesteps } from '../../src/diffusion/samplers/pndm.js';
import { resolveSampler, sample, samplerNames, samplerSetup } from '../../src/diffusion/samplers/registry.js';
import type { SampleRequest, StepInfo } from '../../src/diffusion/samplers/types.js';
import { trainingAlphasCumprod, type TrainingScheduleConfig } from '../../src/diffusion/timesteps.js';
import { ConfigError, NotFoundError, UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const OWN_SAMPLERS = [
  'ddpm',
  'ddim',
  'pndm',
  'plms',
  'euler',
  'euler_karras',
  'euler_a',
  'heun',
  'heun_karras',
  'heun_edm',
  'lms',
  'lms_karras',
  'dpm_2',
  'dpm_2_karras',
  'dpm_2_ancestral',
  'dpm_2_ancestral_karras',
];

test('k-diffusion / web-UI names, aliases and diffusers class names resolve', () => {
  for (const name of OWN_SAMPLERS) assert.equal(resolveSampler(name).name, name);
  const cases: Record<string, string> = {
    'euler-a': 'euler_a',
    Euler_Ancestral: 'euler_a',
    'DPM-2-Karras': 'dpm_2_karras',
    'dpm 2 ancestral': 'dpm_2_ancestral',
    k_lms: 'lms',
    EulerDiscreteScheduler: 'euler',
    EulerAncestralDiscreteScheduler: 'euler_a',
    DDPMScheduler: 'ddpm',
    DDIMScheduler: 'ddim',
    PNDMScheduler: 'pndm',
    HeunDiscreteScheduler: 'heun',
    LMSDiscreteScheduler: 'lms',
    KDPM2DiscreteScheduler: 'dpm_2',
    KDPM2AncestralDiscreteScheduler: 'dpm_2_ancestral',
  };
  for (const [given, expected] of Object.entries(cases))
    assert.equal(resolveSampler(given).name, expected, given);
});

test('an unknown sampler is a NotFoundError listing the valid names', () => {
  assert.throws(
    () => resolveSampler('euler_b'),
    (e: unknown) =>
      e instanceof NotFoundError &&
      e.message.includes("'euler_b'") &&
      samplerNames().every((n) => e.message.includes(n)),
  );
});

test('names set their config fields; a model config is converted to the named class', () => {
  const karras = samplerSetup('dpm_2_ancestral_karras').config;
  assert.equal(karras.className, 'KDPM2AncestralDiscreteScheduler');
  assert.equal((karras as { useKarrasSigmas: boolean }).useKarrasSigmas, true);
  assert.equal((samplerSetup('plms').config as { skipPrkSteps: boolean }).skipPrkSteps, true);
  const base = schedulerConfig('PNDMScheduler', {
    betaSchedule: 'scaled_linear',
    betaStart: 0.00085,
    betaEnd: 0.012,
  });
  const converted = samplerSetup('euler_karras', base).config as {
    betaSchedule: string;
    useKarrasSigmas: boolean;
  };
  assert.equal(converted.betaSchedule, 'scaled_linear');
  assert.equal(converted.useKarrasSigmas, true);
  const fromConfig = samplerSetup(schedulerConfig('LMSDiscreteScheduler', { stepsOffset: 1 }));
  assert.equal(fromConfig.entry.name, 'lms');
});

// ---- run-time behaviour on a small fake model --------------------------------------------------------

const fakeModel = async (input: Float32Array, t: number) => input.map((v) => 0.5 * Math.tanh(v) + t / 1e5);

function request(overrides: Partial<SampleRequest> = {}): SampleRequest {
  const random = new Random(7);
  return {
    model: fakeModel,
    noise: random.normals(16),
    numInferenceSteps: 8,
    batchSize: 2,
    noiseSource: randomNoiseSource(random.split()),
    ...overrides,
  };
}

test('stochastic samplers refuse to start without a noise source', async () => {
  for (const name of ['ddpm', 'euler_a', 'dpm_2_ancestral']) {
    let calls = 0;
    const model = async (input: Float32Array) => (calls++, input);
    await assert.rejects(sample(name, request({ model, noiseSource: undefined })), UsageError, name);
    assert.equal(calls, 0, `${name} called the model before failing`);
  }
  await assert.rejects(sample('ddim', request({ noiseSource: undefined }), { eta: 1 }), UsageError);
  await assert.rejects(sample('heun', request({ noiseSource: undefined }), { sChurn: 1 }), UsageError);
  await sample('ddim', request({ noiseSource: undefined }));
});

test('invalid run-time settings are ConfigErrors', async () => {
  await assert.rejects(sample('ddim', request(), { eta: -0.5 }), (e: unknown) => {
    return e instanceof ConfigError && e.message.includes('eta must be ≥ 0');
  });
  await assert.rejects(
    sample('euler', request({ numInferenceSteps: 1001 })),
    /cannot exceed num_train_timesteps/,
  );
  await assert.rejects(sample('lms', request(), { order: 5 }), ConfigError);
  await assert.rejects(sample('heun_edm', request(), { sChurn: -1 }), ConfigError);
  await assert.rejects(sample('pndm', request({ numInferenceSteps: 3 })), /at least 4 steps/);
});

test('temperature scales injected noise: 0 makes an ancestral sampler ignore its seed', async () => {
  const withSeed = (seed: number, temperature: number) =>
    sample('euler_a', request({ noiseSource: randomNoiseSource(new Random(seed)), temperature }));
  assert.deepEqual(await withSeed(1, 0), await withSeed(2, 0));
  assert.notDeepEqual(await withSeed(1, 1), await withSeed(2, 1));
  const hot = await withSeed(1, 1);
  const warm = await withSeed(1, 0.5);
  const cold = await withSeed(1, 0);
  // The noise enters linearly in the last step; halfway in temperature is close to halfway in outcome.
  const spread = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(spread(warm, cold) < spread(hot, cold));
});

test('every model call is reported once, with the count diffusers makes', async () => {
  const expected: Record<string, number> = {
    ddpm: 8,
    ddim: 8,
    plms: 9,
    pndm: 17,
    euler: 8,
    euler_a: 8,
    heun: 15,
    lms: 8,
    dpm_2: 15,
    dpm_2_ancestral: 15,
  };
  for (const [name, count] of Object.entries(expected)) {
    const steps: StepInfo[] = [];
    let calls = 0;
    const model = async (input: Float32Array, t: number) => (calls++, fakeModel(input, t));
    const final = await sample(name, request({ model, callback: (info) => void steps.push(info) }));
    assert.equal(calls, count, name);
    assert.deepEqual(
      steps.map((s) => [s.step, s.numSteps]),
      Array.from({ length: count }, (_, i) => [i, count]),
      name,
    );
    assert.deepEqual(steps[count - 1].sample, final, name);
  }
});

test('noise is drawn after the model call of its step, as diffusers draws it in step()', async () => {
  const expected: Record<string, number[]> = {
    ddpm: [0, 1, 2, 3, 4, 5, 6], // none at t = 0
    euler_a: [0, 1, 2, 3, 4, 5, 6, 7],
    dpm_2_ancestral: Array.from({ length: 15 }, (_, i) => i), // every call, used after the second
  };
  for (const [name, drawCalls] of Object.entries(expected)) {
    let calls = 0;
    const seen: number[] = [];
    const model = async (input: Float32Array, t: number) => (calls++, fakeModel(input, t));
    const noiseSource = { normal: (n: number) => (seen.push(calls - 1), new Float32Array(n)) };
    await sample(name, request({ model, noiseSource }));
    assert.deepEqual(seen, drawCalls, name);
  }
});

test("PNDM's Runge–Kutta warm-up follows diffusers' timetable", () => {
  const { prk, plms } = pndmTimesteps(schedulerConfig('PNDMScheduler'), 25);
  assert.deepEqual(prk, [960, 940, 940, 920, 920, 900, 900, 880, 880, 860, 860, 840]);
  assert.deepEqual(plms.slice(0, 3), [840, 800, 760]);
  assert.equal(plms.length, 22);
  const skipped = pndmTimesteps(schedulerConfig('PNDMScheduler', { skipPrkSteps: true }), 25);
  assert.deepEqual(skipped.plms.slice(0, 4), [960, 920, 920, 880]);
});

test('EDM churn draws noise, conditions on the raised σ̂, and is plain Heun at S_churn = 0', async () => {
  const timesteps: number[] = [];
  let draws = 0;
  const model = async (input: Float32Array, t: number) => (timesteps.push(t), fakeModel(input, t));
  const noiseSource = { normal: (n: number) => (draws++, new Random(draws).normals(n)) };
  await sample('heun_edm', request({ model, noiseSource }), { sChurn: 8, sTmin: 0.05, sTmax: 50 });
  assert.ok(draws > 0 && draws < 8, `churn only inside [S_tmin, S_tmax]: ${draws} draws`);
  assert.equal(timesteps.length, 15);
  const plain = await sample('heun_karras', request(), {});
  const noChurn = await sample('heun_edm', request(), { sChurn: 0 });
  assert.deepEqual(noChurn, plain);
});

test('DDPM learned_range reads the extra channels per example: +1 is β, −1 is β̃', async () => {
  // Batch of 2 examples × 4 values; the model returns [ε (4), v (4)] per example.
  const withVariance = (v: number) => async (input: Float32Array) => {
    const out = new Float32Array(input.length * 2);
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < 4; i++) {
        out[b * 8 + i] = 0.5 * Math.tanh(input[b * 4 + i]);
        out[b * 8 + 4 + i] = v;
      }
    }
    return out;
  };
  const plainModel = async (input: Float32Array) => input.map((x) => 0.5 * Math.tanh(x));
  const run = (config: SchedulerConfig, model: SampleRequest['model']) =>
    sample(
      config,
      request({ model, noise: new Random(3).normals(8), noiseSource: randomNoiseSource(new Random(4)) }),
    );
  const ddpm = (varianceType: 'learned_range' | 'fixed_large' | 'fixed_small') =>
    schedulerConfig('DDPMScheduler', { varianceType });
  const close = (a: Float32Array, b: Float32Array) => a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
  assert.ok(
    close(await run(ddpm('learned_range'), withVariance(1)), await run(ddpm('fixed_large'), plainModel)),
  );
  assert.ok(
    close(await run(ddpm('learned_range'), withVariance(-1)), await run(ddpm('fixed_small'), plainModel)),
  );
  await assert.rejects(run(ddpm('learned_range'), plainModel), /learned variances need twice the channels/);
});

test('dynamic thresholding clamps each example at its own |x₀| quantile', () => {
  const x0 = Float64Array.from([0.5, -3, 2, 1, 0.1, 0.2, -0.3, 0.4]);
  const out = thresholded(x0, 2, 0.5, 2.5);
  // Example 1: |x₀| = [0.5, 3, 2, 1], median 1.5 → clamp to ±1.5, divide by 1.5.
  assert.deepEqual(Array.from(out.slice(0, 4)), [0.5 / 1.5, -1, 1, 1 / 1.5]);
  // Example 2: quantile below 1 → s = 1, values unchanged.
  assert.deepEqual(Array.from(out.slice(4)), [0.1, 0.2, -0.3, 0.4]);
});

// ---- the distribution: exact denoiser of a 1-D Gaussian mixture ----------------------------------------

const mixture = mixtureParams({ weights: [0.3, 0.7], means: [[-0.5], [0.5]], variances: [0.01, 0.01] });
const MIXTURE_MEAN = 0.2;
const MIXTURE_STD = Math.sqrt(0.01 + 0.25 - 0.04);

for (const name of OWN_SAMPLERS) {
  test(`${name} samples the Gaussian mixture its exact denoiser describes`, async () => {
    const { config } = samplerSetup(name);
    const alphasCumprod = trainingAlphasCumprod(config as TrainingScheduleConfig);
    const predictionType = (config as { predictionType: 'epsilon' }).predictionType;
    const count = 2000;
    const random = new Random(11);
    const samples = await sample(
      config,
      {
        model: mixtureModelFn(mixture, { alphasCumprod, predictionType }),
        noise: random.normals(count),
        numInferenceSteps: 30,
        batchSize: count,
        noiseSource: randomNoiseSource(random.split()),
      },
      name === 'heun_edm' ? { sChurn: 10, sTmin: 0.05, sTmax: 10 } : {},
    );
    const mean = samples.reduce((s, v) => s + v, 0) / count;
    const std = Math.sqrt(samples.reduce((s, v) => s + (v - mean) ** 2, 0) / count);
    const upper = samples.filter((v) => v > 0).length / count;
    assert.ok(Math.abs(mean - MIXTURE_MEAN) < 0.04, `${name}: mean ${mean}`);
    assert.ok(Math.abs(std - MIXTURE_STD) < 0.04, `${name}: std ${std}`);
    assert.ok(Math.abs(upper - 0.7) < 0.04, `${name}: weight of the upper mode ${upper}`);
  });
}
