/**
 * diffusers' `scheduler_config.json`, read and written. A file names its scheduler class
 * (`_class_name`) and holds that class's constructor arguments in snake_case; this module turns it into a
 * typed camelCase config per class, with diffusers' defaults for every missing key, and back into a file
 * diffusers loads (same class name, same snake_case keys, `NaN`/`Infinity` literals as Python writes them).
 * Values are validated here, at the boundary, so samplers can trust what they are given: an unknown class,
 * an unknown enum value or an impossible combination is a ConfigError naming the key and the fix. Keys a
 * class does not know are kept aside (`extra`) and written back unchanged, as diffusers tolerates them.
 * This module only describes configs: it builds no schedule and runs no sampler, and it must not import
 * node: modules (samplers use it in the browser); reading and writing the file is scheduler-config-file.ts.
 */
import { z } from 'zod';
import { ConfigError, FormatError } from '../util/errors.js';
import { parseJson, stringifyJson, type JsonValue } from '../io/json-text.js';
import { BETA_SCHEDULES } from './schedules.js';

/** The diffusers release whose scheduler files this module mirrors; written into new files. */
export const DIFFUSERS_VERSION = '0.40.0.dev0';

export const TIMESTEP_SPACINGS = ['linspace', 'leading', 'trailing'] as const;
export const VARIANCE_TYPES = [
  'fixed_small',
  'fixed_small_log',
  'fixed_large',
  'fixed_large_log',
  'learned',
  'learned_range',
] as const;
const PREDICTIONS = ['epsilon', 'sample', 'v_prediction'] as const;
const FLOW_PREDICTIONS = [...PREDICTIONS, 'flow_prediction'] as const;

/** A number that may be ±Infinity (zod's `number` refuses infinities; diffusers writes them). */
const extendedNumber = z.custom<number>((v) => typeof v === 'number' && !Number.isNaN(v), {
  message: 'expected a number (Infinity and -Infinity are allowed)',
});

/** The training noise schedule (β_t, hence ᾱ_t and σ_t) every class is built on. */
const trainingFields = (betaStart: number, betaEnd: number) => ({
  /** T: how many discrete noise levels the network was trained on. */
  /** Capped so a hostile config cannot make the schedule arrays (8 bytes × T each) allocate gigabytes. */
  num_train_timesteps: z.number().int().min(2).max(1_000_000).default(1000),
  /** β at t = 0 and at t = T − 1 (ignored by `squaredcos_cap_v2`). */
  beta_start: z.number().min(0).lt(1).default(betaStart),
  beta_end: z.number().min(0).lt(1).default(betaEnd),
  /** How β grows from `beta_start` to `beta_end`. */
  beta_schedule: z.enum(BETA_SCHEDULES).default('linear'),
  /** Explicit β_t (T values); overrides the three keys above. */
  trained_betas: z.array(z.number().min(0).max(1)).nullable().default(null),
});

/** What the network predicts: noise ε, the clean sample x₀ ("sample") or v = √ᾱ ε − √(1−ᾱ) x₀. */
const predictionField = <T extends readonly [string, ...string[]]>(choices: T) => ({
  prediction_type: z.enum(choices).default('epsilon' as T[number]),
});

/** Which training timesteps the N inference steps use, and a constant added to them ("leading" only). */
const spacingFields = (spacing: (typeof TIMESTEP_SPACINGS)[number]) => ({
  timestep_spacing: z.enum(TIMESTEP_SPACINGS).default(spacing),
  steps_offset: z.number().int().min(0).default(0),
});

/** Lin et al. 2024: rescale β so the last timestep has zero SNR (pure noise). */
const zeroSnrField = { rescale_betas_zero_snr: z.boolean().default(false) };

const thresholdingFields = {
  /** Per example, clamp x₀ to ±s, s = the `dynamic_thresholding_ratio` quantile of |x₀| within [1, sample_max_value], then divide by s. */
  thresholding: z.boolean().default(false),
  dynamic_thresholding_ratio: z.number().gt(0).max(1).default(0.995),
  sample_max_value: z.number().positive().default(1.0),
};

/** A hard clip of the predicted x₀, or Imagen's dynamic thresholding (Saharia et al. 2022). */
const x0LimitFields = (clipSample: boolean) => ({
  /** Clamp x₀ to ±clip_sample_range (ignored when `thresholding` is on). */
  clip_sample: z.boolean().default(clipSample),
  clip_sample_range: z.number().positive().default(1.0),
  ...thresholdingFields,
});

