/**
 * The run folder of `diffusion train` outside the pipeline components: the training summary
 * (`training_summary.json`, read by `info`, `sample --class NAME` and the editing commands), the files a
 * weights save must carry along, and the guard against overwriting a finished or resumable run.
 *
 * This module must not train or sample; it reads and writes run-folder files.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Dataset } from '../../data/dataset.js';
import { readJsonFile, stringifyJson } from '../../io/json.js';
import { CONFIG_NAME, MODEL_INDEX } from '../../models/pipeline-folder.js';
import { TRAINING_STATE_DIR, hasTrainingState } from '../../training/checkpoint.js';
import type { TrainConfig } from '../../training/config.js';
import type { TrainResult } from '../../training/trainer.js';
import { UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';

export const SUMMARY_NAME = 'training_summary.json';

/** What `training_summary.json` records of a run (read by `info` and `sample --class NAME`). */
export interface RunSummary {
  data: string;
  classNames: string[] | null;
  step: number;
  totalSteps: number;
  seconds: number;
  finalLoss: number | null;
  interrupted: boolean;
  /** True when `--time-limit` ended the run before its step count. */
  timeLimited: boolean;
}

/** The run summary of a folder, or null when it has none. */
export function readRunSummary(dir: string): RunSummary | null {
  const path = join(dir, SUMMARY_NAME);
  return existsSync(path) ? (readJsonFile(path, 'training summary') as unknown as RunSummary) : null;
}

/**
 * Every file of the run folder outside the pipeline components, so that a weights save keeps them —
 * training_state/ included: a kill between this save and the trainer's next state write must still leave
 * a resumable folder. Temporary siblings left by an interrupted atomic write are not carried.
 */
export function runFiles(runDir: string): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  if (!existsSync(runDir)) return files;
  const skip = new Set(['unet', 'scheduler', 'vae', MODEL_INDEX]);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if ((dir === runDir && skip.has(name)) || /^\..*\.tmp-/.test(name)) continue;
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(runDir, path)] = readFileSync(path);
    }
  };
  walk(runDir);
  return files;
}

/** Refuses to overwrite a finished or resumable run unless resuming it. */
export function checkOutFolder(out: string, resume: boolean): void {
  if (resume) {
    if (!hasTrainingState(out))
      throw new UsageError(`--resume: '${out}' holds no ${TRAINING_STATE_DIR}/ to resume from`);
    return;
  }
  if (
    existsSync(join(out, MODEL_INDEX)) ||
    hasTrainingState(out) ||
    existsSync(join(out, 'unet', CONFIG_NAME))
  ) {
    throw new UsageError(`--out '${out}' already holds a run`, {
      hint: 'pass --resume to continue it, or choose another --out',
    });
  }
}

export function writeSummary(out: string, config: TrainConfig, dataset: Dataset, result: TrainResult): void {
  const summary: RunSummary = {
    data: config.data,
    classNames: dataset.classNames ? [...dataset.classNames] : null,
    step: result.step,
    totalSteps: config.steps,
    seconds: result.seconds,
    finalLoss: result.losses.at(-1) ?? null,
    interrupted: result.interrupted,
    timeLimited: result.timeLimited,
  };
  writeFileAtomic(join(out, SUMMARY_NAME), `${stringifyJson(summary, { indent: 2 })}\n`);
}
