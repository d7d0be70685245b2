// Bits/dim through the probability-flow ODE against the closed form: for data modelled as N(0, s²·I),
// the exact ε̂(x, t) = σ(t)·x/(α(t)²s² + σ(t)²) makes every marginal Gaussian, so log p_ε(y) of the
// dequantised values is a Gaussian log-density. Exact trace and Hutchinson (exact too here: the Jacobian is
// a multiple of I and Rademacher probes have v·v = d) must both reproduce it, with ε- or v-prediction;
// the linear schedule maps to VP β 0.1→20; other schedules are refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bitsPerDim, dequantize8Bit } from '../../src/diffusion/likelihood.js';
import { schedulerConfig } from '../../src/diffusion/scheduler-config.js';
import {
  bitsPerDimensionOf,
  eightBitValues,
  vpSdeOfSchedule,
  type ModelOutputFn,
} from '../../src/metrics/likelihood.js';
import { UsageError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const DIM = 4;
const S = 0.5;
const epsilonConfig = schedulerConfig('DDPMScheduler', {});
const sde = vpSdeOfSchedule(epsilonConfig);
/** The variance of x(t) when x(0) ~ N(0, S²·I). */
const variance = (t: number) => {
  const { alpha, sigma } = sde.marginal(t);
  return alpha * alpha * S * S + sigma * sigma;
};
/** The exact ε̂ for that data, at timestep label τ = t·999. */
const exactEpsilon: ModelOutputFn = async (x, timestep) => {
  const t = timestep / 999;
  const { sigma } = sde.marginal(t);
  return x.map((v) => (sigma * v) / variance(t));
};
/** The same model predicting v = α·ε − σ·x₀ (with x₀ = (x − σ·ε)/α, so v = (ε − σ·x)/α). */
const exactVelocity: ModelOutputFn = async (x, timestep) => {
  const t = timestep / 999;
  const { alpha, sigma } = sde.marginal(t);
  const eps = await exactEpsilon(x, timestep);
  return eps.map((e, i) => (e - sigma * x[i]) / alpha);
};

/** Images on the 8-bit grid, a few of them. */
const images = Float32Array.from(new Random(1).normals(3 * DIM), (v) =>
  Math.max(-1, Math.min(1, Math.round((S * v + 1) * 127.5) / 127.5 - 1)),
);

/** The closed-form bits/dim of each image, dequantised as `bitsPerDimensionOf` does (seed 0). */
function closedForm(): number[] {
  const y = dequantize8Bit(eightBitValues(images), new Random(0));
  const v = variance(1e-3);
  return Array.from({ length: y.length / DIM }, (_, b) => {
    let ll = 0;
    for (let i = 0; i < DIM; i++) ll += -0.5 * Math.log(2 * Math.PI * v) - y[b * DIM + i] ** 2 / (2 * v);
    return bitsPerDim(ll, DIM);
  });
}

describe('bits/dim by the probability-flow ODE', () => {
  it('reads the linear DDPM schedule as the VP SDE with β from 0.1 to 20', () => {
    assert.deepEqual(sde.config, { kind: 'vp', betaMin: 0.1, betaMax: 20 });
    const cosine = schedulerConfig('DDPMScheduler', { betaSchedule: 'squaredcos_cap_v2' });
    assert.throws(() => vpSdeOfSchedule(cosine), UsageError);
  });

  it('rounds images in [−1, 1] to their 8-bit grid values', () => {
    assert.deepEqual([...eightBitValues(Float32Array.of(-1, 1, 0, -1.2, 4 / 255 - 1))], [0, 255, 128, 0, 2]);
  });

  it('equals the closed form for Gaussian data, with exact and Hutchinson traces, ε and v', async () => {
    const expected = closedForm();
    const settings = { tolerance: 1e-6 };
    const runs = [
      await bitsPerDimensionOf(exactEpsilon, epsilonConfig, images, DIM, { ...settings, estimator: 'exact' }),
      await bitsPerDimensionOf(exactEpsilon, epsilonConfig, images, DIM, settings),
      await bitsPerDimensionOf(
        exactVelocity,
        schedulerConfig('DDPMScheduler', { predictionType: 'v_prediction' }),
        images,
        DIM,
        settings,
      ),
    ];
    for (const run of runs) {
      assert.equal(run.numExamples, 3);
      assert.ok(run.odeSteps > 0 && run.nfe > run.odeSteps);
      run.perExample.forEach((bpd, i) =>
        assert.ok(Math.abs(bpd - expected[i]) < 2e-3, `${run.settings.estimator}: ${bpd} vs ${expected[i]}`),
      );
    }
    assert.equal(runs[0].settings.estimator, 'exact');
    assert.equal(runs[1].settings.estimator, 'hutchinson');
    const mean = expected.reduce((a, b) => a + b, 0) / expected.length;
    assert.ok(Math.abs(runs[1].bpd - mean) < 2e-3);
  });
});