/** How the σ levels of the inference steps are chosen, when not interpolated from the training table. */
const sigmaFlagFields = {
  /** Karras et al. 2022 (ρ = 7) between the first and last interpolated σ. */
  use_karras_sigmas: z.boolean().default(false),
  /** σ uniform in log σ. */
  use_exponential_sigmas: z.boolean().default(false),
  /** σ at the quantiles of a Beta(0.6, 0.6) distribution (Lee et al. 2024). */
  use_beta_sigmas: z.boolean().default(false),
};
/** Explicit σ range for the Karras / exponential / Beta spacings (null: from the training table). */
const sigmaRangeFields = {
  sigma_min: z.number().positive().nullable().default(null),
  sigma_max: z.number().positive().nullable().default(null),
};
/** The σ the last step lands on: 0 (a clean sample) or the smallest training σ. */
const finalSigmasField = { final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero') };

/** Keys the multistep solvers share (DPM-Solver, UniPC, DEIS). */
const multistepFields = {
  /** Order of the multistep / singlestep update (1–3). */
  solver_order: z.number().int().min(1).max(3).default(2),
  /** Use lower orders for the last steps, which stabilises runs with fewer than 15 steps. */
  lower_order_final: z.boolean().default(true),
  /** Flow-matching σ (σ = shift·t / (1 + (shift − 1)·t)) and the shift, for flow models. */
  use_flow_sigmas: z.boolean().default(false),
  flow_shift: z.number().positive().default(1.0),
  /** Resolution-dependent timestep shifting (flow models; needs `mu` at sampling time). */
  use_dynamic_shifting: z.boolean().default(false),
  time_shift_type: z.enum(['exponential', 'linear']).default('exponential'),
};

/** Every supported class with its keys and diffusers' defaults (diffusers 0.40's `__init__` signatures). */
const CLASS_SCHEMAS = {
  DDPMScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(PREDICTIONS),
    ...spacingFields('leading'),
    ...zeroSnrField,
    ...x0LimitFields(true),
    /** Variance of the reverse step: β̃ (fixed_small), β (fixed_large) or learned from the output. */
    variance_type: z.enum(VARIANCE_TYPES).default('fixed_small'),
  }),
  DDIMScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(PREDICTIONS),
    ...spacingFields('leading'),
    ...zeroSnrField,
    ...x0LimitFields(true),
    /** ᾱ used after the last step: 1 (a clean sample) or ᾱ_0. */
    set_alpha_to_one: z.boolean().default(true),
  }),
  PNDMScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(['epsilon', 'v_prediction'] as const),
    ...spacingFields('leading'),
    /** Skip the Runge–Kutta warm-up and run PLMS from the first step (Stable Diffusion's choice). */
    skip_prk_steps: z.boolean().default(false),
    set_alpha_to_one: z.boolean().default(false),
  }),
  EulerDiscreteScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(PREDICTIONS),
    ...spacingFields('linspace'),
    ...zeroSnrField,
    ...sigmaFlagFields,
    ...sigmaRangeFields,
    ...finalSigmasField,
    /** σ between training timesteps: linear in t, or log-linear in σ from σ_max to σ_min. */
    interpolation_type: z.enum(['linear', 'log_linear']).default('linear'),
    /** Condition the network on the discrete t, or on EDM's c_noise = ln(σ)/4 (v_prediction only). */
    timestep_type: z.enum(['discrete', 'continuous']).default('discrete'),
  }),
  EulerAncestralDiscreteScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(PREDICTIONS),
    ...spacingFields('linspace'),
    ...zeroSnrField,
  }),
  HeunDiscreteScheduler: z.object({
    ...trainingFields(0.00085, 0.012),
    ...predictionField(PREDICTIONS),
    ...spacingFields('linspace'),
    ...sigmaFlagFields,
    clip_sample: z.boolean().default(false),
    clip_sample_range: z.number().positive().default(1.0),
  }),
  LMSDiscreteScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(PREDICTIONS),
    ...spacingFields('linspace'),
    ...sigmaFlagFields,
  }),
  KDPM2DiscreteScheduler: z.object({
    ...trainingFields(0.00085, 0.012),
    ...predictionField(PREDICTIONS),
    ...spacingFields('linspace'),
    ...sigmaFlagFields,
  }),
  KDPM2AncestralDiscreteScheduler: z.object({
    ...trainingFields(0.00085, 0.012),
    ...predictionField(PREDICTIONS),
    ...spacingFields('linspace'),
    ...sigmaFlagFields,
  }),
  DPMSolverMultistepScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(FLOW_PREDICTIONS),
    ...spacingFields('linspace'),
    ...zeroSnrField,
    ...thresholdingFields,
    ...sigmaFlagFields,
    ...finalSigmasField,
    ...multistepFields,
    algorithm_type: z
      .enum(['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++'])
      .default('dpmsolver++'),
    solver_type: z.enum(['midpoint', 'heun']).default('midpoint'),
    /** Take a plain Euler step at the end instead of a higher-order one. */
    euler_at_final: z.boolean().default(false),
    /** Uniform steps in log-SNR λ (Lu et al. 2022) instead of in t. */
    use_lu_lambdas: z.boolean().default(false),
    /** Clip λ from below for numerical stability (cosine schedules). */
    lambda_min_clipped: extendedNumber.default(-Infinity),
    /** Set to "learned"/"learned_range" when the model also predicts a variance (output channels doubled). */
    variance_type: z.enum(['learned', 'learned_range']).nullable().default(null),
  }),
  DPMSolverSinglestepScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(FLOW_PREDICTIONS),
    ...thresholdingFields,
    ...sigmaFlagFields,
    ...finalSigmasField,
    ...multistepFields,
    lower_order_final: z.boolean().default(false),
    algorithm_type: z.enum(['dpmsolver', 'dpmsolver++', 'sde-dpmsolver++']).default('dpmsolver++'),
    solver_type: z.enum(['midpoint', 'heun']).default('midpoint'),
    lambda_min_clipped: extendedNumber.default(-Infinity),
    variance_type: z.enum(['learned', 'learned_range']).nullable().default(null),
  }),
  UniPCMultistepScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(FLOW_PREDICTIONS),
    ...spacingFields('linspace'),
    ...zeroSnrField,
    ...thresholdingFields,
    ...sigmaFlagFields,
    ...sigmaRangeFields,
    ...finalSigmasField,
    ...multistepFields,
    /** Solve for x₀ (data prediction, UniPC's recommended form) instead of ε. */
    predict_x0: z.boolean().default(true),
    solver_type: z.enum(['bh1', 'bh2']).default('bh2'),
    /** Step indices at which the UniC corrector is skipped. */
    disable_corrector: z.array(z.number().int().min(0)).default([]),
    /** A predictor scheduler object in diffusers; only `null` can be stored in a file. */
    solver_p: z.null().default(null),
    /** Stretch the schedule so it ends at this t (flow models), or null. */
    shift_terminal: z.number().positive().nullable().default(null),
  }),
  DEISMultistepScheduler: z.object({
    ...trainingFields(0.0001, 0.02),
    ...predictionField(FLOW_PREDICTIONS),
    ...spacingFields('linspace'),
    ...thresholdingFields,
    ...sigmaFlagFields,
    ...multistepFields,
    algorithm_type: z.enum(['deis']).default('deis'),
    solver_type: z.enum(['logrho']).default('logrho'),
  }),
  /** Consistency models (Song et al. 2023): Karras σ levels, boundary-condition scalings applied to the raw output. */
  CMStochasticIterativeScheduler: z.object({
    /** N: how many Karras σ levels the model was trained on. */
    num_train_timesteps: z.number().int().min(2).max(1_000_000).default(40),
    /** ε of the paper: the σ where f(x, σ) = x; also the σ the last step lands on. */
    sigma_min: z.number().positive().default(0.002),
    sigma_max: z.number().positive().default(80.0),
    /** Standard deviation of the data, for c_skip / c_out / c_in (EDM). */
    sigma_data: z.number().positive().default(0.5),
    /** Scale of the noise re-injected between steps of multistep sampling. */
    s_noise: z.number().min(0).default(1.0),
    /** Karras ρ of the σ spacing. */
    rho: z.number().positive().default(7.0),
    /** Clamp each step's denoised sample to [−1, 1]. */
    clip_denoised: z.boolean().default(true),
  }),
  /** Latent consistency models (Luo et al. 2023): a DDPM-schedule network with LCM's boundary condition and timestep grid. */
  LCMScheduler: z.object({
    ...trainingFields(0.00085, 0.012),
    beta_schedule: z.enum(BETA_SCHEDULES).default('scaled_linear'),
    /** Steps of the skipping-step grid the model was distilled on; inference takes N ≤ this of them. */
    original_inference_steps: z.number().int().min(1).max(1_000_000).default(50),
    ...x0LimitFields(false),
    /** ᾱ after the last step, kept for diffusers' layout (LCM's grid never steps below timestep 0). */
    set_alpha_to_one: z.boolean().default(true),
    ...spacingFields('leading'),
    ...predictionField(PREDICTIONS),
    /** s in c_skip = σ_d² / ((s·t)² + σ_d²), c_out = s·t / √((s·t)² + σ_d²). */
    timestep_scaling: z.number().positive().default(10.0),
    ...zeroSnrField,
  }),
};

