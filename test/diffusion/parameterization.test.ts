import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  conversionCoefficients,
  convertPrediction,
  edmDenoised,
  edmPreconditioning,
  PREDICTION_KINDS,
  type PredictionKind,
} from '../../src/diffusion/parameterization.js';
import {
  noiseLevelFromAlphaCumprod,
  noiseLevelFromSigma,
  type NoiseLevel,
} from '../../src/diffusion/noise-levels.js';
import { Random } from '../../src/util/random.js';
import { NumericError, NotFoundError } from '../../src/util/errors.js';

/** Ground truth for x_t = α x₀ + σ ε: every parameterisation written out from its definition. */
function truth(x0: Float64Array, eps: Float64Array, { alpha, sigma }: NoiseLevel) {
  const xt = x0.map((x, i) => alpha * x + sigma * eps[i]);
  return {
    xt,
    byKind: {
      epsilon: eps,
      sample: x0,
      v_prediction: x0.map((x, i) => alpha * eps[i] - sigma * x),
      score: eps.map((e) => -e / sigma),
    } as Record<PredictionKind, Float64Array>,
  };
}

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  what: string,
) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

const LEVELS: Record<string, NoiseLevel> = {
  'VP ᾱ=0.999': noiseLevelFromAlphaCumprod(0.999),
  'VP ᾱ=0.5': noiseLevelFromAlphaCumprod(0.5),
  'VP ᾱ=0.004': noiseLevelFromAlphaCumprod(0.004),
  'VE σ=0.02': noiseLevelFromSigma(0.02),
  'VE σ=80': noiseLevelFromSigma(80),
  'scaled α=0.3, σ=2': { alpha: 0.3, sigma: 2 },
};

test('every conversion between ε, x₀, v and score recovers the true quantity', () => {
  const rng = new Random(3);
  const x0 = rng.fillNormal(new Float64Array(16));
  const eps = rng.fillNormal(new Float64Array(16));
  for (const [name, level] of Object.entries(LEVELS)) {
    const { xt, byKind } = truth(x0, eps, level);
    for (const from of PREDICTION_KINDS) {
      for (const to of PREDICTION_KINDS) {
        const converted = convertPrediction(byKind[from], xt, from, to, level);
        // v is defined as α ε − σ x₀ for every level here; x₀ recovery divides by α² + σ².
        assertClose(converted, byKind[to], 1e-9, `${name}: ${from} → ${to}`);
      }
    }
  }
});

test('conversions round-trip and compose', () => {
  const level = noiseLevelFromAlphaCumprod(0.3);
  for (const a of PREDICTION_KINDS) {
    for (const b of PREDICTION_KINDS) {
      const ab = conversionCoefficients(a, b, level);
      const ba = conversionCoefficients(b, a, level);
      // Composition a → b → a is the identity: prediction coefficient 1, sample coefficient 0.
      assert.ok(Math.abs(ba.prediction * ab.prediction - 1) < 1e-12, `${a}→${b}→${a} scale`);
      assert.ok(Math.abs(ba.sample + ba.prediction * ab.sample) < 1e-12, `${a}→${b}→${a} offset`);
    }
  }
});

test('known textbook forms: x₀ from ε and v at ᾱ = 0.36', () => {
  const level = noiseLevelFromAlphaCumprod(0.36); // α = 0.6, σ = 0.8
  const fromEps = conversionCoefficients('epsilon', 'sample', level);
  assert.ok(Math.abs(fromEps.sample - 1 / 0.6) < 1e-12 && Math.abs(fromEps.prediction + 0.8 / 0.6) < 1e-12);
  const fromV = conversionCoefficients('v_prediction', 'sample', level);
  assert.ok(Math.abs(fromV.sample - 0.6) < 1e-12 && Math.abs(fromV.prediction + 0.8) < 1e-12);
  const vToEps = conversionCoefficients('v_prediction', 'epsilon', level);
  assert.ok(Math.abs(vToEps.sample - 0.8) < 1e-12 && Math.abs(vToEps.prediction - 0.6) < 1e-12);
});

