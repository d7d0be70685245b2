/**
 * Forward-process pictures, checked pixel by pixel: the t = 0 panel is the input, noisier panels are
 * seeded and drift from it, and the schedule plot's curve pixels sit where the formulas put them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alphasCumprod, betaSchedule, DEFAULT_BETA_SCHEDULE } from '../../src/diffusion/schedules.js';
import { tensorToImages } from '../../src/io/images.js';
import {
  ALPHA_COLOR,
  LOG_SNR_COLOR,
  alphaCumprodAfter,
  forwardStrip,
  plotColumn,
  plotRow,
  schedulePlot,
} from '../../src/pipelines/forward-illustration.js';
import { ConfigError, ShapeError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const image = {
  data: Float32Array.from({ length: 3 * 6 * 5 }, (_, k) => Math.sin(k) * 0.9),
  shape: [3, 6, 5],
};

function panel(strip: { width: number; data: Uint8Array }, index: number): Uint8Array {
  const out = new Uint8Array(5 * 6 * 4);
  const x0 = 2 + index * 7;
  for (let y = 0; y < 6; y++) {
    out.set(
      strip.data.subarray(((2 + y) * strip.width + x0) * 4, ((2 + y) * strip.width + x0 + 5) * 4),
      y * 20,
    );
  }
  return out;
}

test('forward strip: t = 0 panel equals the input, seeded noise, more noise further from it', () => {
  const timesteps = [0, 100, 500, 1000];
  const strip = forwardStrip(image, DEFAULT_BETA_SCHEDULE, timesteps, new Random(1));
  assert.deepEqual([strip.width, strip.height], [4 * 7 + 2, 6 + 4]);
  assert.deepEqual(panel(strip, 0), tensorToImages(image.data, image.shape)[0].data);
  const again = forwardStrip(image, DEFAULT_BETA_SCHEDULE, timesteps, new Random(1));
  assert.deepEqual(again.data, strip.data);
  const input = panel(strip, 0);
  const distance = (p: Uint8Array) => p.reduce((s, v, i) => s + Math.abs(v - input[i]), 0);
  assert.ok(distance(panel(strip, 1)) < distance(panel(strip, 3)));
  assert.throws(() => forwardStrip(image, DEFAULT_BETA_SCHEDULE, [1001], new Random(1)), ConfigError);
  assert.throws(
    () => forwardStrip({ data: image.data, shape: [90] }, DEFAULT_BETA_SCHEDULE, [0], new Random(1)),
    ShapeError,
  );
});

test('alphaCumprodAfter: 1 at t = 0, the diffusers table entry t − 1 after', () => {
  const alphas = alphasCumprod(betaSchedule(DEFAULT_BETA_SCHEDULE));
  assert.equal(alphaCumprodAfter(alphas, 0), 1);
  assert.equal(alphaCumprodAfter(alphas, 1), alphas[0]);
  assert.equal(alphaCumprodAfter(alphas, 1000), alphas[999]);
});

for (const name of ['linear', 'squaredcos_cap_v2'] as const) {
  test(`schedule plot (${name}): ᾱ and log-SNR pixels lie where the formulas say`, () => {
    const schedule = { ...DEFAULT_BETA_SCHEDULE, betaSchedule: name };
    const { image: plot, layout } = schedulePlot(schedule, { width: 300, height: 200 });
    assert.deepEqual([plot.width, plot.height], [300, 200]);
    const alphas = alphasCumprod(betaSchedule(schedule));
    const pixel = (x: number, y: number) =>
      Array.from(plot.data.subarray((y * 300 + x) * 4, (y * 300 + x) * 4 + 4));
    for (const t of [1, 100, 250, 500, 750, 1000]) {
      const a = alphas[t - 1];
      const x = plotColumn(layout, t);
      assert.deepEqual(pixel(x, plotRow(layout, a, [0, 1])), [...ALPHA_COLOR], `ᾱ at t=${t}`);
      const snrRow = plotRow(layout, Math.log(a / (1 - a)), layout.logSnrRange);
      if (Math.abs(snrRow - plotRow(layout, a, [0, 1])) > 1) {
        assert.deepEqual(pixel(x, snrRow), [...LOG_SNR_COLOR], `log-SNR at t=${t}`);
      }
    }
    // ᾱ starts near the top (ᾱ_1 ≈ 1) and ends near the bottom (ᾱ_T ≈ 0).
    assert.ok(plotRow(layout, alphas[0], [0, 1]) <= layout.margin + 1);
    assert.ok(plotRow(layout, alphas[999], [0, 1]) >= 200 - layout.margin - 2);
  });
}