type ClassSchemas = typeof CLASS_SCHEMAS;
export type SchedulerClassName = keyof ClassSchemas;
export const SCHEDULER_CLASS_NAMES = Object.keys(CLASS_SCHEMAS) as SchedulerClassName[];

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;
type Camelized<T> = { [K in keyof T as K extends string ? CamelCase<K> : never]: T[K] };

/** What every parsed config carries besides its class's own keys. */
export interface ConfigProvenance {
  /** The `_diffusers_version` the file was written with (ours for new configs). */
  diffusersVersion: string;
  /** Keys the class does not use, kept verbatim (snake_case) so a rewrite loses nothing. */
  extra: Record<string, JsonValue>;
}

/** The typed camelCase config of one scheduler class, e.g. `SchedulerConfigOf<'DDIMScheduler'>`. */
export type SchedulerConfigOf<C extends SchedulerClassName> = { className: C } & Camelized<
  z.output<ClassSchemas[C]>
> &
  ConfigProvenance;

/** Any supported scheduler config; `className` tells them apart. */
export type SchedulerConfig = { [C in SchedulerClassName]: SchedulerConfigOf<C> }[SchedulerClassName];

/** The overridable fields of a class (everything but `className`), camelCase. */
export type SchedulerConfigFields<C extends SchedulerClassName> = Partial<
  Omit<SchedulerConfigOf<C>, 'className'>
