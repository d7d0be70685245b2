/**
 * The one table of samplers. A sampler is found by the names users know: diffusers' class names
 * (`EulerDiscreteScheduler`), k-diffusion / web-UI names (`euler`, `euler_a`, `dpm_2_karras`) and a few
 * aliases, case-insensitively and with `-`, `_` or spaces alike. `sample(nameOrConfig, request)` runs one,
 * either by name (optionally starting from a model's own scheduler config) or from a parsed
 * `scheduler_config.json`. The registry only looks entries up and builds their config; the sampling
 * itself lives in the family files.
 */
import { NotFoundError } from '../../util/errors.js';
import {
  convertSchedulerConfig,
  schedulerConfig,
  withSchedulerFields,
  type SchedulerConfig,
  type SchedulerConfigFields,
  type SchedulerClassName,
} from '../scheduler-config.js';
import type { SamplerEntry, SamplerOptions } from './common.js';
import { CONSISTENCY_SAMPLERS } from './consistency.js';
import { DDIM_SAMPLERS } from './ddim.js';
import { DDPM_SAMPLERS } from './ddpm.js';
import { DEIS_SAMPLERS } from './deis.js';
import { DPM_SOLVER_SAMPLERS } from './dpm-solver.js';
import { EULER_SAMPLERS } from './euler.js';
import { HEUN_SAMPLERS } from './heun.js';
import { KDPM2_SAMPLERS } from './kdpm2.js';
import { LCM_SAMPLERS } from './lcm.js';
import { LMS_SAMPLERS } from './lms.js';
import { PNDM_SAMPLERS } from './pndm.js';
import { UNIPC_SAMPLERS } from './unipc.js';
import type { SampleRequest } from './types.js';

export type { SamplerEntry, SamplerOptions } from './common.js';

/**
 * Every sampler family contributes one exported array of entries. To add a family (DPM-Solver(++)
 * multistep / singlestep / SDE in dpm-solver.ts, UniPC in unipc.ts, DEIS in deis.ts), export e.g.
 * `DPM_SOLVER_SAMPLERS: SamplerEntry[]` from its file and add one spread line here; names, aliases,
 * class-name lookup and the parity test pick it up from this list.
 */
const ENTRIES: readonly SamplerEntry[] = [
  ...DDPM_SAMPLERS,
  ...DDIM_SAMPLERS,
  ...PNDM_SAMPLERS,
  ...EULER_SAMPLERS,
  ...HEUN_SAMPLERS,
  ...LMS_SAMPLERS,
  ...KDPM2_SAMPLERS,
  ...DPM_SOLVER_SAMPLERS,
  ...UNIPC_SAMPLERS,
  ...DEIS_SAMPLERS,
  ...CONSISTENCY_SAMPLERS,
  ...LCM_SAMPLERS,
];

/** Lower case, with `-` and spaces read as `_`: `DPM++ 2M`-style names, `euler-a` and `Euler_A` all meet. */
export function normalizeSamplerName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[-\s]+/g, '_');
}

function buildIndex(entries: readonly SamplerEntry[]): Map<string, SamplerEntry> {
  const index = new Map<string, SamplerEntry>();
  const add = (name: string, entry: SamplerEntry) => {
    const key = normalizeSamplerName(name);
    const existing = index.get(key);
    if (existing && existing !== entry)
      throw new Error(`sampler name '${name}' is used by ${existing.name} and ${entry.name}`);
    index.set(key, entry);
  };
  for (const entry of entries) {
    add(entry.name, entry);
    for (const alias of entry.aliases) add(alias, entry);
  }
  // A class name stands for the class's plain entry (the one that changes no config field).
  for (const entry of entries)
    if (!entry.configFields && !index.has(normalizeSamplerName(entry.className))) {
      add(entry.className, entry);
    }
  return index;
}

const INDEX = buildIndex(ENTRIES);

/** Every registered sampler, in table order. */
export function samplerEntries(): readonly SamplerEntry[] {
  return ENTRIES;
}

/** The canonical names, for listings and error messages. */
export function samplerNames(): string[] {
  return ENTRIES.map((entry) => entry.name);
}

/** The entry for a user-given name, or a NotFoundError listing the valid names. */
export function resolveSampler(name: string): SamplerEntry {
  const entry = INDEX.get(normalizeSamplerName(name));
  if (!entry) {
    throw new NotFoundError(`unknown sampler '${name}'`, {
      hint: `valid samplers: ${samplerNames().join(', ')} (or a diffusers class name: ${classNames().join(', ')})`,
    });
  }
  return entry;
}

/** The entry that runs configs of a diffusers class, or null when no family has registered it. */
export function samplerForClass(className: SchedulerClassName): SamplerEntry | null {
  return INDEX.get(normalizeSamplerName(className)) ?? null;
}

function classNames(): string[] {
  return [...new Set(ENTRIES.filter((e) => !e.configFields).map((e) => e.className))];
}

/**
 * The entry and the full scheduler config a run uses. From a name: the entry's class defaults, or `base`
 * (a model's own config) converted to that class, plus the fields the name implies (e.g. Karras σ).
 * From a config: the entry registered for its class, and the config as given.
 */
export function samplerSetup(
  nameOrConfig: string | SchedulerConfig,
  base?: SchedulerConfig,
): { entry: SamplerEntry; config: SchedulerConfig } {
  if (typeof nameOrConfig !== 'string') {
    const entry = samplerForClass(nameOrConfig.className);
    if (!entry) {
      throw new NotFoundError(`no sampler is registered for ${nameOrConfig.className}`, {
        hint: `registered classes: ${classNames().join(', ')}`,
      });
    }
    return { entry, config: nameOrConfig };
  }
  const entry = resolveSampler(nameOrConfig);
  const fields = (entry.configFields ?? {}) as SchedulerConfigFields<SchedulerClassName>;
  const start = base ? convertSchedulerConfig(base, entry.className) : schedulerConfig(entry.className);
  const config = entry.configFields ? withSchedulerFields(start, fields) : start;
  return { entry, config: config as SchedulerConfig };
}

/**
 * Runs a sampler: by name (`'euler_a'`, `'DDIMScheduler'`, `'dpm_2_karras'`), or from a parsed
 * scheduler config. `options.config` is the model's own config to start a named sampler from;
 * the other options are the sampler's run-time settings (eta, churn, LMS order, an explicit σ schedule).
 */
export function sample(
  nameOrConfig: string | SchedulerConfig,
  request: SampleRequest,
  options: SamplerOptions = {},
): Promise<Float32Array> {
  const { entry, config } = samplerSetup(nameOrConfig, options.config);
  return entry.run(request, config, options);
}
