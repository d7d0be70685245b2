/** PSNR and SSIM against values worked out by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanSquaredError, psnr, ssim } from '../../src/metrics/image.js';
import { ShapeError, UsageError } from '../../src/util/errors.js';

test('PSNR of identical images is +∞; of a known MSE it is 10·log10(L²/MSE)', () => {
  const a = Float32Array.from([0.5, -0.5, 0.25, 1]);
  assert.equal(psnr(a, a), Infinity);
  // Every value off by 0.1: MSE = 0.01, so PSNR = 10·log10(4 / 0.01) = 10·log10(400) ≈ 26.0206 dB.
  const b = a.map((v) => v + 0.1);
  assert.ok(Math.abs(meanSquaredError(a, b) - 0.01) < 1e-7);
  assert.ok(Math.abs(psnr(a, b) - 26.0206) < 1e-3);
  // Bytes: MSE 1 with L = 255 → 20·log10(255) ≈ 48.1308 dB.
  assert.ok(Math.abs(psnr([0, 10], [1, 11], 255) - 48.1308) < 1e-4);
  assert.throws(() => psnr([0], [0, 1]), ShapeError);
  assert.throws(() => psnr([0], [1], 0), UsageError);
});

test('SSIM: 1 for identical images; the luminance term alone for two constant images', () => {
  const shape = [1, 12, 12];
  const ramp = Float64Array.from({ length: 144 }, (_, k) => Math.sin(k / 7) * 0.8);
  assert.ok(Math.abs(ssim(ramp, ramp, shape) - 1) < 1e-12);
  // Constants 0.5 and 0.25 (L = 2, C₁ = 0.0004, variances 0): SSIM = (2·0.125 + C₁)/(0.25 + 0.0625 + C₁).
  const expected = (2 * 0.125 + 0.0004) / (0.25 + 0.0625 + 0.0004);
  const got = ssim(new Float64Array(144).fill(0.5), new Float64Array(144).fill(0.25), shape);
  assert.ok(Math.abs(got - expected) < 1e-12, `${got} vs ${expected}`);
  // Negated structure: mean 0 and equal variance v, covariance −v: (C₁)(−2v + C₂)/((C₁)(2v + C₂)) < 0.
  assert.ok(
    ssim(
      ramp,
      ramp.map((v) => -v),
      shape,
    ) < 0,
  );
  assert.throws(() => ssim(new Float64Array(25), new Float64Array(25), [5, 5]), ShapeError);
});
