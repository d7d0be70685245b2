import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJson } from '../../src/io/json.js';
import {
  SCHEDULER_CLASS_NAMES,
  convertSchedulerConfig,
  expectSchedulerClass,
  formatSchedulerConfig,
  parseSchedulerConfig,
  schedulerConfig,
  withSchedulerFields,
} from '../../src/diffusion/scheduler-config.js';
import { readSchedulerConfig, writeSchedulerConfig } from '../../src/diffusion/scheduler-config-file.js';
import { ConfigError, DiffusionError, FormatError } from '../../src/util/errors.js';

const configsDir = new URL('../../../shared/reference/scheduler_configs/', import.meta.url).pathname;
const referenceFolders = readdirSync(configsDir).sort();

function referenceText(folder: string): string {
  return readFileSync(join(configsDir, folder, 'scheduler_config.json'), 'utf8');
}

function throwsConfigError(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    for (const fragment of fragments)
      assert.ok(error.message.includes(fragment), `'${fragment}' in: ${error.message}`);
    return true;
  });
}

test('the reference folder holds a config for every supported class but KDPM2 ancestral, CM and LCM', () => {
  const classes = new Set(
    referenceFolders.map((folder) => readSchedulerConfig(join(configsDir, folder)).className),
  );
  const missing = SCHEDULER_CLASS_NAMES.filter((name) => !classes.has(name));
  assert.deepEqual(missing, [
    'KDPM2AncestralDiscreteScheduler',
    'CMStochasticIterativeScheduler',
    'LCMScheduler',
  ]);
});