>;

export type DDPMSchedulerConfig = SchedulerConfigOf<'DDPMScheduler'>;
export type DDIMSchedulerConfig = SchedulerConfigOf<'DDIMScheduler'>;
export type PNDMSchedulerConfig = SchedulerConfigOf<'PNDMScheduler'>;
export type EulerDiscreteSchedulerConfig = SchedulerConfigOf<'EulerDiscreteScheduler'>;
export type EulerAncestralDiscreteSchedulerConfig = SchedulerConfigOf<'EulerAncestralDiscreteScheduler'>;
export type HeunDiscreteSchedulerConfig = SchedulerConfigOf<'HeunDiscreteScheduler'>;
export type LMSDiscreteSchedulerConfig = SchedulerConfigOf<'LMSDiscreteScheduler'>;
export type KDPM2DiscreteSchedulerConfig = SchedulerConfigOf<'KDPM2DiscreteScheduler'>;
export type KDPM2AncestralDiscreteSchedulerConfig = SchedulerConfigOf<'KDPM2AncestralDiscreteScheduler'>;
export type DPMSolverMultistepSchedulerConfig = SchedulerConfigOf<'DPMSolverMultistepScheduler'>;
export type DPMSolverSinglestepSchedulerConfig = SchedulerConfigOf<'DPMSolverSinglestepScheduler'>;
export type UniPCMultistepSchedulerConfig = SchedulerConfigOf<'UniPCMultistepScheduler'>;
export type DEISMultistepSchedulerConfig = SchedulerConfigOf<'DEISMultistepScheduler'>;
export type CMStochasticIterativeSchedulerConfig = SchedulerConfigOf<'CMStochasticIterativeScheduler'>;
export type LCMSchedulerConfig = SchedulerConfigOf<'LCMScheduler'>;

