import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { alphasCumprod, betaSchedule, BETA_SCHEDULES } from '../../src/diffusion/schedules.js';
import { DiffusionError } from '../../src/util/errors.js';

const reference = JSON.parse(
  readFileSync(new URL('../../../shared/reference/schedules.json', import.meta.url), 'utf8'),
);

for (const name of ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const) {
  test(`${name} betas and alphas_cumprod match diffusers`, () => {
    const betas = betaSchedule({
      betaSchedule: name,
      numTrainTimesteps: 1000,
      betaStart: name === 'linear' ? 1e-4 : 0.00085,
      betaEnd: name === 'linear' ? 0.02 : 0.012,
    });
    const expected = reference.schedules?.[name] ?? reference[name];
    const cumprod = alphasCumprod(betas);
    for (let i = 0; i < 1000; i++) {
      assert.ok(
        Math.abs(betas[i] - expected.betas[i]) <= 1e-7 * Math.max(1, Math.abs(expected.betas[i])),
        `beta ${i}`,
      );
      assert.ok(
        Math.abs(cumprod[i] - expected.alphas_cumprod[i]) <= 2e-6,
        `alphas_cumprod ${i}: ${cumprod[i]} vs ${expected.alphas_cumprod[i]}`,
      );
    }
  });
}

test('sigmoid schedule rises monotonically from beta_start to beta_end', () => {
  const betas = betaSchedule({
    betaSchedule: 'sigmoid',
    numTrainTimesteps: 100,
    betaStart: 1e-4,
    betaEnd: 0.02,
  });
  for (let i = 1; i < 100; i++) assert.ok(betas[i] > betas[i - 1]);
  assert.ok(betas[0] > 1e-4 && betas[99] < 0.02);
});

test('unknown schedule names list the valid ones', () => {
  assert.throws(
    () => betaSchedule({ betaSchedule: 'cubic' as never, numTrainTimesteps: 10, betaStart: 0, betaEnd: 1 }),
    (e: unknown) => e instanceof DiffusionError && BETA_SCHEDULES.every((n) => e.message.includes(n)),
  );
});