for (const folder of referenceFolders) {
  test(`${folder}: loads, round-trips and is written in diffusers' layout`, () => {
    const text = referenceText(folder);
    const config = readSchedulerConfig(join(configsDir, folder, 'scheduler_config.json'));
    assert.equal(config.diffusersVersion, '0.40.0.dev0');
    assert.deepEqual(config.extra, {});
    // The same values, key for key (including -Infinity), and the same text up to `1.0` written as `1`.
    const written = formatSchedulerConfig(config);
    assert.deepEqual(parseJson(written, 'written'), parseJson(text, 'reference'));
    assert.equal(written, text.replace(/(\d)\.0(,?)$/gm, '$1$2'));
    // write → read gives the same config.
    const dir = mkdtempSync(join(tmpdir(), 'scheduler-config-'));
    try {
      writeSchedulerConfig(join(dir, 'scheduler_config.json'), config);
      assert.deepEqual(readSchedulerConfig(dir), config);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const folder of referenceFolders.filter((f) => !f.endsWith('_sd_like'))) {
  test(`${folder}: diffusers' defaults are ours`, () => {
    const fromFile = readSchedulerConfig(join(configsDir, folder));
    assert.deepEqual(schedulerConfig(fromFile.className), fromFile);
  });
}

test('typed camelCase fields carry the values of the snake_case keys', () => {
  const ddim = expectSchedulerClass(readSchedulerConfig(join(configsDir, 'DDIMScheduler')), 'DDIMScheduler');
  assert.equal(ddim.setAlphaToOne, true);
  assert.equal(ddim.clipSample, true);
  assert.equal(ddim.timestepSpacing, 'leading');
  assert.equal(ddim.numTrainTimesteps, 1000);
  const sd = expectSchedulerClass(
    readSchedulerConfig(join(configsDir, 'PNDMScheduler_sd_like')),
    'PNDMScheduler',
  );
  assert.equal(sd.betaSchedule, 'scaled_linear');
  assert.equal(sd.stepsOffset, 1);
  assert.equal(sd.skipPrkSteps, true);
  const dpm = expectSchedulerClass(
    readSchedulerConfig(join(configsDir, 'DPMSolverMultistepScheduler')),
    'DPMSolverMultistepScheduler',
  );
  assert.equal(dpm.lambdaMinClipped, -Infinity);
  assert.equal(dpm.varianceType, null);
});

test('Infinity, -Infinity and NaN literals are read and written back as literals', () => {
  const config = parseSchedulerConfig(
    '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "my_key": NaN, "other": Infinity}',
  );
  const dpm = expectSchedulerClass(config, 'DPMSolverMultistepScheduler');
  assert.equal(dpm.lambdaMinClipped, -Infinity);
  assert.ok(Number.isNaN(config.extra.my_key));
  const text = formatSchedulerConfig(config);
  assert.match(text, /"lambda_min_clipped": -Infinity,/);
  assert.match(text, /"my_key": NaN,/);
  assert.match(text, /"other": Infinity,/);
  assert.deepEqual(parseSchedulerConfig(text), config);
});

test('keys a class does not use are kept and written back (as in real Stable Diffusion configs)', () => {
  const text = JSON.stringify({
    _class_name: 'PNDMScheduler',
    _diffusers_version: '0.6.0',
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    beta_end: 0.012,
    clip_sample: false,
    skip_prk_steps: true,
    steps_offset: 1,
  });
  const config = parseSchedulerConfig(text);
  assert.deepEqual(config.extra, { clip_sample: false });
  assert.equal(config.diffusersVersion, '0.6.0');
  assert.match(formatSchedulerConfig(config), /"clip_sample": false,/);
});

test('unknown _class_name is a ConfigError that lists the valid classes', () => {
  throwsConfigError(
    () => parseSchedulerConfig('{"_class_name": "TCDScheduler"}'),
    "'TCDScheduler'",
    ...SCHEDULER_CLASS_NAMES,
  );
  throwsConfigError(() => parseSchedulerConfig('{"beta_start": 0.1}'), 'no _class_name', 'DDIMScheduler');
});

test('invalid values are ConfigErrors that name the key and the reason', () => {
  const parse = (fields: Record<string, unknown>, className = 'EulerDiscreteScheduler') =>
    parseSchedulerConfig(JSON.stringify({ _class_name: className, ...fields }));
  throwsConfigError(
    () => parse({ sigma_min: 5, sigma_max: 2 }),
    'sigma_min (5) must be smaller than sigma_max (2)',
  );
  throwsConfigError(
    () => parse({ beta_schedule: 'cubic' }),
    "'beta_schedule'",
    'scaled_linear',
    'squaredcos_cap_v2',
  );
  throwsConfigError(
    () => parse({ timestep_spacing: 'even' }),
    "'timestep_spacing'",
    'linspace',
    'leading',
    'trailing',
  );
  throwsConfigError(
    () => parse({ prediction_type: 'noise' }),
    "'prediction_type'",
    'epsilon',
    'v_prediction',
  );
  throwsConfigError(() => parse({ prediction_type: 'sample' }, 'PNDMScheduler'), "'prediction_type'");
  throwsConfigError(() => parse({ num_train_timesteps: 0 }), "'num_train_timesteps'");
  throwsConfigError(() => parse({ beta_end: 1.5 }), "'beta_end'");
  throwsConfigError(() => parse({ steps_offset: -1 }, 'DDIMScheduler'), "'steps_offset'");
  throwsConfigError(() => parse({ clip_sample: 'yes' }, 'DDPMScheduler'), "'clip_sample'");
  throwsConfigError(
    () => parse({ variance_type: 'huge' }, 'DDPMScheduler'),
    "'variance_type'",
    'fixed_small',
  );
  throwsConfigError(() => parse({ use_karras_sigmas: true, use_beta_sigmas: true }), 'only one of');
  throwsConfigError(
    () => parse({ trained_betas: [0.1, 0.2], num_train_timesteps: 3 }),
    'trained_betas has 2 values',
  );
  throwsConfigError(() => parse({ steps_offset: 1000 }, 'DDIMScheduler'), 'steps_offset (1000)');
  throwsConfigError(() => parse({ solver_order: 4 }, 'DPMSolverMultistepScheduler'), "'solver_order'");
  throwsConfigError(
    () => parse({ algorithm_type: 'dpmsolver' }, 'DPMSolverMultistepScheduler'),
    "final_sigmas_type 'zero' is not supported",
  );
});

test('malformed files are FormatErrors; missing files name the path', () => {
  assert.throws(() => parseSchedulerConfig('{"_class_name": "DDIMScheduler",'), FormatError);
  assert.throws(() => parseSchedulerConfig('[1, 2]'), FormatError);
  assert.throws(
    () => readSchedulerConfig('/nonexistent/scheduler'),
    (e: unknown) => e instanceof DiffusionError && e.message.includes('/nonexistent/scheduler'),
  );
});

test('schedulerConfig fills defaults, validates fields and refuses unknown names', () => {
  const euler = schedulerConfig('EulerDiscreteScheduler', { useKarrasSigmas: true, sigmaMin: 0.1 });
  assert.equal(euler.useKarrasSigmas, true);
  assert.equal(euler.sigmaMin, 0.1);
  assert.equal(euler.betaSchedule, 'linear');
  throwsConfigError(
    () => schedulerConfig('DDIMScheduler', { etaa: 1 } as never),
    "no setting 'etaa'",
    'setAlphaToOne',
  );
  throwsConfigError(
    () => schedulerConfig('EulerDiscreteScheduler', { sigmaMin: 3, sigmaMax: 1 }),
    'sigma_min',
  );
  throwsConfigError(() => schedulerConfig('NoScheduler' as never), 'NoScheduler');
  assert.equal(withSchedulerFields(euler, { predictionType: 'v_prediction' }).predictionType, 'v_prediction');
});

test("converting between classes keeps the shared keys, as diffusers' from_config", () => {
  const sd = readSchedulerConfig(join(configsDir, 'PNDMScheduler_sd_like'));
  const euler = convertSchedulerConfig(sd, 'EulerDiscreteScheduler');
  assert.equal(euler.className, 'EulerDiscreteScheduler');
  assert.equal(euler.betaSchedule, 'scaled_linear');
  assert.equal(euler.betaStart, 0.00085);
  assert.equal(euler.stepsOffset, 1);
  assert.equal(euler.timestepSpacing, 'leading');
  assert.equal(euler.useKarrasSigmas, false);
  assert.ok(!('skipPrkSteps' in euler));
  assert.ok(!formatSchedulerConfig(euler).includes('skip_prk_steps'));
  throwsConfigError(() => expectSchedulerClass(euler, 'DDIMScheduler'), 'expected a DDIMScheduler config');
});

test('converting drops shared keys whose value the target class does not accept, as diffusers ignores them', () => {
  const ddpm = schedulerConfig('DDPMScheduler', {
    betaSchedule: 'squaredcos_cap_v2',
    varianceType: 'fixed_small',
  });
  const dpm = convertSchedulerConfig(ddpm, 'DPMSolverMultistepScheduler');
  assert.equal(dpm.varianceType, null);
  assert.equal(dpm.betaSchedule, 'squaredcos_cap_v2');
  const learned = convertSchedulerConfig(
    schedulerConfig('DDPMScheduler', { varianceType: 'learned_range' }),
    'DPMSolverMultistepScheduler',
  );
  assert.equal(learned.varianceType, 'learned_range');
});