test('per-element noise levels apply to their own batch block, keeping the float type', () => {
  const levels = [noiseLevelFromAlphaCumprod(0.9), noiseLevelFromAlphaCumprod(0.1)];
  const xt = Float32Array.of(1, 1, 1, 1);
  const eps = Float32Array.of(0.5, 0.5, 0.5, 0.5);
  const x0 = convertPrediction(eps, xt, 'epsilon', 'sample', levels);
  assert.ok(x0 instanceof Float32Array);
  const expected = levels.map(({ alpha, sigma }) => (1 - sigma * 0.5) / alpha);
  assertClose(x0, [expected[0], expected[0], expected[1], expected[1]], 1e-6, 'x0');
});

test('impossible conversions and unknown kinds raise typed errors', () => {
  const clean = { alpha: 1, sigma: 0 };
  assert.throws(() => conversionCoefficients('sample', 'epsilon', clean), NumericError);
  const pureNoise = { alpha: 0, sigma: 1 }; // zero terminal SNR
  assert.throws(() => conversionCoefficients('epsilon', 'sample', pureNoise), NumericError);
  // v → x₀ still exists at zero SNR: that is why ZTSNR schedules need v-prediction.
  assert.deepEqual(conversionCoefficients('v_prediction', 'sample', pureNoise), {
    sample: 0,
    prediction: -1,
  });
  assert.throws(() => conversionCoefficients('noise' as never, 'sample', clean), NotFoundError);
});

test('EDM preconditioning matches Table 1 of Karras et al. 2022', () => {
  // σ = σ_data = 0.5: c_skip = 1/2, c_out = 0.5·0.5/√0.5, c_in = 1/√0.5, c_noise = ln(0.5)/4.
  const p = edmPreconditioning(0.5, 0.5);
  assert.ok(Math.abs(p.cSkip - 0.5) < 1e-15);
  assert.ok(Math.abs(p.cOut - 0.25 / Math.SQRT1_2) < 1e-15);
  assert.ok(Math.abs(p.cIn - 1 / Math.SQRT1_2) < 1e-15);
  assert.ok(Math.abs(p.cNoise - Math.log(0.5) / 4) < 1e-15);
  // σ = 80, σ_data = 0.5 (EDM's σ_max), hand-computed.
  const high = edmPreconditioning(80);
  assert.ok(Math.abs(high.cSkip - 0.25 / 6400.25) < 1e-15);
  assert.ok(Math.abs(high.cOut - 40 / Math.sqrt(6400.25)) < 1e-12);
  assert.ok(Math.abs(high.cIn - 1 / Math.sqrt(6400.25)) < 1e-15);
  assert.ok(Math.abs(high.cNoise - Math.log(80) / 4) < 1e-15);
  // The design rules of §B.6: unit-variance input and effective training target at every σ.
  for (const sigma of [0.002, 0.1, 1, 10, 80]) {
    const { cSkip, cOut, cIn } = edmPreconditioning(sigma, 0.5);
    assert.ok(Math.abs(cIn * cIn * (0.25 + sigma * sigma) - 1) < 1e-12, 'Var[c_in x] = 1');
    // Var[(y − c_skip (y + n)) / c_out] = ((1 − c_skip)² σ_data² + c_skip² σ²) / c_out² = 1.
    const targetVariance = ((1 - cSkip) ** 2 * 0.25 + cSkip ** 2 * sigma * sigma) / (cOut * cOut);
    assert.ok(Math.abs(targetVariance - 1) < 1e-9, `target variance at σ=${sigma}`);
  }
});

test('EDM denoiser D = c_skip x + c_out F, per batch element', () => {
  const noisy = Float64Array.of(1, 2, 3, 4);
  const network = Float64Array.of(-1, 0, 1, 2);
  const out = edmDenoised(network, noisy, [0.5, 2]);
  const a = edmPreconditioning(0.5);
  const b = edmPreconditioning(2);
  assertClose(
    out,
    [a.cSkip * 1 - a.cOut, a.cSkip * 2, b.cSkip * 3 + b.cOut, b.cSkip * 4 + 2 * b.cOut],
    1e-15,
    'D',
  );
  assert.throws(() => edmPreconditioning(0), /sigma/);
});