/** A diffusers key in this project's spelling: `num_train_timesteps` → `numTrainTimesteps`, `predict_x0` → `predictX0`. */
export function camelCaseKey(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function isClassName(name: unknown): name is SchedulerClassName {
  return typeof name === 'string' && Object.hasOwn(CLASS_SCHEMAS, name);
}

function classKeys(className: SchedulerClassName): string[] {
  return Object.keys(CLASS_SCHEMAS[className].shape);
}

/** Whether one key of a class's config accepts `value` on its own. */
function accepts(className: SchedulerClassName, key: string, value: unknown): boolean {
  const shape = CLASS_SCHEMAS[className].shape as Record<
    string,
    { safeParse(v: unknown): { success: boolean } }
  >;
  return shape[key].safeParse(value).success;
}

function unknownClass(given: unknown, source: string): ConfigError {
  const what =
    given === undefined ? 'has no _class_name' : `names unknown scheduler class '${String(given)}'`;
  return new ConfigError(`${source} ${what}`, {
    hint: `valid scheduler classes: ${SCHEDULER_CLASS_NAMES.join(', ')}`,
  });
}

/**
 * Validates snake_case values of `className` (missing keys take diffusers' defaults) and returns the
 * typed config. `source` names the origin in errors ("scheduler config 'x/scheduler_config.json'").
 */
function validated<C extends SchedulerClassName>(
  className: C,
  values: Record<string, unknown>,
  provenance: ConfigProvenance,
  source: string,
): SchedulerConfigOf<C> {
  const result = CLASS_SCHEMAS[className].safeParse(values);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = issue.path.map(String).join('.');
      return `'${key}' (${camelCaseKey(key)}): ${issue.message}`;
    });
    throw new ConfigError(`${source}: invalid ${className} config: ${problems.join('; ')}`, {
      hint: "fix the value, or remove the key to use diffusers' default",
    });
  }
  const raw = result.data as Record<string, unknown>;
  const problems = crossFieldProblems(raw);
  if (problems.length > 0) {
    throw new ConfigError(`${source}: invalid ${className} config: ${problems.join('; ')}`);
  }
  const config: Record<string, unknown> = { className };
  for (const key of classKeys(className)) config[camelCaseKey(key)] = raw[key];
  return { ...config, ...provenance } as SchedulerConfigOf<C>;
}

/** Combinations diffusers refuses (or that would fail later at sampling time), as readable reasons. */
function crossFieldProblems(raw: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const T = raw.num_train_timesteps as number;
  if (
    typeof raw.sigma_min === 'number' &&
    typeof raw.sigma_max === 'number' &&
    raw.sigma_min >= raw.sigma_max
  ) {
    problems.push(`sigma_min (${raw.sigma_min}) must be smaller than sigma_max (${raw.sigma_max})`);
  }
  const spacings = ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'].filter(
    (k) => raw[k] === true,
  );
  if (spacings.length > 1) problems.push(`only one of ${spacings.join(', ')} can be true`);
  if (Array.isArray(raw.trained_betas) && raw.trained_betas.length !== T) {
    problems.push(`trained_betas has ${raw.trained_betas.length} values but num_train_timesteps is ${T}`);
  }
  if (typeof raw.original_inference_steps === 'number' && raw.original_inference_steps > T) {
    problems.push(
      `original_inference_steps (${raw.original_inference_steps}) cannot exceed num_train_timesteps (${T})`,
    );
  }
  if (typeof raw.steps_offset === 'number' && raw.steps_offset >= T) {
    problems.push(`steps_offset (${raw.steps_offset}) must be smaller than num_train_timesteps (${T})`);
  }
  const algorithm = raw.algorithm_type;
  if ((algorithm === 'dpmsolver' || algorithm === 'sde-dpmsolver') && raw.final_sigmas_type === 'zero') {
    problems.push(
      `final_sigmas_type 'zero' is not supported with algorithm_type '${algorithm}'; use 'sigma_min'`,
    );
  }
  return problems;
}

const NO_PROVENANCE = (): ConfigProvenance => ({ diffusersVersion: DIFFUSERS_VERSION, extra: {} });

/**
 * A config of `className` with diffusers' defaults and the given camelCase fields, validated.
 * Unknown field names are an error (a typo must not silently fall back to a default).
 */
