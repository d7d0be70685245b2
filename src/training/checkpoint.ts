/**
 * Checkpoint I/O of the training state: the raw parameters, the EMA parameters, AdamW's moment trees
 * (safetensors, float32, bit-exact) and a `state.json` with the step, the noise generator's state, the
 * batch iterator's state and the run's config, all in `<run>/training_state/`, written as one folder
 * atomically (a crash mid-write leaves the previous checkpoint intact). Restoring these and continuing
 * gives bit-identical parameters to a run that was never interrupted.
 *
 * This module must not write the pipeline folder (model weights for sampling) nor know the train step.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchIteratorState } from '../data/dataset.js';
import { readJsonFile, writeJsonFile } from '../io/json.js';
import { getFloatTensor, readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.js';
import type { Params } from '../models/types.js';
import { ConfigError, NotFoundError } from '../util/errors.js';
import { writeDirAtomic } from '../util/fs.js';
import type { RandomState } from '../util/random.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
import type { TrainState } from './step.js';

export const TRAINING_STATE_DIR = 'training_state';

export interface Checkpoint {
  /** Completed optimizer updates. */
  step: number;
  state: TrainState;
  random: RandomState;
  iterator: BatchIteratorState;
  config: TrainConfig;
}

const FILES = { params: 'params.safetensors', ema: 'ema.safetensors', opt: 'optimizer.safetensors' };

function tensorsOf(
  params: Params,
  prefix = '',
): Record<string, { shape: readonly number[]; data: Float32Array }> {
  const out: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(params))
    out[prefix + name] = { shape: t.shape, data: t.data as Float32Array };
  return out;
}

/** Writes `<runDir>/training_state/` atomically. */
export function saveTrainingState(runDir: string, checkpoint: Checkpoint): void {
  writeDirAtomic(join(runDir, TRAINING_STATE_DIR), (dir) => {
    const { params, ema, opt } = checkpoint.state;
    writeSafetensorsFile(join(dir, FILES.params), tensorsOf(params));
    if (ema) writeSafetensorsFile(join(dir, FILES.ema), tensorsOf(ema));
    writeSafetensorsFile(join(dir, FILES.opt), { ...tensorsOf(opt.m, 'm.'), ...tensorsOf(opt.v, 'v.') });
    writeJsonFile(
      join(dir, 'state.json'),
      {
        step: checkpoint.step,
        random: checkpoint.random,
        iterator: checkpoint.iterator,
        config: checkpoint.config,
      },
      { indent: 2 },
    );
  });
}

/** Whether `runDir` holds a training state to resume from. */
export function hasTrainingState(runDir: string): boolean {
  return existsSync(join(runDir, TRAINING_STATE_DIR, 'state.json'));
}

function readParams(path: string, names: readonly string[], prefix = ''): Params {
  const file = readSafetensorsFile(path);
  const out: Params = {};
  for (const name of names) {
    const { shape, data } = getFloatTensor(file, prefix + name);
    out[name] = { shape, data, dtype: 'float32' };
  }
  return out;
}

/** Reads `<runDir>/training_state/` for parameters named `names` (the network's parameter names). */
export function loadTrainingState(runDir: string, names: readonly string[]): Checkpoint {
  const dir = join(runDir, TRAINING_STATE_DIR);
  if (!hasTrainingState(runDir)) {
    throw new NotFoundError(`no training state in '${runDir}'`, {
      hint: `a resumable run folder holds ${TRAINING_STATE_DIR}/state.json; start a new run without --resume`,
    });
  }
  const json = readJsonFile(join(dir, 'state.json'), 'training state') as Record<string, unknown>;
  if (!Number.isInteger(json.step) || typeof json.random !== 'object' || typeof json.iterator !== 'object') {
    throw new ConfigError(`training state '${join(dir, 'state.json')}' lacks step, random or iterator`);
  }
  const config = parseTrainConfig(json.config, `config in '${join(dir, 'state.json')}'`);
  const opt = {
    m: readParams(join(dir, FILES.opt), names, 'm.'),
    v: readParams(join(dir, FILES.opt), names, 'v.'),
  };
  const emaPath = join(dir, FILES.ema);
  return {
    step: json.step as number,
    state: {
      params: readParams(join(dir, FILES.params), names),
      ema: existsSync(emaPath) ? readParams(emaPath, names) : null,
      opt,
    },
    random: json.random as RandomState,
    iterator: json.iterator as BatchIteratorState,
    config,
  };
}
