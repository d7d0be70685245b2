// Sampler parity with diffusers: every case in ../shared/reference/samplers.json whose scheduler class has
// a registered sampler is replayed with the same fake model and the recorded noise, and must give the same
// call timesteps, σ levels, model inputs and every intermediate sample (within 1e-4 of max |reference|).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getFloatTensor, readSafetensorsFile } from '../../src/io/safetensors.js';
import {
  camelCaseKey,
  parseSchedulerConfig,
  type SchedulerConfig,
} from '../../src/diffusion/scheduler-config.js';
import { samplerForClass } from '../../src/diffusion/samplers/registry.js';
import { sigmaSchedule, type SigmaScheduleConfig } from '../../src/diffusion/timesteps.js';
import type { StepInfo } from '../../src/diffusion/samplers/types.js';

const referenceDir = new URL('../../../shared/reference/', import.meta.url);
const reference = JSON.parse(readFileSync(new URL('samplers.json', referenceDir), 'utf8')) as {
  cases: ReferenceCase[];
};
const tensors = readSafetensorsFile(new URL('samplers.safetensors', referenceDir).pathname);

interface ReferenceCase {
  id: string;
  name: string;
  num_inference_steps: number;
  config_json: string;
  step_kwargs: Record<string, unknown>;
  timesteps: number[];
  timesteps_dtype: string;
  sigmas?: number[];
  init_noise_sigma: number;
  num_model_calls: number;
  scale_model_input_is_identity: boolean;
  noise_draw_call_index: number[];
}

/** Cases the samplers of this project must reproduce; a missing registration fails, never skips. */
const REQUIRED = [
  'ddpm_eps_fixed_small',
  'ddpm_eps_fixed_large',
  'ddpm_v_fixed_small',
  'ddim_eta0',
  'ddim_eta1',
  'pndm_plms',
  'euler',
  'euler_ancestral',
  'heun',
  'lms',
  'kdpm2',
  'dpmpp_2m',
  'sde_dpmpp_2m',
  'dpm_singlestep',
  'unipc',
  'deis',
];
/** Classes whose σ schedule comes from `sigmaSchedule` (the multistep solvers build their own grid). */
const SIGMA_SPACE = new Set([
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'HeunDiscreteScheduler',
  'LMSDiscreteScheduler',
  'KDPM2DiscreteScheduler',
  'KDPM2AncestralDiscreteScheduler',
]);
const TOLERANCE = 1e-4;

const x = getFloatTensor(tensors, 'x').data;

function tensorOrNull(name: string): Float32Array | null {
  return tensors.tensors.has(name) ? getFloatTensor(tensors, name).data : null;
}

/** max |a − b| / max |b| over one slice of the batch. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0;
  let error = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    error = Math.max(error, Math.abs(actual[i] - expected[i]));
  }
  return error / Math.max(scale, 1e-12);
}

/** Consecutive duplicates removed: diffusers' interleaved σ lists of 2nd-order samplers → σ_0 … σ_N. */
function distinctRuns(values: number[]): number[] {
  return values.filter((v, i) => i === 0 || v !== values[i - 1]);
}

test('every reference case is required', () => {
  const names = reference.cases.map((c) => c.name).sort();
  assert.deepEqual(names, [...REQUIRED].sort());
});

for (const referenceCase of reference.cases) {
  const config = parseSchedulerConfig(referenceCase.config_json, referenceCase.id);
  const entry = samplerForClass(config.className);
  test(`${referenceCase.id} matches diffusers`, async () => {
    assert.ok(entry, `${config.className} must be registered for ${referenceCase.name}`);
    await checkCase(referenceCase, config);
  });
}

async function checkCase(c: ReferenceCase, config: SchedulerConfig): Promise<void> {
  const n = x.length;
  const samples = getFloatTensor(tensors, `${c.id}/samples`).data;
  const inputs = tensorOrNull(`${c.id}/model_inputs`);
  const initSample = getFloatTensor(tensors, `${c.id}/init_sample`).data;
  const noise = tensorOrNull(`${c.id}/noise`);
  const calls: { timestep: number; input: Float32Array }[] = [];
  const steps: StepInfo[] = [];
  let draws = 0;
  const request = {
    noise: x,
    numInferenceSteps: c.num_inference_steps,
    batchSize: 2,
    model: async (input: Float32Array, timestep: number) => {
      calls.push({ timestep, input });
      const shift = Math.fround((0.01 * timestep) / 1000);
      return input.map((v) => 0.5 * Math.tanh(v) + shift);
    },
    noiseSource: {
      normal(count: number): Float32Array {
        const k = draws++;
        assert.ok(noise && k < c.noise_draw_call_index.length, `unexpected noise draw ${k}`);
        assert.equal(count, n);
        assert.equal(
          calls.length - 1,
          c.noise_draw_call_index[k],
          `noise draw ${k} happens at the wrong call`,
        );
        return noise.slice(k * n, (k + 1) * n);
      },
    },
    callback: (info: StepInfo) => {
      steps.push(info);
    },
  };
  const options = Object.fromEntries(Object.entries(c.step_kwargs).map(([k, v]) => [camelCaseKey(k), v]));
  const entry = samplerForClass(config.className)!;
  const final = await entry.run(request, config, options);

  assert.equal(calls.length, c.num_model_calls, 'number of model calls');
  assert.equal(steps.length, c.num_model_calls, 'one callback per model call');
  assert.equal(draws, c.noise_draw_call_index.length, 'number of noise draws');
  for (let k = 0; k < calls.length; k++) {
    const tolerance = c.timesteps_dtype === 'int64' ? 0 : 1e-3;
    assert.ok(
      Math.abs(calls[k].timestep - c.timesteps[k]) <= tolerance,
      `call ${k}: timestep ${calls[k].timestep} vs ${c.timesteps[k]}`,
    );
    assert.equal(steps[k].step, k);
    assert.equal(steps[k].numSteps, c.num_model_calls);
  }
  if (SIGMA_SPACE.has(config.className)) {
    const schedule = sigmaSchedule(config as unknown as SigmaScheduleConfig, c.num_inference_steps);
    assert.ok(Math.abs(schedule.initNoiseSigma - c.init_noise_sigma) <= 1e-6 * c.init_noise_sigma);
    const expected = distinctRuns(c.sigmas!);
    assert.equal(schedule.sigmas.length, expected.length, 'number of σ levels');
    assert.ok(relativeError(schedule.sigmas, expected) <= 1e-6, 'σ levels');
  }
  // What the network saw: the recorded scaled inputs, or (identity scaling) the previous sample.
  for (let k = 0; k < calls.length; k++) {
    const previous = k === 0 ? initSample : samples.subarray((k - 1) * n, k * n);
    const expected = inputs ? inputs.subarray(k * n, (k + 1) * n) : previous;
    const error = relativeError(calls[k].input, expected);
    assert.ok(
      error <= TOLERANCE,
      `call ${k}: model input off by ${error.toExponential(2)} of max |reference|`,
    );
  }
  for (let k = 0; k < steps.length; k++) {
    const error = relativeError(steps[k].sample, samples.subarray(k * n, (k + 1) * n));
    assert.ok(error <= TOLERANCE, `step ${k}: sample off by ${error.toExponential(2)} of max |reference|`);
  }
  assert.deepEqual(final, steps[steps.length - 1].sample);
}