export function schedulerConfig<C extends SchedulerClassName>(
  className: C,
  fields: SchedulerConfigFields<C> = {},
): SchedulerConfigOf<C> {
  if (!isClassName(className)) throw unknownClass(className, 'scheduler config');
  const byCamel = new Map(classKeys(className).map((key) => [camelCaseKey(key), key]));
  const values: Record<string, unknown> = {};
  const provenance = NO_PROVENANCE();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (name === 'diffusersVersion') provenance.diffusersVersion = String(value);
    else if (name === 'extra') provenance.extra = { ...(value as Record<string, JsonValue>) };
    else if (byCamel.has(name)) values[byCamel.get(name)!] = value;
    else {
      throw new ConfigError(`${className} has no setting '${name}'`, {
        hint: `valid settings: ${[...byCamel.keys()].join(', ')}`,
      });
    }
  }
  return validated(className, values, provenance, 'scheduler config');
}

/** A copy of `config` with some fields replaced (validated again). */
export function withSchedulerFields<C extends SchedulerClassName>(
  config: SchedulerConfigOf<C>,
  fields: SchedulerConfigFields<C>,
): SchedulerConfigOf<C> {
  const { className, ...current } = config;
  return schedulerConfig(className as C, { ...current, ...fields } as SchedulerConfigFields<C>);
}

/**
 * Parses the contents of a `scheduler_config.json` (text, or the already-parsed JSON value). Accepts
 * the `NaN`/`Infinity`/`-Infinity` literals diffusers writes.
 */
export function parseSchedulerConfig(
  input: string | JsonValue,
  source = 'scheduler config',
): SchedulerConfig {
  const value = typeof input === 'string' ? parseJson(input, source) : input;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FormatError(
      `${source} must be a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  const className = value._class_name;
  if (!isClassName(className)) throw unknownClass(className, source);
  const known = new Set(classKeys(className));
  const values: Record<string, unknown> = {};
  const provenance: ConfigProvenance = {
    diffusersVersion:
      typeof value._diffusers_version === 'string' ? value._diffusers_version : DIFFUSERS_VERSION,
    extra: {},
  };
  for (const [key, item] of Object.entries(value)) {
    if (key === '_class_name' || key === '_diffusers_version') continue;
    if (known.has(key)) values[key] = item;
    else provenance.extra[key] = item;
  }
  return validated(className, values, provenance, source) as SchedulerConfig;
}

/** The config as diffusers' JSON object: `_class_name`, `_diffusers_version`, snake_case keys, extras. */
export function schedulerConfigJson(config: SchedulerConfig): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = { ...config.extra };
  out._class_name = config.className;
  out._diffusers_version = config.diffusersVersion;
  const fields = config as unknown as Record<string, JsonValue>;
  for (const key of classKeys(config.className)) out[key] = fields[camelCaseKey(key)];
  return out;
}

/** The file text diffusers' `save_config` would write: sorted keys, 2-space indent, trailing newline. */
export function formatSchedulerConfig(config: SchedulerConfig): string {
  return `${stringifyJson(schedulerConfigJson(config), { indent: 2, sortKeys: true })}\n`;
}

/**
 * The config of another class built from this one, as diffusers' `Target.from_config(source.config)`:
 * the keys both classes know carry over (training schedule, prediction type, spacing, …), the rest take
 * the target's defaults. Keys the target does not know are dropped, and so are values of shared keys the
 * target does not accept (DDPM's `variance_type: 'fixed_small'` means nothing to DPMSolver, whose
 * `variance_type` is only `learned`/`learned_range`/null): diffusers' `from_config` passes them on but the
 * target ignores them, which here is its default.
 */
export function convertSchedulerConfig<C extends SchedulerClassName>(
  config: SchedulerConfig,
  className: C,
): SchedulerConfigOf<C> {
  if (!isClassName(className)) throw unknownClass(className, 'scheduler config');
  if (config.className === className) return config as unknown as SchedulerConfigOf<C>;
  const json = schedulerConfigJson(config);
  const values: Record<string, unknown> = {};
  for (const key of classKeys(className))
    if (key in json && accepts(className, key, json[key])) values[key] = json[key];
  const provenance = { diffusersVersion: config.diffusersVersion, extra: {} };
  return validated(className, values, provenance, `${config.className} config converted to ${className}`);
}

/** Narrows a config to one class, or a ConfigError saying which class was expected. */
export function expectSchedulerClass<C extends SchedulerClassName>(
  config: SchedulerConfig,
  className: C,
): SchedulerConfigOf<C> {
  if (config.className !== className) {
    throw new ConfigError(`expected a ${className} config, got ${config.className}`, {
      hint: `convert it with convertSchedulerConfig(config, '${className}')`,
    });
  }
  return config as unknown as SchedulerConfigOf<C>;
}
