import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import {
  betaQuantile,
  betaSigmas,
  roundHalfEven,
  sigmaSchedule,
  sigmaSpacingOf,
  spacedTimesteps,
  trainingAlphasCumprod,
  trainingSigmas,
} from '../../src/diffusion/timesteps.js';
import { ConfigError } from '../../src/util/errors.js';

const spacing = (timestepSpacing: 'linspace' | 'leading' | 'trailing', stepsOffset = 0) => ({
  numTrainTimesteps: 1000,
  timestepSpacing,
  stepsOffset,
});

test('leading, trailing and linspace spacings give diffusers/numpy timesteps', () => {
  assert.deepEqual(
    Array.from(spacedTimesteps(spacing('leading'), 10, true)),
    [900, 800, 700, 600, 500, 400, 300, 200, 100, 0],
  );
  assert.deepEqual(Array.from(spacedTimesteps(spacing('leading', 1), 4, true)), [751, 501, 251, 1]);
  assert.deepEqual(Array.from(spacedTimesteps(spacing('trailing'), 3, true)), [999, 666, 332]);
  // 937.5 and 812.5 round to even, as numpy does.
  assert.deepEqual(
    Array.from(spacedTimesteps(spacing('trailing'), 16, true)).slice(0, 6),
    [999, 937, 874, 811, 749, 687],
  );
  assert.deepEqual(
    Array.from(spacedTimesteps(spacing('linspace'), 7, true)),
    [999, 832, 666, 500, 333, 166, 0],
  );
  assert.deepEqual(Array.from(spacedTimesteps(spacing('linspace'), 3, true)), [999, 500, 0]);
  const fractional = spacedTimesteps(spacing('linspace'), 25, false);
  assert.deepEqual(Array.from(fractional.slice(0, 3)), [999, 957.375, 915.75]);
  assert.equal(fractional[24], 0);
});

test('trailing spacing gives exactly N distinct in-range timesteps for every N', () => {
  for (let n = 1; n <= 1000; n++) {
    const timesteps = spacedTimesteps(spacing('trailing'), n, true);
    assert.equal(timesteps.length, n, `N = ${n}`);
    assert.equal(timesteps[0], 999);
    assert.ok(timesteps[n - 1] >= 0 && new Set(timesteps).size === n, `N = ${n}`);
  }
});

test('impossible step counts and offsets are ConfigErrors', () => {
  assert.throws(
    () => spacedTimesteps(spacing('leading'), 1001, true),
    (e: unknown) => {
      return e instanceof ConfigError && e.message.includes('cannot exceed num_train_timesteps (1000)');
    },
  );
  assert.throws(() => spacedTimesteps(spacing('leading'), 0, true), ConfigError);
  assert.throws(() => spacedTimesteps(spacing('leading'), 2.5, true), ConfigError);
  assert.throws(() => spacedTimesteps(spacing('leading', 600), 2, true), /steps_offset 600/);
});

test('numpy rounding: halves go to the even neighbour', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 499.5, -1.5, 2.4, 2.6].map(roundHalfEven), [0, 2, 2, 500, -2, 2, 3]);
});

test('training σ match diffusers for the linear schedule', () => {
  const reference = JSON.parse(
    readFileSync(new URL('../../../shared/reference/schedules.json', import.meta.url), 'utf8'),
  );
  const expected = (reference.schedules?.linear ?? reference.linear).alphas_cumprod as number[];
  const sigmas = trainingSigmas(trainingAlphasCumprod(schedulerConfig('EulerDiscreteScheduler')));
  for (const t of [0, 1, 500, 999]) {
    const a = expected[t];
    assert.ok(Math.abs(sigmas[t] - Math.sqrt((1 - a) / a)) <= 1e-6 * sigmas[t], `σ_${t}`);
  }
  assert.ok(Math.abs(sigmas[999] - 157.407257) < 1e-4);
});

test('Karras σ and their timesteps match a numpy re-implementation of diffusers', () => {
  const config = schedulerConfig('EulerDiscreteScheduler', { useKarrasSigmas: true });
  assert.equal(sigmaSpacingOf(config), 'karras');
  const schedule = sigmaSchedule(config, 10);
  const sigmas = [
    157.407227, 85.7107086, 44.0476341, 21.1055984, 9.27473831, 3.65263939, 1.24636006, 0.349706084,
    0.0739302784, 0.0100013297, 0,
  ];
  const timesteps = [
    999.0, 936.922119, 863.829651, 775.134338, 662.638855, 510.70697, 300.990204, 102.165062, 18.3090572, 0.0,
  ];
  sigmas.forEach((s, i) => assert.ok(Math.abs(schedule.sigmas[i] - s) <= 1e-6 * s, `σ_${i}`));
  timesteps.forEach((t, i) =>
    assert.ok(Math.abs(schedule.timesteps[i] - t) <= 2e-3, `t_${i}: ${schedule.timesteps[i]}`),
  );
  // KDPM2 rounds Karras timesteps to integers.
  const rounded = sigmaSchedule(config, 10, { roundKarrasTimesteps: true }).timesteps;
  assert.deepEqual(Array.from(rounded), [999, 937, 864, 775, 663, 511, 301, 102, 18, 0]);
});

test('exponential, Beta, log-linear and sigma_min variants', () => {
  const exponential = sigmaSchedule(
    schedulerConfig('LMSDiscreteScheduler', { useExponentialSigmas: true }),
    5,
  ).sigmas;
  const ratios = [1, 2, 3].map((i) => exponential[i] / exponential[i + 1]);
  ratios.forEach((r) => assert.ok(Math.abs(r - ratios[0]) < 1e-5 * r, 'geometric spacing'));
  const beta = sigmaSchedule(schedulerConfig('HeunDiscreteScheduler', { useBetaSigmas: true }), 6).sigmas;
  const ppf = [1.0, 0.8770782495416671, 0.6372990092467856, 0.36270099075321405, 0.12292175045833284, 0.0]; // scipy
  const [lo, hi] = [beta[5], beta[0]];
  ppf.forEach((p, i) => assert.ok(Math.abs(beta[i] - (lo + p * (hi - lo))) <= 1e-5 * hi, `beta σ_${i}`));
  const logLinear = sigmaSchedule(
    schedulerConfig('EulerDiscreteScheduler', { interpolationType: 'log_linear' }),
    5,
  );
  assert.equal(logLinear.sigmas.length, 6);
  assert.equal(logLinear.timesteps.length, 5);
  assert.ok(logLinear.sigmas[5] > 0, 'log-linear ends at σ_min, as diffusers');
  const euler = schedulerConfig('EulerDiscreteScheduler', { finalSigmasType: 'sigma_min' });
  const sigmaMin = sigmaSchedule(euler, 5).sigmas;
  assert.equal(sigmaMin[5], trainingSigmas(trainingAlphasCumprod(euler))[0]);
  assert.ok(Math.abs(sigmaMin[5] - 0.01) < 2e-6);
  const explicit = sigmaSchedule(
    schedulerConfig('EulerDiscreteScheduler', { useKarrasSigmas: true, sigmaMin: 0.002, sigmaMax: 80 }),
    4,
  ).sigmas;
  assert.ok(Math.abs(explicit[0] - 80) < 1e-4 && Math.abs(explicit[3] - 0.002) < 1e-8);
});

test('initial noise σ: σ_max for linspace/trailing, √(σ_max² + 1) for leading', () => {
  const linspace = sigmaSchedule(schedulerConfig('EulerDiscreteScheduler'), 10);
  assert.equal(linspace.initNoiseSigma, linspace.sigmas[0]);
  const leading = sigmaSchedule(
    schedulerConfig('EulerDiscreteScheduler', { timestepSpacing: 'leading' }),
    10,
  );
  assert.ok(Math.abs(leading.initNoiseSigma - Math.hypot(leading.sigmas[0], 1)) < 1e-9);
});

test('zero-terminal-SNR and continuous timesteps', () => {
  const zeroSnr = sigmaSchedule(schedulerConfig('EulerDiscreteScheduler', { rescaleBetasZeroSnr: true }), 10);
  assert.ok(Math.abs(zeroSnr.sigmas[0] - 4096) < 1, `σ_max ${zeroSnr.sigmas[0]} ≈ √(2²⁴ − 1)`);
  const continuous = sigmaSchedule(
    schedulerConfig('EulerDiscreteScheduler', { timestepType: 'continuous', predictionType: 'v_prediction' }),
    5,
  );
  continuous.timesteps.forEach((t, i) =>
    assert.ok(Math.abs(t - 0.25 * Math.log(continuous.sigmas[i])) < 1e-6),
  );
});

test('Beta quantiles invert closed-form CDFs', () => {
  for (const q of [0.01, 0.2, 0.5, 0.9]) {
    const arcsine = Math.sin((Math.PI * q) / 2) ** 2; // Beta(½, ½)
    assert.ok(Math.abs(betaQuantile(q, 0.5, 0.5) - arcsine) < 1e-10, `arcsine ${q}`);
    const x = betaQuantile(q, 2, 3); // CDF 6x² − 8x³ + 3x⁴
    assert.ok(Math.abs(6 * x ** 2 - 8 * x ** 3 + 3 * x ** 4 - q) < 1e-10, `Beta(2, 3) ${q}`);
  }
  assert.ok(Math.abs(betaQuantile(0.5, 0.6, 0.6) - 0.5) < 1e-12);
  assert.throws(() => betaSigmas(4, 2, 1), ConfigError);
});
